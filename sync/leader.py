"""The daemon's single-leader lock: a file lock beside a SQLite database, a PostgreSQL advisory
lock held on a dedicated connection."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

# One fixed advisory-lock key for "the trialwatch daemon of this database".
PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"trialwatch-daemon").digest()[:8], "big", signed=True)


class AlreadyRunning(Exception):
    """Another daemon leads this database; the message says which and how to find it."""


class LeaderLock:
    """Held for the daemon's lifetime; released by release() or when the process ends."""

    def __init__(self, kind: str, where: str) -> None:
        self.kind = kind
        self.where = where
        self._fd: int | None = None
        self._conn: Connection | None = None
        self._engine: Engine | None = None

    def alive(self) -> bool:
        """False when the PostgreSQL connection holding the lock is gone (and the lock with it)."""
        if self._conn is None:
            return self._fd is not None
        try:
            held = self._conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted"
                )
            ).scalar()
            return bool(held)
        except sa.exc.SQLAlchemyError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
            except sa.exc.SQLAlchemyError:
                pass  # the connection is gone, and the lock with it
            finally:
                self._conn.close()
                self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> LeaderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_path(database: str) -> Path:
    return Path(database + ".lock")


def _sqlite_lock(database: str, holder_hint: str | None) -> LeaderLock:
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid = os.pread(fd, 64, 0).decode(errors="replace").strip()
        finally:
            os.close(fd)
        who = f"pid {pid}" if pid else (holder_hint or "another process")
        raise AlreadyRunning(
            f"another trialwatch daemon is already running against {database} ({who}; lock file "
            f"{path}); stop it first"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    lock = LeaderLock("file", str(path))
    lock._fd = fd
    return lock


def _pg_lock(engine: Engine, holder_hint: str | None) -> LeaderLock:
    # Its own engine without a pool: the connection that holds the lock is never lent out.
    own = sa.create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    conn = own.connect()
    got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar()
    if not got:
        conn.close()
        own.dispose()
        name = engine.url.render_as_string(hide_password=True)
        who = f" ({holder_hint})" if holder_hint else ""
        raise AlreadyRunning(
            f"another trialwatch daemon is already running against {name}{who}: it holds the "
            f"PostgreSQL advisory lock {PG_LOCK_KEY}; stop it first"
        )
    lock = LeaderLock("postgresql", engine.url.render_as_string(hide_password=True))
    lock._conn = conn
    lock._engine = own
    return lock


def acquire_leader(engine: Engine, holder_hint: str | None = None) -> LeaderLock:
    """The leader lock for this database, or AlreadyRunning."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:":
            return LeaderLock("none", ":memory:")  # private to this process anyway
        return _sqlite_lock(str(Path(database).resolve()), holder_hint)
    if url.get_backend_name() == "postgresql":
        return _pg_lock(engine, holder_hint)
    raise AlreadyRunning(f"no single-leader lock for {url.get_backend_name()} databases")
