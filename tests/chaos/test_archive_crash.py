"""SIGKILL a mirror's first load from the archive during the download and during the ingest:
the rerun resumes both (by range, by entry), nothing lost or stored twice, its record true."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chaos.archive_crash import crash_archive_load

BOTH = ["sqlite", "postgresql"]
# Between and inside the archive's batches (20 of 100): commits and flushes past the run's
# own first few.
POINTS = ["commit:12", "commit:20", "flush:24"]
# Imports and migrations take about 2.5 s, the download about 3 s more: kills inside it.
MOMENTS = [3.2, 4.4]


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("point", POINTS)
def test_kill_an_archive_load_while_it_stores_entries(
    kind_engine: Any, tmp_path: Path, record_property: Any, point: str
) -> None:
    result = crash_archive_load(kind_engine, tmp_path, kill_at=point)
    assert result.killed
    assert result.row["phase"].startswith("ingest"), result.row
    record_property("chaos", result.row)


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("delay", MOMENTS)
def test_kill_an_archive_load_while_it_downloads(
    kind_engine: Any, tmp_path: Path, record_property: Any, delay: float
) -> None:
    result = crash_archive_load(kind_engine, tmp_path, kill_after=delay)
    record_property("chaos", result.row)
