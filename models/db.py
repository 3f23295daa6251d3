"""The engine from a URL (SQLite pragmas, PostgreSQL), sessions, upgrades to head."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from models import usable

if TYPE_CHECKING:
    from alembic.config import Config

# The migrations: the top-level alembic/ of the source tree, linked and installed as
# models/migrations (see pyproject.toml), so an installed trialwatch finds them in any folder.
MIGRATIONS = "models.migrations"
# The newest migration's revision, known without importing Alembic (a third of a second of
# CPU): every command compares the database with it, and only a database that differs pays
# for Alembic. A test checks it against the migration scripts' own head.
HEAD_REVISION = "0008_i24_speed_data_generation"

SQLITE_BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Timeouts:
    """How long each wait on the database may last, in seconds (0: no limit).

    A database that stops answering (a dropped NAT or firewall keeps the socket open and
    relays nothing) must end the wait, not hang it: on PostgreSQL the client gives up connecting
    after `connect`, TCP keepalives end an idle connection whose peer is gone within
    idle + interval * count, `tcp_user_timeout` one whose sent data stays unacknowledged, the
    server cancels a statement after `statement`, and `reply` ends any wait for the server's
    answer even when TCP itself is fine (a proxy or a server that took the bytes and says
    nothing). The server gets the same keepalives, so that it ends the session of a client it
    can no longer reach and frees its locks. SQLite waits `busy` for another writer's lock.
    """

    connect: float = 10
    statement: float = 60
    reply: float = 90
    keepalives_idle: int = 30
    keepalives_interval: int = 10
    keepalives_count: int = 3
    tcp_user_timeout: float = 60
    busy: float = SQLITE_BUSY_TIMEOUT_MS / 1000
    # Not a wait of this process: how long another host's run may go without a heartbeat
    # before the next run takes it for dead (sync.store.runs).
    stale_run: float = 900

    def postgresql_args(self) -> dict[str, Any]:
        """psycopg's connect arguments (libpq's), the server's settings in `options`."""
        args: dict[str, Any] = {}
        server: dict[str, int] = {}
        if self.connect:
            # libpq takes whole seconds (and psycopg at least 2).
            args["connect_timeout"] = max(2, round(self.connect))
        if self.keepalives_idle:
            args |= {"keepalives": 1, "keepalives_idle": self.keepalives_idle,
                     "keepalives_interval": self.keepalives_interval,
                     "keepalives_count": self.keepalives_count}  # fmt: skip
            server |= {"tcp_keepalives_idle": self.keepalives_idle,
                       "tcp_keepalives_interval": self.keepalives_interval,
                       "tcp_keepalives_count": self.keepalives_count}  # fmt: skip
        if self.tcp_user_timeout:
            args["tcp_user_timeout"] = server["tcp_user_timeout"] = _ms(self.tcp_user_timeout)
        if self.statement:
            server["statement_timeout"] = _ms(self.statement)
        if server:
            args["options"] = " ".join(f"-c {k}={v}" for k, v in server.items())
        return args


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


# The timeouts each engine was made with, for the engines made from it (the lock's own).
_TIMEOUTS: weakref.WeakKeyDictionary[Engine, Timeouts] = weakref.WeakKeyDictionary()


def timeouts_of(engine: Engine) -> Timeouts:
    return _TIMEOUTS.get(engine) or Timeouts()


def brief_replies(dbapi_conn: Any, seconds: float) -> None:
    """A shorter reply timeout from now on for this DBAPI connection (a last word before it is
    closed, which must not wait as long as a statement may)."""
    current = getattr(dbapi_conn, "reply_timeout", None)
    if seconds and current is not None:
        dbapi_conn.reply_timeout = min(seconds, current) if current else seconds


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


def make_engine(
    url: str | sa.URL,
    *,
    read_only: bool = False,
    timeouts: Timeouts | None = None,
    **engine_args: Any,
) -> Engine:
    """An engine for url; SQLite gets WAL, a busy timeout, foreign keys, and serialised writers.
    postgresql:// is served by psycopg 3; a driver that is not installed is DatabaseUnusable.
    Every wait on the database is bounded by `timeouts` (the defaults when None); what the URL
    itself says (`?connect_timeout=5`, `options=-c statement_timeout=0`) wins over them.

    read_only (SQLite): transactions begin deferred and writes are refused, so that a reader
    (the web app) reads its WAL snapshot without waiting for a writer's lock. A file this
    process may not write is opened so, whatever the caller asked: reads work, writes fail.
    """
    timeouts = timeouts or Timeouts()
    engine = _make_engine(url, read_only, timeouts, engine_args)
    _TIMEOUTS[engine] = timeouts
    return engine


