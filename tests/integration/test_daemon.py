"""The daemon in a subprocess, on a seconds-scale schedule, against the fake registry: it syncs
only when /version moves, delivers each digest once to a webhook and an SMTP server on loopback,
retries a failed delivery, stops cleanly on SIGTERM mid-sync, and refuses a second instance."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlmodel import col, select

from models import Change, Delivery, SyncRun
from models.db import session_scope
from sync.store import snapshots as store
from sync.testing.factory import make_study, nct, with_criteria, with_last_update, with_status
from tests.support.receivers import (
    HOOK_SECRET,
    SMTP_SECRET,
    Smtp,
    Webhook,
)

TRIALWATCH = Path(sys.executable).parent / "trialwatch"
WAIT = 30.0  # upper bound for any one event; the whole scenario takes seconds




def wait_until(what: str, predicate: Callable[[], Any], proc: DaemonProc | None = None,
               timeout: float = WAIT) -> Any:  # fmt: skip
    """Poll until predicate() is truthy; on timeout fail with the daemon's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.popen.poll() is not None:
            code = proc.popen.returncode
            pytest.fail(f"daemon exited ({code}) waiting for {what}:\n{proc.log()}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}" + (f":\n{proc.log()}" if proc else ""))


# --- the daemon process --------------------------------------------------------------------


@dataclass
class DaemonProc:
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log().splitlines() if text in line]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = WAIT) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            pytest.fail(f"daemon did not stop within {timeout}s after {sig}:\n{self.log()}")


@dataclass
class Env:
    tmp: Path
    vars: dict[str, str]
    procs: list[DaemonProc] = field(default_factory=list)

    def start(self, name: str = "daemon") -> DaemonProc:
        log_path = self.tmp / f"{name}-{len(self.procs)}.log"
        with log_path.open("wb") as fh:
            popen = subprocess.Popen(
                [str(TRIALWATCH), "daemon"], env=self.vars, stdout=fh, stderr=subprocess.STDOUT
            )
        proc = DaemonProc(popen, log_path)
        self.procs.append(proc)
        return proc

    def run_in_process(self, *args: str) -> Any:
        from typer.testing import CliRunner

        from sync.cli.app import app

        return CliRunner().invoke(app, list(args), env=self.vars, catch_exceptions=False)

    def run(self, *args: str, timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(TRIALWATCH), *args], env=self.vars, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip


CONFIG = """
trials = [{trials}]

[schedule]
check_minutes = 0.006         # every 0.36 s
full_sync_cron = "0 0 1 1 *"  # not during the test
digest_cron = "* * * * * *"   # every second (seconds field first)
timezone = "Europe/Paris"

[notify]
format = "md"
digest_since = "1d"
"""


