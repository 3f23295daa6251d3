"""Named per-database locks: a file lock beside a SQLite file, a PostgreSQL advisory lock."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from models import db as dbm

# The daemon's lock: its file keeps the name the README documents (trialwatch.db.lock).
LEADER = "daemon"


class Busy(Exception):
    """Another process holds the lock; `holder` says who when it can tell, `where` what lock."""

    def __init__(self, message: str, where: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.where = where
        self.holder = holder


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory-lock key of the lock `name` (a signed 64-bit integer)."""
    digest = hashlib.sha256(f"trialwatch-{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_file(database: str, name: str) -> Path:
    """The file beside a SQLite database that holds the lock `name`."""
    path = Path(database).resolve()
    suffix = ".lock" if name == LEADER else f".{name}.lock"
    return path.with_name(path.name + suffix)


class DatabaseLock:
    """A held lock; released by release() or when the process ends (both kinds die with it,
    so a killed holder never leaves a stale lock behind)."""

    def __init__(self, kind: str, where: str) -> None:
        self.kind = kind  # "file", "postgresql" or "none"
        self.where = where
        self._file: FileLock | None = None
        self._conn: Connection | None = None
        self._engine: Engine | None = None
        self._key = 0
        self._brief = 0.0

    def alive(self) -> bool:
        """False when the PostgreSQL connection holding the lock is gone (and the lock with it)."""
        if self._conn is None:
            return self.kind == "none" or (self._file is not None and self._file.is_locked)
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
        if self._file is not None:
            self._file.release(force=True)
            self._file = None
        if self._conn is not None:
            try:
                # A last word, not a wait: a connection that no longer answers is closed at once
                # (the server ends its session, and the lock with it, when it notices).
                with suppress(sa.exc.SQLAlchemyError):
                    dbm.brief_replies(self._conn.connection.dbapi_connection, self._brief)
                with suppress(sa.exc.SQLAlchemyError):  # a lost connection took the lock with it
                    self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            finally:
                self._conn.close()
                self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> DatabaseLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _write_pid(fd: int) -> None:
    # Who holds it, for the message a second process prints.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _file_lock(database: str, name: str) -> DatabaseLock:
    path = lock_file(database, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    held = FileLock(path, mode=0o600, thread_local=False, on_acquired=_write_pid)
    try:
        held.acquire(blocking=False)
    except Timeout:
        try:
            pid = path.read_text(errors="replace").strip()
        except OSError:
            pid = ""
        holder = f"pid {pid}" if pid.isdigit() else None
        raise Busy(holder or "another process", str(path), holder) from None
    lock = DatabaseLock("file", str(path))
    lock._file = held
    return lock


def _advisory_lock(engine: Engine, name: str) -> DatabaseLock:
    key = advisory_key(name)
    # Its own engine without a pool: the connection that holds the lock is never lent out.
    # It waits on the database as the engine does (the same timeouts).
    timeouts = dbm.timeouts_of(engine)
    own = dbm.make_engine(
        engine.url, timeouts=timeouts, poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        conn = own.connect()
        try:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        except BaseException:
            conn.close()
            raise
    except BaseException:
        own.dispose()
        raise
    if not got:
        conn.close()
        own.dispose()
        raise Busy("another process holds its PostgreSQL advisory lock", f"advisory lock {key}")
    lock = DatabaseLock("postgresql", engine.url.render_as_string(hide_password=True))
    lock._conn, lock._engine, lock._key = conn, own, key
    lock._brief = timeouts.connect or 5.0
    return lock


def acquire(engine: Engine, name: str) -> DatabaseLock:
    """Take the lock `name` of this database at once, or raise Busy."""
    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            return DatabaseLock("none", ":memory:")  # private to this process anyway
        return _file_lock(url.database, name)
    if backend == "postgresql":
        return _advisory_lock(engine, name)
    raise Busy(f"no {name} lock for {backend} databases", backend)


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock `name` of this database for the block, or raise Busy at once."""
    with acquire(engine, name):
        yield
