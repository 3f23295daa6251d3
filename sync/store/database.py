"""The database as the layers above the store see it: engines, sessions and migrations.

The CLI and the web app open the database through this module, never through `models`
directly (an import-linter contract): what a database is (SQLite pragmas, PostgreSQL, Alembic)
stays in `models.db`, and this is its one door for them.
"""

from models.db import (
    current_revision,
    ensure_schema,
    is_sqlite,
    make_engine,
    session_scope,
    upgrade,
)

__all__ = [
    "current_revision",
    "ensure_schema",
    "is_sqlite",
    "make_engine",
    "session_scope",
    "upgrade",
]