def _make_engine(
    url: str | sa.URL, read_only: bool, timeouts: Timeouts, engine_args: dict[str, Any]
) -> Engine:
    url = usable.normalise_url(url)
    usable.check_driver(url)
    if is_sqlite(url):
        path = usable.sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                # Registry data is public, but notification state and run errors are not
                # everyone's business: the file is its owner's alone (WAL files inherit it).
                path.touch(mode=0o600)
            if usable.read_only_reason(path):
                read_only = True
                url = usable.reading_url(url, path)
        busy_ms = _ms(timeouts.busy) if timeouts.busy else 0
        engine = sa.create_engine(url, connect_args={"timeout": busy_ms / 1000}, **engine_args)

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin (see below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            if read_only:
                cur.execute("PRAGMA query_only=ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # A deferred transaction that reads and then writes cannot wait for another writer
            # (SQLITE_BUSY at once, busy_timeout or not); IMMEDIATE takes the write lock up front,
            # so concurrent writers queue behind the busy timeout instead of failing.
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    args = timeouts.postgresql_args()
    # libpq reads PGOPTIONS only when no options are given: theirs and the URL's own come
    # after the timeouts, and PostgreSQL applies the last value given.
    given = [os.environ.get("PGOPTIONS", ""), str(url.query.get("options", ""))]
    args["options"] = " ".join(o for o in [args.get("options", ""), *given] if o.strip())
    if not args["options"]:
        del args["options"]
    args = {k: v for k, v in args.items() if k == "options" or k not in url.query}
    engine_args.setdefault("pool_pre_ping", True)
    try:
        engine = sa.create_engine(url, connect_args=args, **engine_args)
    except ImportError as exc:
        raise usable.missing_driver(url, exc) from None
    from models import pgwait

    pgwait.bound_replies(engine, timeouts.reply, args.get("connect_timeout", 0))
    return engine


def read_only_reason(engine: Engine) -> str | None:
    """Why this process may only read the engine's SQLite database, or None."""
    path = usable.sqlite_path(engine.url)
    return usable.read_only_reason(path) if path is not None else None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def database_now(session: Session | sa.Connection) -> datetime:
    """The database's clock, aware UTC: what every stored time that a day-based decision later
    reads (`export --since`, the digest's window) is stamped with, so that a process whose own
    clock is off (days behind, or ahead) stamps the day the database lives in.

    PostgreSQL: the server's CURRENT_TIMESTAMP (the start of the current transaction). SQLite
    has no server: its clock is the writing process's, read through SQLite itself (to the
    millisecond), so that both databases are read the same way.
    """
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name == "sqlite":
        text = session.execute(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar()
        return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)
    value = session.execute(sa.text("SELECT CURRENT_TIMESTAMP")).scalar()
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


class MigrationsMissing(RuntimeError):
    """The migrations are not installed with this trialwatch (a broken or stale install)."""


@cache
def migrations_dir() -> Path:
    """The folder of the migration scripts (env.py, versions/), found through importlib.resources.

    It has no __init__.py (a namespace package): one in the top-level alembic/ would shadow the
    Alembic library whenever the checkout is on sys.path. Installed from a wheel (or editable),
    its files are plain files on disk, which Alembic needs.
    """
    missing = MigrationsMissing(
        f"the database migrations ({MIGRATIONS}) are not installed with this trialwatch; "
        "reinstall it (from a checkout: make install)"
    )
    try:
        env = resources.files(MIGRATIONS).joinpath("env.py")
    except ModuleNotFoundError:
        raise missing from None
    if not isinstance(env, Path) or not env.is_file():
        raise missing
    return env.parent


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision; DatabaseUnusable for a file that is not a database."""
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sa.exc.DatabaseError as exc:
        unusable = usable.not_a_database(usable.sqlite_path(engine.url), exc)
        if unusable is None:
            raise
        raise unusable from None


def _check_known(current: str | None) -> None:
    """DatabaseUnusable when the database's schema is not among this trialwatch's migrations
    (most often: a newer trialwatch upgraded it)."""
    if current is None:
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    if current not in {r.revision for r in script.walk_revisions()}:
        raise usable.unknown_revision(current, script.get_current_head())


def stored_revision(engine: Engine) -> str | None:
    """The database's revision read directly (None for a new database), without Alembic;
    DatabaseUnusable for a file that is not a database."""
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DatabaseError as exc:
        unusable = usable.not_a_database(usable.sqlite_path(engine.url), exc)
        if unusable is None:
            raise
        raise unusable from None


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to revision (head by default)."""
    from alembic import command

    _check_known(current_revision(engine))
    cfg = alembic_config(engine)
    with engine.begin() as conn, _unhurried(conn):
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@contextmanager
def _unhurried(conn: sa.Connection) -> Iterator[None]:
    """No statement or reply timeout for the block's transaction (PostgreSQL): a migration
    may rewrite or index whole tables of a large database, which takes longer than a statement
    of a run may. TCP keepalives and tcp_user_timeout still end a connection that is gone."""
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
    dbapi = conn.connection.dbapi_connection
    reply = getattr(dbapi, "reply_timeout", None)
    if reply is not None:
        dbapi.reply_timeout = None  # type: ignore[union-attr]
    try:
        yield
    finally:
        if reply is not None:
            dbapi.reply_timeout = reply  # type: ignore[union-attr]


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def ensure_schema(engine: Engine) -> None:
    """Upgrade when the database is not at head (a new database, or an older schema);
    DatabaseUnusable when it cannot be (newer, or read-only for this process). A database at
    HEAD_REVISION is left alone without importing Alembic."""
    if stored_revision(engine) == HEAD_REVISION:
        return
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    _check_known(current)
    reason = read_only_reason(engine)
    if reason:
        raise usable.read_only_upgrade(reason, current, head)
    upgrade(engine)
