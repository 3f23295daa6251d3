"""Crash attacks: a sync in another process SIGKILLed at a chosen point or a random moment."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from models import SyncRun
from models import db as dbm
from models.db import session_scope
from sync.registry.client import CtgovClient
from tests.chaos import harness, killhook, procs
from tests.chaos.harness import ChaosRegistry, Scenario

DRIP = 0.02  # seconds between the ten pieces of every answer: fetching takes a while


@dataclass
class CrashResult:
    killed: bool
    seconds: float
    row: dict[str, Any]


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def crash_sync(
    engine: Engine,
    tmp: Path,
    *,
    stage: int,
    kill_at: str | None = None,
    kill_after: float | None = None,
    args: tuple[str, ...] = ("sync",),
) -> CrashResult:
    """Stage 1 (and 2) of the scenario with the sync of `stage` run by a CLI that is killed.

    Then: the database passes the integrity check, holds no version the registry did not
    serve, and a clean rerun converges to the state of a run that never crashed.
    """
    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        sc = Scenario(fake)
        sc.stage1(engine)
        if stage == 2:
            first = sc.sync(engine, client)
            assert first.outcome == "ok", first.errors
            sc.stage2(engine)
        env = procs.cli_env(fake, _url(engine), tmp, TW_KILL_AT=kill_at or "")
        if kill_after is not None:
            fake.add_fault("drip", times=10_000, delay=DRIP)
        start = time.monotonic()
        proc = procs.spawn(list(args), env)
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except Exception:  # noqa: BLE001  (still running: the moment has come)
                proc.send_signal(signal.SIGKILL)
        done = procs.finish(proc)
        seconds = harness.elapsed_since(start)
        fake.clear_faults()
        killed = done.code == -signal.SIGKILL
        assert killed or done.code == 0, (done.code, done.stderr[-3000:])
        assert not done.forbidden(), done.stderr[-3000:]
        verify_after_crash(engine, sc, client, stage)
    what = " ".join(args)
    return CrashResult(
        killed, seconds, _row(what, kill_at or f"after {kill_after}s", stage, engine, killed)
    )


def verify_after_crash(engine: Engine, sc: Scenario, client: CtgovClient, stage: int) -> None:
    """Sound, nothing half-written, and a clean rerun converges (then stage 2 on top)."""
    after1, after2, served, _ = harness.control()
    problems = harness.integrity_problems(engine)
    assert problems == [], problems
    half = {k: h for k, h in harness.stored_hashes(engine).items() if h not in served}
    assert not half, f"versions the registry never served: {half}"
    again = sc.sync(engine, client)
    assert again.outcome == "ok", again.errors
    expected = after1 if stage == 1 else after2
    assert harness.fingerprint(engine) == expected, "the rerun did not converge"
    if stage == 1:
        sc.stage2(engine)
        assert sc.sync(engine, client).outcome == "ok"
        assert harness.fingerprint(engine) == after2
    assert harness.integrity_problems(engine) == []
    with session_scope(engine) as s:
        stale = [r.id for r in s.exec(select(SyncRun).where(SyncRun.outcome == "running"))]
    assert not stale, f"runs still 'running' after the rerun: {stale}"


def crash_in_fork(engine: Engine, kill_at: str) -> CrashResult:
    """The same attack with the sync in a forked child: no interpreter start, for `make test`.

    The child makes its own engine and client (nothing open crosses the fork) and is killed by
    the kill switch of chaos.killhook at `kill_at`.
    """
    url = _url(engine)
    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        sc = Scenario(fake)
        sc.stage1(engine)
        assert sc.sync(engine, client).outcome == "ok"
        sc.stage2(engine)
        engine.dispose()  # no pooled connection is inherited by the child
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: sync, and be killed on the way
            code = 3
            try:
                killhook.install(kill_at)
                child = dbm.make_engine(url)
                with harness.make_client(fake) as own:
                    Scenario(fake).sync(child, own)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        seconds = harness.elapsed_since(start)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        assert killed or os.waitstatus_to_exitcode(status) == 0, status
        verify_after_crash(engine, sc, client, 2)
    return CrashResult(killed, seconds, _row("sync (forked child)", kill_at, 2, engine, killed))


def _row(what: str, kill: str, stage: int, engine: Engine, killed: bool) -> dict[str, Any]:
    return {
        "table": "crash",
        "what": what,
        "kill": kill,
        "stage": stage,
        "db": engine.dialect.name,
        "killed": "yes" if killed else "finished first",
        "integrity": "ok",
        "rerun": "converged",
        "versions lost": 0,
        "duplicates": 0,
    }


def crash_backfill(
    engine: Engine, tmp: Path, *, kill_at: str | None = None, kill_after: float | None = None
) -> CrashResult:
    """`trialwatch backfill --all` killed; then sound, and a rerun converges."""
    _before, after, served = harness.history_control()
    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        hs = harness.HistoryScenario(fake)
        hs.prepare(engine, client)
        env = procs.cli_env(fake, _url(engine), tmp, TW_KILL_AT=kill_at or "")
        if kill_after is not None:
            fake.add_fault("drip", times=10_000, delay=DRIP)
        start = time.monotonic()
        proc = procs.spawn(["backfill", "--all"], env)
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except Exception:  # noqa: BLE001  (still running: the moment has come)
                proc.send_signal(signal.SIGKILL)
        done = procs.finish(proc)
        seconds = harness.elapsed_since(start)
        fake.clear_faults()
        killed = done.code == -signal.SIGKILL
        assert killed or done.code == 0, (done.code, done.stderr[-3000:])
        assert not done.forbidden(), done.stderr[-3000:]
        problems = harness.integrity_problems(engine)
        assert problems == [], problems
        half = {k: h for k, h in harness.stored_hashes(engine).items() if h not in served}
        assert not half, f"versions the registry never served: {half}"
        again = hs.op(engine, client)
        assert again.outcome == "ok", again.errors
        assert harness.fingerprint(engine) == after, "the rerun did not converge"
        assert harness.integrity_problems(engine) == []
    label = kill_at or f"after {kill_after}s"
    return CrashResult(killed, seconds, _row("backfill --all", label, 1, engine, killed))


DAEMON_SCHEDULE = """
[schedule]
check_minutes = 0.01          # every 0.6 s
full_sync_cron = "0 0 1 1 *"  # not during the test
digest_cron = "0 0 1 1 *"
"""


def crash_daemon(engine: Engine, tmp: Path, *, kill_after: float) -> CrashResult:
    """`trialwatch daemon` SIGKILLed while it syncs; then sound, a rerun converges, and the
    next run leaves no run 'running'."""
    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        sc = Scenario(fake)
        sc.stage1(engine)
        assert sc.sync(engine, client).outcome == "ok"
        sc.stage2(engine)
        (tmp / "config.toml").write_text(procs.CONFIG + DAEMON_SCHEDULE, encoding="utf-8")
        env = procs.cli_env(fake, _url(engine), tmp)
        fake.add_fault("drip", times=10_000, delay=DRIP)
        start = time.monotonic()
        proc = procs.spawn(["daemon"], env)
        try:
            proc.wait(timeout=kill_after)
        except Exception:  # noqa: BLE001  (still running, as a daemon does)
            proc.send_signal(signal.SIGKILL)
        done = procs.finish(proc)
        seconds = harness.elapsed_since(start)
        fake.clear_faults()
        assert done.code == -signal.SIGKILL, (done.code, done.stderr[-3000:])
        assert not done.forbidden(), done.stderr[-3000:]
        verify_after_crash(engine, sc, client, 2)
    label = f"after {kill_after}s"
    return CrashResult(True, seconds, _row("daemon", label, 2, engine, True))


def stale_runs(engine: Engine) -> list[tuple[int | None, str]]:
    with session_scope(engine) as s:
        rows = s.exec(select(SyncRun).where(SyncRun.outcome == "running"))
        return [(r.id, r.kind) for r in rows]