@pytest.fixture
def daemon_env(db_url: str, engine, fake_ctgov, tmp_path: Path, webhook: Webhook,
               smtp: Smtp) -> Iterator[Env]:  # type: ignore[no-untyped-def]  # fmt: skip
    ids = [nct(1), nct(2)]
    for i in ids:
        fake_ctgov.put(make_study(i, last_update="2026-10-01"))
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(trials=", ".join(f'"{i}"' for i in ids)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env.update(
        TRIALWATCH_CONFIG=str(config),
        TRIALWATCH_DATABASE_URL=db_url,
        TRIALWATCH_API_URL=fake_ctgov.base_url,
        TRIALWATCH_HISTORY_URL=fake_ctgov.history_url,
        TRIALWATCH_API__REQUESTS_PER_SECOND="1000",
        TRIALWATCH_API__MAX_ATTEMPTS="3",
        TRIALWATCH_API__MAX_RETRY_SECONDS="10",
        TRIALWATCH_API__RETRY_WAIT_INITIAL="0.01",
        TRIALWATCH_API__RETRY_WAIT_MAX="0.05",
        TRIALWATCH_API__TIMEOUT_SECONDS="10",
        TRIALWATCH_NOTIFY_URLS=f"{webhook.url},{smtp.url}",
    )
    e = Env(tmp_path, env)
    yield e
    for proc in e.procs:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait()


def _versions(engine, nct_id: str) -> int:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        trial = store.get_trial(s, nct_id)
        return trial.latest_version if trial else 0


def _runs(engine) -> list[SyncRun]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return list(s.exec(select(SyncRun).order_by(col(SyncRun.id))))


def test_daemon_syncs_on_change_delivers_once_retries_and_stops_cleanly(
    daemon_env: Env, engine, fake_ctgov, webhook: Webhook, smtp: Smtp
) -> None:  # type: ignore[no-untyped-def]
    webhook.fail_first = 1
    d = daemon_env.start()

    # 1. The first check finds data never synced: one sync stores version 1 of both trials.
    wait_until("the first sync", lambda: _versions(engine, nct(1)) == 1
               and _versions(engine, nct(2)) == 1, d)  # fmt: skip
    wait_until("the first sync to finish", lambda: _runs(engine)[-1].outcome == "ok", d)

    # 2. While /version does not move, checks go on and nothing else is fetched.
    studies, runs = fake_ctgov.count("/api/v2/studies"), len(_runs(engine))
    version_calls = fake_ctgov.count("/api/v2/version")
    wait_until("three more freshness checks",
               lambda: fake_ctgov.count("/api/v2/version") >= version_calls + 3, d)  # fmt: skip
    assert fake_ctgov.count("/api/v2/studies") == studies
    assert len(_runs(engine)) == runs
    assert d.lines("registry data unchanged")

    # 3. A second instance against the same database refuses to start, with a clear message.
    second = daemon_env.run("daemon", timeout=WAIT)
    assert second.returncode == 2, second.stderr
    assert "already running" in second.stderr
    assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1

    # 4. The registry moves: the daemon syncs, finds the changes, and sends a digest.
    study = with_criteria(
        with_status(fake_ctgov.get(nct(1)), "SUSPENDED", why_stopped="Safety review."),
        "Inclusion Criteria:\n\n* Age 21 years or older\n\nExclusion Criteria:\n\n* Pregnancy\n",
    )
    fake_ctgov.put(with_last_update(study, "2026-11-21"))
    fake_ctgov.bump()
    wait_until("version 2 of the changed trial", lambda: _versions(engine, nct(1)) == 2, d)
    with session_scope(engine) as s:
        change_ids = sorted(c.id for c in s.exec(select(Change)))
    assert change_ids

    # The webhook answers 500 first: the next digest run sends the same digest again.
    wait_until("the webhook delivery", lambda: webhook.received, d)
    wait_until("the e-mail", lambda: smtp.messages, d)
    assert webhook.statuses[:2] == [500, 200]
    message = webhook.received[0]
    assert message["title"].startswith("trialwatch: ")
    assert nct(1) in message["message"] and "SUSPENDED" in message["message"]
    assert nct(1).encode() in smtp.messages[0]
    assert webhook.auth[0] is not None  # the secret went to the receiver, and only there
    wait_until("the retry in the log", lambda: d.lines("resent"), d)
    assert d.lines("FAILED")

    # 5. Nothing is sent twice: later digest runs find nothing new.
    digests = len(d.lines("digest:"))
    wait_until("two more digest runs", lambda: len(d.lines("digest:")) >= digests + 2, d)
    assert len(webhook.received) == 1 and webhook.statuses == [500, 200]
    assert len(smtp.messages) == 1
    with session_scope(engine) as s:
        deliveries = list(s.exec(select(Delivery).order_by(col(Delivery.id))))
    assert [(x.status, x.attempts) for x in deliveries] == [("sent", 2), ("sent", 1)]
    for x in deliveries:
        assert sorted(x.change_ids["changes"]) == change_ids
        assert HOOK_SECRET not in x.channel and SMTP_SECRET not in x.channel

    # 6. status shows the daemon's heartbeat and next runs; no secret anywhere.
    status = daemon_env.run_in_process("status")
    assert status.exit_code == 0, status.stderr
    assert "daemon: running" in status.stdout
    assert re.search(r"next runs: .*digest (Mon|Tue|Wed|Thu|Fri|Sat|Sun) 20\d\d-", status.stdout)
    assert "failed deliveries: none" in status.stdout
    info = orjson.loads(daemon_env.run_in_process("status", "--json").stdout)
    assert info["daemon"]["state"] == "running" and info["daemon"]["heartbeat_age_seconds"] >= 0
    assert set(info["next_runs"]) == {"check", "full_sync", "digest"}
    assert info["failed_deliveries"] == []
    for text in (d.log(), status.stdout, status.stderr):
        assert HOOK_SECRET not in text and SMTP_SECRET not in text

    # 7. SIGTERM in the middle of a sync: the run is recorded as failed, the process exits 0.
    fake_ctgov.add_fault("slow", delay=20, path="/api/v2/studies")
    fake_ctgov.put(with_last_update(with_status(fake_ctgov.get(nct(2)), "COMPLETED"), "2026-11-22"))
    before = fake_ctgov.count("/api/v2/studies")
    fake_ctgov.bump()
    wait_until("the sync to be busy on the slow request",
               lambda: fake_ctgov.count("/api/v2/studies") > before, d)  # fmt: skip
    assert d.stop(signal.SIGTERM) == 0
    assert d.lines("interrupted by SIGTERM") and d.lines("daemon stopped (SIGTERM)")
    runs_after = _runs(engine)
    assert all(r.outcome != "running" for r in runs_after)
    interrupted = runs_after[-1]
    assert interrupted.outcome == "failed" and interrupted.finished_at is not None
    assert any("interrupted" in e for e in interrupted.errors)
    assert _versions(engine, nct(2)) == 1
    with session_scope(engine) as s:
        assert store.get_meta(s, "daemon")["state"] == "stopped"

    # 8. The next daemon (the lock was released) finishes the work.
    fake_ctgov.clear_faults()
    d2 = daemon_env.start()
    wait_until("the next run to fetch the missed version", lambda: _versions(engine, nct(2)) == 2,
               d2)  # fmt: skip
    wait_until("a clean run", lambda: _runs(engine)[-1].outcome == "ok", d2)
    assert d2.stop(signal.SIGINT) == 0
    assert "Traceback" not in d.log() + d2.log()


def test_a_signal_during_a_digest_lets_it_finish_then_stops(
    daemon_env: Env, engine, fake_ctgov, webhook: Webhook
) -> None:  # type: ignore[no-untyped-def]
    """SIGINT while a digest is being sent: the digest completes and is recorded once, then the
    process exits 0. Interrupting it inside apprise's thread pools could leave a pool's worker
    waiting for ever, and the process hanging at exit after "daemon stopped"."""
    webhook.delay = 2.0
    d = daemon_env.start()
    wait_until("the first sync", lambda: _versions(engine, nct(1)) == 1, d)
    fake_ctgov.put(with_last_update(with_status(fake_ctgov.get(nct(1)), "SUSPENDED"), "2026-11-21"))
    fake_ctgov.bump()
    wait_until("version 2", lambda: _versions(engine, nct(1)) == 2, d)
    wait_until("a digest on its way", webhook.posting.is_set, d)
    assert d.stop(signal.SIGINT) == 0
    assert d.lines("daemon stopped (SIGINT)")
    assert webhook.statuses == [200] and len(webhook.received) == 1
    with session_scope(engine) as s:
        deliveries = list(s.exec(select(Delivery)))
    assert [(x.status, x.attempts) for x in deliveries] == [("sent", 1), ("sent", 1)]
    assert "Traceback" not in d.log()


def test_leader_lock_is_exclusive_until_released(engine) -> None:  # type: ignore[no-untyped-def]
    from sync.daemon.leader import AlreadyRunning, acquire_leader

    first = acquire_leader(engine, holder_hint="pid 1 on host-a")
    with pytest.raises(AlreadyRunning, match="already running against"):
        acquire_leader(engine)
    assert first.alive()
    first.release()
    acquire_leader(engine).release()


def test_a_lost_postgresql_lock_is_noticed(pg_database: str) -> None:
    import sqlalchemy as sa

    from sync.daemon.leader import acquire_leader

    engine = sa.create_engine(pg_database)
    try:
        lock = acquire_leader(engine)
        assert lock.alive()
        assert lock._conn is not None
        pid = lock._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.commit()
        assert lock.alive() is False  # the daemon's next heartbeat stops it (exit 1)
        lock.release()
        acquire_leader(engine).release()  # the lock went with its connection
    finally:
        engine.dispose()


def test_daemon_stops_when_its_lock_is_lost(engine) -> None:  # type: ignore[no-untyped-def]
    from sync.config import Settings
    from sync.daemon.service import Daemon

    class Lost:
        where = "advisory lock 42"

        def alive(self) -> bool:
            return False

    d = Daemon(Settings(), engine)
    d._lock = Lost()  # type: ignore[assignment]
    d.heartbeat()
    assert d._stopping == "lost the leader lock" and d._exit_code == 1
    with session_scope(engine) as s:
        assert store.get_meta(s, "daemon") is None  # no heartbeat from a daemon that lost it
