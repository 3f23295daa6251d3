"""SIGKILL a sync at many points: the database stays sound and a rerun converges."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.crash import crash_backfill, crash_daemon, crash_in_fork, crash_sync, stale_runs

BOTH = ["sqlite", "postgresql"]
POINTS = [
    "request:1",
    "request:5",
    "request:8",
    "flush:2",
    "flush:7",
    "before_commit:4",
    "commit:3",
    "commit:8",
    "snapshot:1",
    "snapshot:3",
]


@pytest.mark.parametrize("kind_engine", ["sqlite"], indirect=True)
def test_kill_inside_a_version_transaction(kind_engine: Any, record_property: Any) -> None:
    result = crash_in_fork(kind_engine, "snapshot:2")
    assert result.killed
    record_property("chaos", result.row)


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("point", POINTS)
def test_kill_at_a_point(
    kind_engine: Any, tmp_path: Path, record_property: Any, point: str, stage: int
) -> None:
    result = crash_sync(kind_engine, tmp_path, stage=stage, kill_at=point)
    record_property("chaos", result.row)


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("seed", range(6))
def test_kill_at_a_random_moment(
    kind_engine: Any, tmp_path: Path, record_property: Any, seed: int
) -> None:
    # Python and the imports take about a second; the dripping fetches a few more.
    delay = round(0.9 + 0.6 * seed + random.Random(seed).uniform(0, 0.5), 2)
    result = crash_sync(kind_engine, tmp_path, stage=2, kill_after=delay)
    record_property("chaos", result.row)


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("point", ["request:2", "request:6", "flush:3", "commit:4", "commit:9"])
def test_kill_a_backfill_at_a_point(
    kind_engine: Any, tmp_path: Path, record_property: Any, point: str
) -> None:
    result = crash_backfill(kind_engine, tmp_path, kill_at=point)
    record_property("chaos", result.row)


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("seed", range(3))
def test_kill_a_backfill_at_a_random_moment(
    kind_engine: Any, tmp_path: Path, record_property: Any, seed: int
) -> None:
    delay = round(1.0 + 0.7 * seed + random.Random(seed).uniform(0, 0.5), 2)
    result = crash_backfill(kind_engine, tmp_path, kill_after=delay)
    record_property("chaos", result.row)


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", BOTH, indirect=True)
@pytest.mark.parametrize("seed", range(3))
def test_kill_the_daemon_at_a_random_moment(
    kind_engine: Any, tmp_path: Path, record_property: Any, seed: int
) -> None:
    delay = round(1.5 + 0.8 * seed + random.Random(seed).uniform(0, 0.5), 2)
    result = crash_daemon(kind_engine, tmp_path, kill_after=delay)
    record_property("chaos", result.row)


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", ["sqlite"], indirect=True)
def test_a_killed_backfill_does_not_stay_running(kind_engine: Any, tmp_path: Path) -> None:
    crash_backfill(kind_engine, tmp_path, kill_at="request:3")
    assert stale_runs(kind_engine) == []
