"""Several processes on one database: nothing locked reaches the user, nothing duplicated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chaos.concurrency import (
    backfill_during_sync,
    cli_while_syncing,
    daemon_with_cli,
    simultaneous_syncs,
    sync_meets_open_backfill,
)

BOTH = ["sqlite", "postgresql"]


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
def test_two_syncs_at_once(kind_engine: Any, tmp_path: Path, record_property: Any) -> None:
    record_property("chaos", simultaneous_syncs(kind_engine, tmp_path, n=2))


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
def test_three_syncs_at_once(kind_engine: Any, tmp_path: Path, record_property: Any) -> None:
    record_property("chaos", simultaneous_syncs(kind_engine, tmp_path, n=3))


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
def test_cli_while_a_sync_runs(kind_engine: Any, tmp_path: Path, record_property: Any) -> None:
    record_property("chaos", cli_while_syncing(kind_engine, tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("attempt", range(3))
def test_backfill_during_a_sync(
    kind_engine: Any, tmp_path: Path, record_property: Any, attempt: int
) -> None:
    record_property("chaos", backfill_during_sync(kind_engine, tmp_path))


# SQLite's writers queue for the whole transaction; PostgreSQL's race unless a row is locked.
@pytest.mark.parametrize("kind_engine", ["postgresql"], indirect=True)
def test_a_sync_waits_for_a_backfill_on_the_same_trial(
    kind_engine: Any, record_property: Any
) -> None:
    record_property("chaos", sync_meets_open_backfill(kind_engine))


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
def test_cli_while_the_daemon_runs(kind_engine: Any, tmp_path: Path, record_property: Any) -> None:
    record_property("chaos", daemon_with_cli(kind_engine, tmp_path))
