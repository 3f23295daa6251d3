"""The database as the layers above the store see it: engines, sessions and migrations.

The CLI and the web app open the database through this module, never through `models`
directly (an import-linter contract): what a database is (SQLite pragmas, PostgreSQL, Alembic)
stays in `models.db`, and this is its one door for them.
"""

from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from models import generation as _generation
from models.db import (
    Timeouts,
    current_revision,
    database_now,
    ensure_schema,
    is_sqlite,
    make_engine,
    read_only_reason,
    session_scope,
    upgrade,
)
from models.usable import DatabaseUnusable, read_only_write

if TYPE_CHECKING:
    from sync.config import DatabaseSettings


def timeouts(settings: "DatabaseSettings") -> Timeouts:
    """The database settings as the engine takes them."""
    return Timeouts(
        connect=settings.connect_timeout_seconds,
        statement=settings.statement_timeout_seconds,
        reply=settings.reply_timeout_seconds,
        keepalives_idle=settings.keepalive_idle_seconds,
        keepalives_interval=settings.keepalive_interval_seconds,
        keepalives_count=settings.keepalive_count,
        tcp_user_timeout=settings.tcp_user_timeout_seconds,
        busy=settings.busy_timeout_seconds,
        stale_run=settings.stale_run_seconds,
    )


def data_generation(engine: Engine) -> int:
    """The number every committed write moves (models/generation.py): one short read."""
    with engine.connect() as conn:
        return _generation.read(conn)


__all__ = [
    "DatabaseUnusable",
    "Timeouts",
    "current_revision",
    "data_generation",
    "database_now",
    "ensure_schema",
    "is_sqlite",
    "make_engine",
    "read_only_reason",
    "read_only_write",
    "session_scope",
    "timeouts",
    "upgrade",
]
