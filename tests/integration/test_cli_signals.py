"""Ctrl-C and SIGTERM during a long command: one line on stderr saying nothing was lost, the
shell's exit code (130, 143), and the run recorded as failed with its reason in words."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync.testing.factory import make_study, nct
from sync.testing.fakectgov import FakeRegistry
from tests.support.cli import tw

WAIT = 30.0


def _env(tmp_path: Path, fake: FakeRegistry) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    return {
        "TRIALWATCH_CONFIG": str(config),
        "TRIALWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'tw.db'}",
        "TRIALWATCH_API_URL": fake.base_url,
        "TRIALWATCH_HISTORY_URL": fake.history_url,
        "TRIALWATCH_API__REQUESTS_PER_SECOND": "1000",
    }


def _runs(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT kind, outcome, errors FROM syncrun ORDER BY id").fetchall()


@pytest.mark.parametrize(
    ("args", "kind", "sig", "code", "next_run", "stored"),
    [
        (["sync"], "sync", signal.SIGINT, 130, "the next sync fetches what was missed",
         "interrupted by Ctrl-C (SIGINT)"),
        (["sync"], "sync", signal.SIGTERM, 143, "the next sync fetches what was missed",
         "interrupted: stopped by SIGTERM"),
        (["backfill", "--all"], "backfill", signal.SIGTERM, 143,
         "the next backfill fetches what is still missing", "interrupted: stopped by SIGTERM"),
        (["watch", "run", "w"], "watch", signal.SIGINT, 130,
         "the next watch run finds what was missed", "interrupted by Ctrl-C (SIGINT)"),
    ],
)  # fmt: skip
def test_a_signal_during_a_run_is_one_line_its_exit_code_and_a_recorded_reason(
    tmp_path: Path, fake_ctgov: FakeRegistry, args: list[str], kind: str,
    sig: signal.Signals, code: int, next_run: str, stored: str,
) -> None:  # fmt: skip
    env = _env(tmp_path, fake_ctgov)
    ids = [nct(i) for i in range(1, 4)]
    for i in ids:
        fake_ctgov.put(make_study(i))
    assert tw("add", *ids, env=env).returncode == 0
    assert tw("watch", "add", "w", "--term", "CAR-NK", "--no-track", env=env).returncode == 0
    # The registry answers, but slowly: the command is mid-run when the signal comes.
    fake_ctgov.add_fault("slow", delay=4, times=1000)
    db = tmp_path / "tw.db"
    before = len(_runs(db))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from sync.cli.app import main; main()", *args],
        env={**os.environ, "COLUMNS": "80", **env}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT
        while not any(r[:2] == (kind, "running") for r in _runs(db)[before:]):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stderr
    assert stderr.splitlines() == [f"interrupted: the run is recorded as failed; {next_run}"]
    assert "Traceback" not in stdout
    (run,) = [r for r in _runs(db)[before:] if r[0] == kind]
    assert run[1] == "failed" and stored in run[2], run
