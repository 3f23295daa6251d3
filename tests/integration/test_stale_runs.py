"""Runs left "running" are closed by the next run, of whatever kind, by process identity
(host, boot, pid and its start): a row whose process is alive, or cannot be seen from here, is
left alone (SQLite and PostgreSQL)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from models import SyncRun
from models.db import session_scope
from sync.core.states import RunKind, RunOutcome
from sync.core.util import aware
from sync.store import process, unrecorded, views
from sync.store.runs import ENDED, recorded_run
from tests.integration.test_run_records import Account, _nothing
from tests.support import PROJECT_ROOT


@pytest.fixture
def alive() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def ident(pid: int, **changes: Any) -> dict[str, Any]:
    stat = process._stat(pid)
    mine = {"host": socket.gethostname(), "boot": process.boot_id(), "pid": pid,
            "start": stat[1] if stat else 12345, "lock": None}  # fmt: skip
    return {**mine, **changes}


def running(engine: sa.Engine, kind: str, who: dict[str, Any] | None) -> int:
    with session_scope(engine) as s:
        row = SyncRun(kind=kind, outcome="running", details={"process": who} if who else None)
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id


def outcomes(engine: sa.Engine) -> dict[int, tuple[str, list[str]]]:
    with session_scope(engine) as s:
        rows = s.exec(select(SyncRun).order_by(col(SyncRun.id)))
        return {r.id or 0: (r.outcome, r.errors or []) for r in rows}


def next_run(engine: sa.Engine, kind: RunKind = RunKind.WATCH, lock: str | None = None) -> int:
    account = Account(outcome=RunOutcome.OK)
    with recorded_run(engine, account, kind=kind, trigger="cli", mode=None, close=_nothing,
                      lock=lock) as run_id:  # fmt: skip
        return run_id


def test_the_next_run_closes_the_rows_whose_process_has_ended(
    engine: sa.Engine, alive: subprocess.Popen[bytes]
) -> None:
    gone = running(engine, "watch", ident(dead_pid()))
    rebooted = running(engine, "backfill", ident(alive.pid, boot="an-earlier-boot"))
    reused = running(engine, "sync", ident(alive.pid, start=1))  # its pid, another process
    working = running(engine, "watch", ident(alive.pid))
    elsewhere = running(engine, "watch", ident(dead_pid(), host="another-machine"))
    me = running(engine, "watch", process.identity())
    mine = next_run(engine)  # a watch run that holds no lock
    got = outcomes(engine)
    for closed in (gone, rebooted, reused):
        assert got[closed] == ("failed", [ENDED]), (closed, got[closed])
    for left in (working, elsewhere, me):
        assert got[left] == ("running", []), (left, got[left])
    assert got[mine][0] == "ok"


def test_a_row_that_held_the_lock_the_next_run_holds_is_closed_wherever_it_ran(
    engine: sa.Engine,
) -> None:
    mirror_run = running(engine, "watch", ident(dead_pid(), host="another-machine", lock="sync"))
    search_run = running(engine, "watch", ident(dead_pid(), host="another-machine"))
    legacy_sync = running(engine, "sync", None)  # from before rows kept their process
    legacy_watch = running(engine, "watch", None)
    next_run(engine, RunKind.SYNC, lock="sync")
    got = outcomes(engine)
    assert got[mirror_run][0] == got[legacy_sync][0] == "failed"
    assert got[search_run][0] == got[legacy_watch][0] == "running"


KILLED_RUN = """
import os, signal, sys
import sqlalchemy as sa
from sync.core.states import RunKind
from sync.store.runs import recorded_run
from tests.integration.test_run_records import Account, _nothing

engine = sa.create_engine(sys.argv[1])
with recorded_run(engine, Account(), kind=RunKind.WATCH, trigger="cli", mode="watches",
                  close=_nothing, lock="sync"):
    print("started", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_watch_run_is_closed_by_the_next_run(engine: sa.Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_RUN), url],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert killed.returncode == -9 and "started" in killed.stdout, killed.stderr
    ((left, (outcome, _)),) = outcomes(engine).items()
    assert outcome == "running"
    # A watch run of plain searches (no lock) sees the process gone.
    next_run(engine)
    assert outcomes(engine)[left] == ("failed", [ENDED])


def test_a_reason_that_cannot_be_kept_beside_the_database_is_kept_in_the_state_folder(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    beside = unrecorded.folder(engine)
    if engine.dialect.name == "sqlite":
        beside.write_text("not a folder")  # as a full disk, nothing can be made there
    started = running(engine, "watch", ident(dead_pid()))
    with session_scope(engine) as s:
        row = s.get(SyncRun, started)
        assert row is not None
        at = row.started_at
    assert unrecorded.note(engine, started, aware(at), "database error: database or disk is full")
    next_run(engine)
    assert outcomes(engine)[started] == ("failed", ["database error: database or disk is full"])
    assert unrecorded.pending(engine) == {}


def test_a_run_whose_reason_waits_on_disk_reads_as_failed_before_the_next_run(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`status` (views.runs) tells a run that lost its database as failed, with its reason,
    while its row still says running; a reason noted for another start time is not its own."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    lost = running(engine, "sync", ident(dead_pid()))
    other = running(engine, "sync", ident(dead_pid()))
    with session_scope(engine) as s:
        row = s.get(SyncRun, lost)
        assert row is not None
        at = aware(row.started_at)
    reason = "database error: database or disk is full"
    assert unrecorded.note(engine, lost, at, reason)
    assert unrecorded.note(engine, other, at.replace(year=at.year - 1), reason)
    with session_scope(engine) as s:
        shown = {r.id: (r.outcome, r.errors) for r in views.runs(s)}
    assert shown[lost] == (RunOutcome.FAILED, [reason])
    assert shown[other] == (RunOutcome.RUNNING, [])
    assert outcomes(engine)[lost] == ("running", [])  # only a run writes the row
