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
    read_only_reason,
    session_scope,
    upgrade,
)
from models.usable import DatabaseUnusable, read_only_write

__all__ = [
    "DatabaseUnusable",
    "current_revision",
    "ensure_schema",
    "is_sqlite",
    "make_engine",
    "read_only_reason",
    "read_only_write",
    "session_scope",
    "upgrade",
]
