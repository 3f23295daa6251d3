"""Every benchmark runs: each module of bench/ in its quick mode (small sizes, figures printed,
nothing asserted on time, nothing written to bench/results), so a benchmark that breaks is a
failing test rather than a surprise on the next `make bench`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
# The runnable modules (`python -m …`) and whether they need PostgreSQL.
MODULES = {
    "bench": False,
    "bench.aact_live": True,
    "bench.cli": False,
    "bench.dbwait": True,
    "bench.digest_lines": False,
    "bench.event_rules": False,
    "bench.explain": True,
    "bench.export": False,
    "bench.mirror": False,  # PostgreSQL too when it answers, else SQLite alone
    "bench.outcomes": False,
    "bench.requests_count": False,
    "bench.web": False,
}


def _runnable() -> set[str]:
    found = {"bench"} if (BENCH / "__main__.py").exists() else set()
    main = re.compile(r'^if __name__ == "__main__":', re.M)
    for path in BENCH.glob("*.py"):
        if path.stem != "__main__" and main.search(path.read_text()):
            found.add(f"bench.{path.stem}")
    return found


def test_every_runnable_benchmark_is_run_here() -> None:
    assert _runnable() == set(MODULES)


def _results() -> dict[str, float]:
    results = BENCH / "results"
    return {str(p): p.stat().st_mtime for p in results.rglob("*")} if results.exists() else {}


@pytest.mark.bench
@pytest.mark.parametrize("module", sorted(MODULES))
def test_benchmark_runs_in_quick_mode(module: str, request: pytest.FixtureRequest) -> None:
    env = {**os.environ, "TRIALWATCH_BENCH_PG_DB": f"trialwatch_bench_{uuid.uuid4().hex[:8]}"}
    if MODULES[module]:
        request.getfixturevalue("pg_database")  # skipped without PostgreSQL, failed under CI
    before = _results()
    done = subprocess.run(
        [sys.executable, "-m", module, "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{module} exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{module} --quick printed no figures"
    assert _results() == before, "a quick run records nothing in bench/results"
