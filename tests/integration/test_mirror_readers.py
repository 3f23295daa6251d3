"""Other processes read while a mirror's first load runs: `list`, `watch members` and `status`
answer, with valid JSON and never "database is locked", and members only grow (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sync.testing.factory import registry_study
from sync.testing.fakectgov import FakeRegistry
from tests.support import PROJECT_ROOT

STUDIES = 1200
PAGE = 40
CONFIG = """
[[watches]]
name = "everything"
mirror = true
"""


def _env(fake: FakeRegistry, db_url: str, tmp: Path) -> dict[str, str]:
    config = tmp / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env.update(
        {
            "TRIALWATCH_CONFIG": str(config),
            "TRIALWATCH_DATABASE_URL": db_url,
            "TRIALWATCH_API_URL": fake.base_url,
            "TRIALWATCH_HISTORY_URL": fake.history_url,
            # 30 pages at 3 a second: a load of about ten seconds to read beside.
            "TRIALWATCH_API__REQUESTS_PER_SECOND": "3",
            "TRIALWATCH_API__MIRROR_PAGE_SIZE": str(PAGE),
            "COLUMNS": "200",
        }
    )
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sync", *args]


def test_reads_from_other_processes_while_a_mirror_loads(
    db_url: str, fake_ctgov: FakeRegistry, tmp_path: Path
) -> None:
    for i in range(1, STUDIES + 1):
        day = f"2026-{1 + i // 300:02d}-{1 + (i // 12) % 25:02d}"
        fake_ctgov.put(registry_study(i, day))
    env = _env(fake_ctgov, db_url, tmp_path)
    setup = subprocess.run(_cli("db", "upgrade"), env=env, cwd=PROJECT_ROOT,
                           capture_output=True, text=True, timeout=60)
    assert setup.returncode == 0, setup.stderr
    load = subprocess.Popen(_cli("sync", "--json"), env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    members: list[int] = []
    worst: dict[str, float] = {}
    during: dict[str, int] = {}
    reads = (("watch", "members", "everything", "--json"), ("list", "--json"),
             ("status", "--json"))
    try:
        while True:
            running = load.poll() is None
            for args in reads:
                t0 = time.monotonic()
                done = subprocess.run(_cli(*args), env=env, cwd=PROJECT_ROOT,
                                      capture_output=True, text=True, timeout=120)
                took = time.monotonic() - t0
                worst[args[0]] = max(worst.get(args[0], 0.0), took)
                assert done.returncode == 0, (args, done.stderr[-2000:])
                assert "database is locked" not in done.stderr + done.stdout
                doc: Any = json.loads(done.stdout)
                if args[0] == "watch":
                    members.append(len(doc))
                during[args[0]] = during.get(args[0], 0) + running
            if not running:
                break
    finally:
        if load.poll() is None:
            load.kill()
        out, err = load.communicate(timeout=120)
    assert load.returncode == 0, err[-2000:]
    assert json.loads(out)["watches"][0]["fetched"] == STUDIES
    # Every kind of read started while the load ran, and answered (how far the load had got
    # by then depends on the machine's speed: printed, not asserted).
    assert all(during.get(args[0], 0) >= 1 for args in reads), during
    assert members == sorted(members) and members[-1] == STUDIES, members
    print(f"members seen {members}; worst read latency during the load, {db_url.split(':')[0]}: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in worst.items()))


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
