"""Why a database cannot be used, in one line: the URL people type, a missing driver, a file
that is not a database, a schema newer than this trialwatch, a database it may only read."""

from __future__ import annotations

import os
import re
from pathlib import Path

import sqlalchemy as sa

# The Python package that provides each driver SQLAlchemy names for these backends.
DRIVER_PACKAGES = {"psycopg2": "psycopg2-binary", "pg8000": "pg8000", "asyncpg": "asyncpg",
                   "psycopg2cffi": "psycopg2cffi", "pysqlcipher": "sqlcipher3"}  # fmt: skip


class DatabaseUnusable(Exception):
    """A database this trialwatch cannot use; the message is one line saying what to do."""


def normalise_url(url: str | sa.URL) -> sa.URL:
    """postgresql:// and postgres:// (as people and hosting services write them) are served by
    psycopg 3, which trialwatch installs; SQLAlchemy alone would look for psycopg2."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def check_driver(url: sa.URL) -> None:
    """DatabaseUnusable for a driver trialwatch cannot use: an asyncio one, or one that is not
    installed (its import is what SQLAlchemy tries first)."""
    dialect = url.get_dialect()
    if getattr(dialect, "is_async", False):
        raise DatabaseUnusable(
            f"{url.drivername}:// is an asyncio driver and trialwatch needs a synchronous one: "
            "use sqlite:///path/to/trialwatch.db or postgresql://user@host/dbname"
        )
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise missing_driver(url, exc) from None


def missing_driver(url: sa.URL, exc: ImportError) -> DatabaseUnusable:
    driver = url.get_driver_name()
    package = DRIVER_PACKAGES.get(driver, exc.name or driver)
    return DatabaseUnusable(
        f"the database driver {driver} ({url.drivername}://) is not installed: pip install "
        f"{package}, or use postgresql:// (psycopg 3, installed with trialwatch)"
    )


def sqlite_path(url: sa.URL) -> Path | None:
    """The SQLite file of url (a file: URI's too), None for another backend or in memory."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    database = url.database or ""
    if url.query.get("uri") == "true" and database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database)


def reading_url(url: sa.URL, path: Path) -> sa.URL:
    """url for reading a WAL database in a folder this process cannot write: SQLite cannot
    create the -shm file there, so the file is read as it is (immutable), which holds what the
    last writer checkpointed when no -wal file is left beside it."""
    if Path(f"{path}-wal").exists() or os.access(path.parent, os.W_OK | os.X_OK):
        return url
    return url.set(database=f"file:{path}").update_query_dict({"immutable": "1", "uri": "true"})


def read_only_reason(path: Path) -> str | None:
    """Why this process may read but not write the SQLite file (its own permissions, or a
    folder where the journal files cannot be created), or None when it may write."""
    if not path.exists():
        return None
    if not os.access(path, os.W_OK):
        return f"{path} is read-only for this user"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"the folder {path.parent} is read-only for this user"
    return None


def not_a_database(path: Path | None, exc: sa.exc.DBAPIError) -> DatabaseUnusable | None:
    """The one line for SQLite's "file is not a database", None for any other error."""
    if getattr(exc.orig, "sqlite_errorname", None) != "SQLITE_NOTADB":
        return None
    return DatabaseUnusable(
        f"{path} is not a SQLite database (file is not a database): point database_url or "
        "TRIALWATCH_DATABASE_URL at a trialwatch database, or at a new file"
    )


def _number(revision: str) -> int | None:
    match = re.match(r"\d+", revision)
    return int(match.group()) if match else None


def _short(revision: str | None) -> str:
    match = re.match(r"\d+", revision or "")
    return match.group() if match else str(revision)


def unknown_revision(current: str, head: str | None) -> DatabaseUnusable:
    """The database's schema is not one of this trialwatch's migrations."""
    theirs, ours = _number(current), _number(head or "")
    if theirs is not None and ours is not None and theirs > ours:
        return DatabaseUnusable(
            f"database schema {_short(current)} is newer than this trialwatch "
            f"({_short(head)}): upgrade trialwatch"
        )
    return DatabaseUnusable(
        f"database schema {current} is not one this trialwatch knows (its newest is "
        f"{_short(head)}): is it a trialwatch database?"
    )


def read_only_upgrade(reason: str, current: str | None, head: str | None) -> DatabaseUnusable:
    at = f"schema {_short(current)}" if current else "no schema yet"
    return DatabaseUnusable(
        f"the database needs upgrading ({at}, this trialwatch is at {_short(head)}) but {reason}: "
        "run trialwatch db upgrade as a user who may write it"
    )


# SQLSTATEs that mean "you may read this database, not write it": a read-only transaction
# (a standby, default_transaction_read_only), no privilege to write a table.
READ_ONLY_SQLSTATES = {"25006", "42501"}


def read_only_write(exc: sa.exc.DBAPIError) -> str | None:
    """One line for a write refused because the database is read-only for this user."""
    orig = exc.orig
    sqlite_code = str(getattr(orig, "sqlite_errorname", None) or "")
    if not sqlite_code.startswith("SQLITE_READONLY") and (
        getattr(orig, "sqlstate", None) not in READ_ONLY_SQLSTATES
    ):
        return None
    first = (str(orig).strip().splitlines() or [""])[0]
    return (
        f"this command writes to the database, which is read-only for this user ({first}); "
        "commands that only read still work"
    )
