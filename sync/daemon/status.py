"""What `trialwatch status` says about the daemon: heartbeat, next runs, failed deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from sync.core.util import aware
from sync.daemon.schedule import HEARTBEAT_MAX_SECONDS
from sync.report import notify
from sync.store import snapshots as store
from sync.store import views

META_DAEMON = "daemon"


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def status_info(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """What `trialwatch status --json` says about the daemon, as data: `daemon` (state, pid,
    host, started, heartbeat, heartbeat_age_seconds), `next_runs` (check, full_sync, digest)
    and `failed_deliveries` (digests not delivered yet)."""
    now = now or datetime.now(UTC)
    info = store.get_meta(session, META_DAEMON)
    daemon: dict[str, Any] = {"state": "never_started"}
    next_runs: dict[str, str | None] = {}
    if isinstance(info, dict):
        beat = aware(datetime.fromisoformat(info["heartbeat"]))
        age = max(0, int((now - beat).total_seconds()))
        stale_after = 3 * float(info.get("heartbeat_seconds") or HEARTBEAT_MAX_SECONDS) + 60
        if info.get("state") != "running":
            state = "stopped"
        elif age > stale_after:
            state = "not_responding"  # killed, or hung: it stopped beating
        else:
            state = "running"
            next_runs = {k: v for k, v in (info.get("next_runs") or {}).items()}
        daemon = {
            "state": state,
            "pid": info.get("pid"),
            "host": info.get("host"),
            "started": info.get("started"),
            "heartbeat": beat.isoformat(),
            "heartbeat_age_seconds": age,
        }
    return {
        "daemon": daemon,
        "next_runs": next_runs,
        "failed_deliveries": notify.failed_deliveries(session),
    }


def status_lines(info: dict[str, Any]) -> list[str]:
    """The same as `status` prints it: one line each for the daemon, its next runs and the
    digests not delivered yet."""
    d = info["daemon"]
    where = f"pid {d.get('pid')} on {d.get('host')}"
    age = _ago(d.get("heartbeat_age_seconds") or 0)
    lines = {
        "never_started": "daemon: never started against this database",
        "stopped": f"daemon: stopped {age} ({where})",
        "not_responding": f"daemon: NOT RESPONDING: last heartbeat {age} ({where}); "
        "it may have been killed",
        "running": f"daemon: running ({where}), heartbeat {age}, since {d.get('started')}",
    }
    out = [lines[d["state"]]]
    if d["state"] == "running":
        names = {"check": "check", "full_sync": "full sync", "digest": "digest"}
        runs = ", ".join(f"{names.get(k, k)} {v}" for k, v in info["next_runs"].items() if v)
        out.append(f"next runs: {runs or 'none scheduled'}")
    failed = info["failed_deliveries"]
    out.append(
        "failed deliveries: "
        + (
            "; ".join(
                f"{f['channel']}: {f['changes']} changes, {f['attempts']} attempt(s), "
                f"{f['status']}" + (f": {f['last_error']}" if f["last_error"] else "")
                for f in failed
            )
            or "none"
        )
    )
    return out


def status_report(session: Session, limit: int = 10) -> dict[str, Any]:
    """What `status --json` prints (and /api/runs serves): the last runs, the daemon's
    heartbeat and next runs, digests not delivered yet, and the IDs the registry rejects."""
    return {
        "runs": views.runs(session, limit),
        **status_info(session),
        "rejected": views.rejected_ids(session),
    }
