"""What `trialwatch status` says about the daemon: heartbeat, next runs, failed deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from models.db import database_now
from sync.core.util import plural
from sync.daemon import liveness
from sync.daemon.schedule import HEARTBEAT_MAX_SECONDS
from sync.report import notify
from sync.report.notify import FailedDelivery
from sync.store import snapshots as store
from sync.store import views
from sync.store.results import RunRow

META_DAEMON = "daemon"


class DaemonState(StrEnum):
    """What the daemon's heartbeat says (worked out when asked, never stored as such)."""

    NEVER_STARTED = "never_started"
    STOPPED = "stopped"
    NOT_RESPONDING = "not_responding"  # killed, or hung: it stopped beating
    RUNNING = "running"


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """The daemon's last heartbeat; only `state` when it never started."""

    state: DaemonState
    pid: int | None = None
    host: str | None = None
    started: str | None = None
    heartbeat: str | None = None
    heartbeat_age_seconds: int | None = None
    # How the state was judged: the heartbeat's age and the clock it was measured by, or why
    # it says nothing (stamped in the future, its machine restarted).
    reason: str | None = None
    # False when the heartbeat's age says nothing (in the future, or from a previous boot).
    aged: bool = True

    def to_dict(self) -> dict[str, Any]:
        if self.state == DaemonState.NEVER_STARTED:
            return {"state": self.state}
        return {
            "state": self.state,
            "pid": self.pid,
            "host": self.host,
            "started": self.started,
            "heartbeat": self.heartbeat,
            "heartbeat_age_seconds": self.heartbeat_age_seconds,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """The daemon's state, its next runs (by job: check, full_sync, digest; only while it
    runs) and the digests not delivered yet."""

    daemon: DaemonInfo
    next_runs: dict[str, str | None] = field(default_factory=dict)
    failed_deliveries: list[FailedDelivery] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "daemon": self.daemon.to_dict(),
            "next_runs": dict(self.next_runs),
            # The weekday of each, in the schedule's time zone: a cron reader's first check.
            "next_run_weekdays": {
                k: datetime.fromisoformat(v).strftime("%A") for k, v in self.next_runs.items() if v
            },
            "failed_deliveries": [f.to_dict() for f in self.failed_deliveries],
        }


@dataclass(frozen=True, slots=True)
class StatusReport:
    """`status`: the last runs, newest first, the daemon, and the IDs the registry rejects."""

    runs: list[RunRow]
    status: DaemonStatus
    rejected: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [r.to_dict() for r in self.runs],
            **self.status.to_dict(),
            "rejected": list(self.rejected),
        }


def _ago(seconds: float) -> str:
    return f"{liveness.span(max(0, seconds))} ago"


def _when(iso: str) -> str:
    """A next run as a person checks a cron line: its weekday first, in the schedule's zone."""
    at = datetime.fromisoformat(iso)
    return at.strftime("%a %Y-%m-%d %H:%M %z").strip()


def status_info(session: Session, now: datetime | None = None) -> DaemonStatus:
    """What `trialwatch status` says about the daemon: its state and heartbeat, its next runs
    and the digests not delivered yet."""
    now = now or datetime.now(UTC)
    info = store.get_meta(session, META_DAEMON)
    failed = notify.failed_deliveries(session)
    if not isinstance(info, dict):
        return DaemonStatus(DaemonInfo(DaemonState.NEVER_STARTED), failed_deliveries=failed)
    judged = liveness.judge(info, database_now(session), now)
    age = int(judged.age)
    stale_after = 3 * float(info.get("heartbeat_seconds") or HEARTBEAT_MAX_SECONDS) + 60
    next_runs: dict[str, str | None] = {}
    if info.get("state") != "running":
        state = DaemonState.STOPPED
    elif judged.gone or judged.future or age > stale_after:
        state = DaemonState.NOT_RESPONDING
    else:
        state = DaemonState.RUNNING
        next_runs = dict(info.get("next_runs") or {})
    daemon = DaemonInfo(
        state=state,
        pid=info.get("pid"),
        host=info.get("host"),
        started=info.get("started"),
        heartbeat=info["heartbeat"],
        heartbeat_age_seconds=age,
        reason=judged.reason,
        aged=not (judged.gone or judged.future),
    )
    return DaemonStatus(daemon, next_runs, failed)


def status_lines(info: DaemonStatus) -> list[str]:
    """The same as `status` prints it: one line each for the daemon, its next runs and the
    digests not delivered yet."""
    d = info.daemon
    where = f"pid {d.pid} on {d.host}"
    age = _ago(d.heartbeat_age_seconds or 0)
    lines = {
        DaemonState.NEVER_STARTED: "daemon: never started against this database",
        DaemonState.STOPPED: f"daemon: stopped {age} ({where})",
        DaemonState.NOT_RESPONDING: f"daemon: NOT RESPONDING: last heartbeat {age} ({where}); "
        "it may have been killed",
        # Stamped in the future, or from before its machine restarted: the reason says which.
        "unknown": f"daemon: NOT RESPONDING ({where}): {d.reason}",
        DaemonState.RUNNING: f"daemon: running ({where}), heartbeat {age}, since {d.started}",
    }
    out = [lines[d.state if d.aged or d.state != DaemonState.NOT_RESPONDING else "unknown"]]
    if d.state == DaemonState.RUNNING:
        names = {"check": "check", "full_sync": "full sync", "digest": "digest"}
        runs = ", ".join(f"{names.get(k, k)} {_when(v)}" for k, v in info.next_runs.items() if v)
        out.append(f"next runs: {runs or 'none scheduled'}")
    out.append(
        "failed deliveries: "
        + (
            "; ".join(
                f"{f.channel}: {plural(f.changes, 'change')}, {plural(f.attempts, 'attempt')}, "
                f"{f.status}" + (f": {f.last_error}" if f.last_error else "")
                for f in info.failed_deliveries
            )
            or "none"
        )
    )
    return out


def status_report(session: Session, limit: int = 10) -> StatusReport:
    """What `status` shows (and /api/runs serves): the last runs, the daemon's heartbeat and
    next runs, digests not delivered yet, and the IDs the registry rejects."""
    return StatusReport(
        runs=views.runs(session, limit),
        status=status_info(session),
        rejected=views.rejected_ids(session),
    )
