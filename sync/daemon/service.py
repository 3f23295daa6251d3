"""The daemon: one scheduler (freshness checks, full syncs, digests) behind a single-leader lock."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from models import SyncRun
from models.db import database_now, session_scope
from sync.config import Settings
from sync.core.progress import ProgressLine
from sync.core.stops import Stopped
from sync.core.util import plural
from sync.daemon import liveness
from sync.daemon.leader import AlreadyRunning, LeaderLock, acquire_leader
from sync.daemon.schedule import (
    check_schedule,
    check_seconds,
    cron_trigger,
    heartbeat_seconds,
    timezone_of,
)
from sync.daemon.status import META_DAEMON, status_info
from sync.ingest import freshness
from sync.ingest import run as sync_engine
from sync.registry.client import ApiError, CtgovClient
from sync.report import notify
from sync.report.channels import mask_apprise_logs, parse_channels
from sync.store import snapshots as store
from sync.store.runs import database_lost
from sync.watches import seed

__all__ = [
    "AlreadyRunning",
    "Daemon",
    "LeaderLock",
    "acquire_leader",
    "check_schedule",
    "cron_trigger",
    "status_info",
]

log = logging.getLogger("trialwatch.daemon")

META_LAST_FULL = "daemon.last_full_sync"
META_LAST_DIGEST = "daemon.last_digest"
# A late job still runs within this grace (a long full sync delaying the digest, a suspend).
MISFIRE_GRACE_SECONDS = 6 * 3600


class DaemonStop(Stopped):
    """Raised in the main thread by SIGTERM/SIGINT to interrupt the running job.

    A BaseException, so that the libraries' `except Exception` handlers let it through.
    """

    def reason(self) -> str:
        return f"the daemon was stopped ({self.signal_name})"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Job:
    id: str
    name: str
    func: Callable[[], None]
    # A signal interrupts the job where it stands (a sync: each page is its own transaction).
    # Not a digest: a message being sent must be recorded as sent, or the next digest sends it
    # again; and a stop raised inside apprise's thread pools can leave one of their workers
    # waiting for ever, so that the process hangs at exit. A digest is bounded by its
    # channels' timeouts; the stop waits for it.
    interruptible: bool = True


class Daemon:
    """The scheduler and its jobs. Jobs run one at a time, in the main thread, so that a signal
    interrupts a sync where it stands (each page is its own transaction) and the run is
    recorded as failed; the next run asks again for everything it may have missed."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        client_factory: Callable[[], CtgovClient] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.tz = timezone_of(settings)
        self.triggers = self._triggers()
        self._client_factory = client_factory or (
            lambda: CtgovClient(settings.api_url, settings.history_url, settings.api)
        )
        self._client: CtgovClient | None = None
        self._chans, self.masker = parse_channels(settings.notify.urls)
        self._scheduler: Any = None
        self._stopping: str | None = None
        self._interruptible = False
        self._shutdown_lock = threading.Lock()
        self._shut = False
        self._stopper: threading.Thread | None = None
        self._started: str | None = None  # by the database's clock, at the first heartbeat
        self._last: dict[str, Any] = {}
        self._lock: LeaderLock | None = None
        self._exit_code = 0
        self._job_failed = False
        # The running sync's progress line in the log, one a progress_seconds (see _sync).
        self._progress_line: ProgressLine | None = None

    # --- setup ---------------------------------------------------------------------------

    def _triggers(self) -> dict[str, Any]:
        from apscheduler.triggers.interval import IntervalTrigger

        s = self.settings.schedule
        return {
            "check": IntervalTrigger(seconds=check_seconds(self.settings), timezone=self.tz),
            "full_sync": cron_trigger(s.full_sync_cron, self.tz, "full_sync_cron"),
            "digest": cron_trigger(s.digest_cron, self.tz, "digest_cron"),
            "heartbeat": IntervalTrigger(seconds=heartbeat_seconds(self.settings),
                                         timezone=self.tz),  # fmt: skip
        }

    @property
    def client(self) -> CtgovClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _scheduler_of(self) -> Any:
        from apscheduler.executors.debug import DebugExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        # DebugExecutor runs each job in the scheduler's (main) thread: jobs never overlap,
        # and SIGTERM interrupts the one running. The job store is in memory and private to
        # this process; the durable state is in our tables.
        sched = BlockingScheduler(
            timezone=self.tz,
            executors={"default": DebugExecutor()},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": MISFIRE_GRACE_SECONDS,
            },
        )
        now = datetime.now(self.tz)
        missed = self._missed()
        for job in self._jobs():
            kwargs: dict[str, Any] = {}
            if job.id == "check" or job.id in missed:
                kwargs["next_run_time"] = now  # check at once, and catch up a missed cron run
            sched.add_job(self._wrap(job), self.triggers[job.id], id=job.id, name=job.name,
                          **kwargs)  # fmt: skip
        return sched

    def _jobs(self) -> list[_Job]:
        return [
            _Job("check", "freshness check", self.check),
            _Job("full_sync", "full sync", self.full_sync),
            _Job("digest", "digest", self.digest, interruptible=False),
            _Job("heartbeat", "heartbeat", self.heartbeat),
        ]

    def _missed(self) -> set[str]:
        """Cron jobs whose last run (in our tables) is older than their last scheduled time."""
        missed = set()
        now = datetime.now(self.tz)
        with session_scope(self.engine) as session:
            for job_id, key in (("full_sync", META_LAST_FULL), ("digest", META_LAST_DIGEST)):
                last = store.get_meta(session, key)
                if not last:
                    continue
                due = self.triggers[job_id].get_next_fire_time(None, datetime.fromisoformat(last))
                if due is not None and due < now:
                    missed.add(job_id)
        return missed

    # --- signals and stopping ------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stopping:
            return
        self._stopping = signal.Signals(signum).name
        if self._interruptible:
            self._interruptible = False
            raise DaemonStop(self._stopping)
        self._request_shutdown()

    def _request_shutdown(self) -> None:
        """Stop the scheduler from another thread: never from a signal handler (it may have
        interrupted the scheduler holding a lock) nor from a job (the scheduler still updates
        the job store after the job returns). The scheduler's own lock orders the two."""
        with self._shutdown_lock:
            if self._shut or self._scheduler is None:
                return
            self._shut = True
        self._stopper = threading.Thread(target=self._shutdown, daemon=True)
        self._stopper.start()

    def _shutdown(self) -> None:
        try:
            self._scheduler.shutdown(wait=False)
        except Exception:  # noqa: BLE001  (already stopped)
            pass

    def _wrap(self, job: _Job) -> Callable[[], None]:
        def run() -> None:
            self._interruptible = job.interruptible
            if self._stopping:
                self._interruptible = False
                self._request_shutdown()
                return
            try:
                try:
                    job.func()
                finally:
                    self._interruptible = False
            except DaemonStop:
                log.info(f"{job.name} interrupted by {self._stopping}")
            except Exception as exc:  # noqa: BLE001  (a failing job must not stop the daemon)
                self._job_failed = True
                said = database_lost(exc) or f"{type(exc).__name__}: {exc}"
                log.error(self.masker(f"{job.name} failed: {said}"))
            if self._stopping:
                self._request_shutdown()
            elif job.id != "heartbeat":
                self._safe_heartbeat()

        return run

    # --- jobs ----------------------------------------------------------------------------

    def _watch_hook(self) -> Callable[[sync_engine.SyncSummary], None]:
        from sync.watches import runner as discover

        return discover.sync_hook(self.engine, self.settings, self.client)

    def _progress(self, done: int, total: int, _label: str) -> None:
        if self._stopping:
            # The signal's own DaemonStop was lost (it landed inside a weakref or GC callback,
            # where Python swallows exceptions): stop here, between two batches.
            raise DaemonStop(self._stopping)
        # A long sync keeps the heartbeat fresh (jobs run one at a time).
        self._safe_heartbeat()
        if self._progress_line is not None:
            self._progress_line(done, total)

    def _sync(self, *, full: bool, reason: str) -> sync_engine.SyncSummary | None:
        """One sync run and its line; None when another process was syncing (a skip, not a
        failure: that sync fetches the same data, and records its own run)."""
        started = time.monotonic()
        first = self.client.requests
        self._progress_line = ProgressLine(
            "sync", "IDs asked", log.info, interval=self.settings.progress_seconds,
            requests=lambda: self.client.requests - first,
        )  # fmt: skip
        try:
            summary = sync_engine.run_sync(
                self.engine,
                self.client,
                batch_size=self.settings.api.batch_size,
                full=full,
                trigger="daemon",
                progress=self._progress,
                before_fetch=self._watch_hook(),
            )
        except sync_engine.SyncBusy:
            log.info(f"{reason}: skipped, another sync is running on this database")
            return None
        if self.settings.aact.live:
            from sync.aact import live

            live.after_run(self.engine, enabled=True)
        elapsed = time.monotonic() - started
        line = (
            f"{reason}: sync run {summary.run_id} {summary.outcome} ({summary.mode}): "
            f"{plural(summary.requests, 'request')}, {summary.fetched:,} fetched, "
            f"{plural(summary.new_versions, 'new version')}, {plural(summary.changes, 'change')} "
            f"in {elapsed:.1f}s"
        )
        if summary.not_found:
            line += f"; not found at the registry: {', '.join(summary.not_found)}"
        if summary.errors:
            more = f" (+{len(summary.errors) - 1} more)" if len(summary.errors) > 1 else ""
            line += f"; error: {summary.errors[0]}{more}"
        self._job_failed = self._job_failed or summary.outcome != "ok"
        (log.info if summary.outcome == "ok" else log.warning)(self.masker(line))
        self._last["sync"] = {"at": _utcnow().isoformat(), "outcome": summary.outcome,
                              "run_id": summary.run_id}  # fmt: skip
        return summary

    def _record_failed_check(self, error: str) -> int | None:
        # A check that cannot reach the registry is a failed run: digests must show it.
        with session_scope(self.engine) as session:
            now = database_now(session)
            run = SyncRun(kind="check", trigger="daemon", started_at=now, finished_at=now,
                          outcome="failed", mode="check", requests=1, errors=[error])  # fmt: skip
            session.add(run)
            session.flush()
            return run.id

    def check(self) -> None:
        """Ask /version; start a sync only when the gate `sync` itself uses says there is
        work (a new data release, a trial never fetched, a watch never run)."""
        try:
            version = self.client.version()
        except ApiError as exc:
            self._job_failed = True
            run_id = self._record_failed_check(str(exc))
            log.warning(self.masker(f"check failed (run {run_id}): {exc}"))
            self._last["check"] = {"at": _utcnow().isoformat(), "ok": False}
            return
        ts = version["dataTimestamp"]
        with session_scope(self.engine) as session:
            seed.apply_config(session, self.settings)
            gate = freshness.gate(session, ts)
        self._last["check"] = {"at": _utcnow().isoformat(), "ok": True, "data_timestamp": ts}
        if not gate.needed:
            log.info(f"check: {gate.reason()}; no sync")
            return
        self._sync(full=False, reason=f"check: {gate.reason()}")

    def full_sync(self) -> None:
        if self._sync(full=True, reason="full sync") is None:
            return  # not done: the next full sync is still due
        with session_scope(self.engine) as session:
            store.set_meta(session, META_LAST_FULL, _utcnow().isoformat())

    def digest(self) -> None:
        outcomes = notify.deliver(self.engine, self.settings)
        line = notify.summary_line(outcomes)
        bad = any(o.status == "failed" for o in outcomes)
        self._job_failed = self._job_failed or bad
        (log.warning if bad else log.info)(self.masker(line))
        with session_scope(self.engine) as session:
            store.set_meta(session, META_LAST_DIGEST, _utcnow().isoformat())
        self._last["digest"] = {
            "at": _utcnow().isoformat(),
            "sent": sum(o.status == "sent" for o in outcomes),
            "failed": sum(o.status == "failed" for o in outcomes),
        }

    def heartbeat(self, state: str = "running") -> None:
        if state == "running" and self._lock is not None and not self._lock.alive():
            # The connection that held the PostgreSQL lock is gone, and the lock with it:
            # another daemon may lead now. Stop rather than run twice.
            log.error(f"lost the single-leader lock ({self._lock.where}); stopping")
            self._stopping = self._stopping or "lost the leader lock"
            self._exit_code = 1
            self._request_shutdown()
            return
        next_runs: dict[str, str | None] = {}
        if self._scheduler is not None and state == "running":
            for job in self._scheduler.get_jobs():
                if job.id != "heartbeat":
                    when = getattr(job, "next_run_time", None)
                    next_runs[job.id] = when.isoformat() if when else None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "state": state,
            "heartbeat_seconds": heartbeat_seconds(self.settings),
            "timezone": self.settings.schedule.timezone,
            "next_runs": next_runs,
            "last": self._last,
        }
        with session_scope(self.engine) as session:
            # Stamped by clocks that a wrong or jumping wall clock here does not move
            # (sync.daemon.liveness): status judges the beat by them.
            stamped = liveness.stamp(database_now(session), _utcnow())
            self._started = self._started or str(stamped["heartbeat"])
            info |= stamped | {"started": self._started}
            if state != "running":
                info["stopped"] = info["heartbeat"]
            store.set_meta(session, META_DAEMON, info)

    def _safe_heartbeat(self, state: str = "running") -> None:
        try:
            self.heartbeat(state)
        except DaemonStop:
            raise
        except Exception as exc:  # noqa: BLE001  (a missed heartbeat is not worth a crash)
            log.warning(f"heartbeat not written: {type(exc).__name__}: {exc}")

    # --- lifecycle -----------------------------------------------------------------------

    def recover_interrupted_runs(self) -> int:
        """Runs a previous daemon left 'running' (killed): mark them failed, honestly."""
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(SyncRun).where(SyncRun.outcome == "running", SyncRun.trigger == "daemon")
            ).all()
            for run in rows:
                run.outcome = "failed"
                run.finished_at = run.finished_at or database_now(session)
                note = "interrupted: the daemon stopped before the run finished"
                run.errors = [*(run.errors or []), note]
                session.add(run)
            return len(rows)

    def _one_cycle(self) -> None:
        """The check, then the cron jobs whose time has passed since they last ran, one by one."""
        missed = self._missed()
        for job in self._jobs():
            if job.id == "check" or job.id in missed:
                self._wrap(job)()
            if self._stopping:
                return
        self._stopping = "one cycle done"

    def run(self, lock: LeaderLock | None = None, *, once: bool = False) -> int:
        """Run until SIGTERM/SIGINT; the caller holds the leader lock (checked at heartbeats).

        once: one cycle (see _one_cycle) and stop, for a timer or cron job instead of a daemon;
        exit code 1 when a job failed (a sync not ok, a check that did not reach the registry).
        """
        self._lock = lock
        mask_apprise_logs(self.masker, show=log.isEnabledFor(logging.DEBUG))
        recovered = self.recover_interrupted_runs()
        if recovered:
            log.warning(
                f"marked {plural(recovered, 'run')} left unfinished by a previous daemon as failed"
            )
        self._scheduler = None if once else self._scheduler_of()
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        previous_hook = sys.unraisablehook

        def unraisable(info: Any) -> None:
            # A stop swallowed by a callback is raised again at the sync's next step (see
            # _progress): nothing to print. Anything else goes to the usual hook.
            if not isinstance(info.exc_value, DaemonStop):
                previous_hook(info)

        sys.unraisablehook = unraisable
        s = self.settings.schedule
        log.info(
            f"daemon started (pid {os.getpid()}): check every {check_seconds(self.settings):g}s, "
            f"full sync '{s.full_sync_cron}', digest '{s.digest_cron}' ({s.timezone}), "
            f"{plural(len(self._chans), 'notification channel')}"
        )
        self._safe_heartbeat()
        try:
            if once:
                self._one_cycle()
            else:
                self._scheduler.start()
        except DaemonStop:
            pass  # a signal between jobs: stop below
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sys.unraisablehook = previous_hook
            self._request_shutdown()
            if self._stopper is not None:
                self._stopper.join(timeout=10)
            try:
                self.heartbeat(state="stopped")
            except Exception as exc:  # noqa: BLE001
                log.warning(f"could not record the stop: {database_lost(exc) or exc}")
            if self._client is not None:
                self._client.close()
        log.info(f"daemon stopped ({self._stopping or 'scheduler ended'})")
        if once and self._job_failed:
            return self._exit_code or 1
        return self._exit_code


def start_leader(settings: Settings, engine: Engine) -> LeaderLock:
    """Take the single-leader lock or raise AlreadyRunning with a message that says who holds it."""
    holder = None
    with session_scope(engine) as session:
        info = store.get_meta(session, META_DAEMON)
        if isinstance(info, dict):
            holder = f"pid {info.get('pid')} on {info.get('host')}"
    return acquire_leader(engine, holder_hint=holder)

