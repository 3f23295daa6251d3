"""The daemon's single-leader lock: the `daemon` lock of sync.store.locks, with a message that says
who holds it and how to find it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from sync.store import locks

# One fixed advisory-lock key for "the trialwatch daemon of this database".
PG_LOCK_KEY = locks.advisory_key(locks.LEADER)

LeaderLock = locks.DatabaseLock


class AlreadyRunning(Exception):
    """Another daemon leads this database; the message says which and how to find it."""


def acquire_leader(engine: Engine, holder_hint: str | None = None) -> LeaderLock:
    """The leader lock for this database, or AlreadyRunning."""
    url = engine.url
    try:
        return locks.acquire(engine, locks.LEADER)
    except locks.Busy as exc:
        backend = url.get_backend_name()
        if backend == "sqlite":
            database = str(Path(url.database or "").resolve())
            who = exc.holder or holder_hint or "another process"
            raise AlreadyRunning(
                f"another trialwatch daemon is already running against {database} ({who}; lock "
                f"file {exc.where}); stop it first"
            ) from None
        if backend == "postgresql":
            name = url.render_as_string(hide_password=True)
            who = f" ({holder_hint})" if holder_hint else ""
            raise AlreadyRunning(
                f"another trialwatch daemon is already running against {name}{who}: it holds the "
                f"PostgreSQL advisory lock {PG_LOCK_KEY}; stop it first"
            ) from None
        raise AlreadyRunning(f"no single-leader lock for {backend} databases") from None
