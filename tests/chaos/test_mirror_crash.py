"""SIGKILL a mirror's first load at points and moments: resumed, nothing lost or duplicated."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.mirror_crash import crash_mirror_load

BOTH = ["sqlite", "postgresql"]
# request:1 is /version; the commits and flushes land mid-load (20 pages of 100; the
# first versions are bulk inserts, so no store_version ("snapshot") point is reached).
POINTS = ["request:4", "request:15", "commit:9", "flush:12"]


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("point", POINTS)
def test_kill_a_mirror_load_at_a_point(
    kind_engine: Any, tmp_path: Path, record_property: Any, point: str
) -> None:
    result = crash_mirror_load(kind_engine, tmp_path, kill_at=point)
    assert result.killed
    record_property("chaos", result.row)


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("seed", range(3))
def test_kill_a_mirror_load_at_a_random_moment(
    kind_engine: Any, tmp_path: Path, record_property: Any, seed: int
) -> None:
    # Imports and migrations take about 2.5 s; the load of 2,000 about 2 s more (since first
    # versions are hashed in the received form): spread the kills over the load itself.
    delay = round(2.8 + 0.6 * seed + random.Random(seed).uniform(0, 0.4), 2)
    result = crash_mirror_load(kind_engine, tmp_path, kill_after=delay)
    record_property("chaos", result.row)
