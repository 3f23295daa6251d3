"""What `trialwatch status` says about the daemon: heartbeat, next runs, failed deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from sync import notify, store
from sync.schedule import HEARTBEAT_MAX_SECONDS
from sync.util import aware

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
    """Lines for `trialwatch status`: the daemon's heartbeat, next runs, failed deliveries."""
    now = now or datetime.now(UTC)
    out: dict[str, Any] = {}
    info = store.get_meta(session, META_DAEMON)
    if not isinstance(info, dict):
        out["daemon"] = "never started against this database"
    else:
        beat = aware(datetime.fromisoformat(info["heartbeat"]))
        age = (now - beat).total_seconds()
        where = f"pid {info.get('pid')} on {info.get('host')}"
        stale_after = 3 * float(info.get("heartbeat_seconds") or HEARTBEAT_MAX_SECONDS) + 60
        if info.get("state") != "running":
            out["daemon"] = f"stopped {_ago(age)} ({where})"
        elif age > stale_after:
            out["daemon"] = (
                f"NOT RESPONDING: last heartbeat {_ago(age)} ({where}); it may have been killed"
            )
        else:
            out["daemon"] = f"running ({where}), heartbeat {_ago(age)}, since {info.get('started')}"
            runs = info.get("next_runs") or {}
            names = {"check": "check", "full_sync": "full sync", "digest": "digest"}
            out["next runs"] = ", ".join(
                f"{names.get(k, k)} {v}" for k, v in runs.items() if v
            ) or "none scheduled"
    failed = notify.failed_deliveries(session)
    if failed:
        out["failed deliveries"] = "; ".join(
            f"{d['channel']}: {d['changes']} changes, {d['attempts']} attempt(s), "
            f"{d['status']}" + (f": {d['last_error']}" if d["last_error"] else "")
            for d in failed
        )
    else:
        out["failed deliveries"] = "none"
    return out
