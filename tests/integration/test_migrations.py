"""Every migration up and down on SQLite and PostgreSQL, and the models match the head schema."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from models import db


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert _tables(engine) >= {"trial", "snapshot", "change", "syncrun", "watch", "watchmatch"}
    db.downgrade(engine, "base")
    assert _tables(engine) == set()
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_head_revision_constant_is_the_migrations_head(db_url: str) -> None:
    """HEAD_REVISION lets every command skip Alembic: a new migration must move it, else a
    database at the old head would never be upgraded."""
    assert db.HEAD_REVISION == db.head_revision()
    engine = db.make_engine(db_url)
    assert db.stored_revision(engine) is None
    db.upgrade(engine, "0001")
    assert db.stored_revision(engine) == db.current_revision(engine) == "0001"
    db.ensure_schema(engine)
    assert db.stored_revision(engine) == db.HEAD_REVISION
    engine.dispose()


def test_models_match_migrations(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(ctx, SQLModel.metadata)
    assert diffs == []


def test_sqlite_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
