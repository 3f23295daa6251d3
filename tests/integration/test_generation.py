"""The data generation moves with every committed write to every table, on SQLite and
PostgreSQL, and only when the write is committed (what the web app's page cache relies on)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from models import db, generation


def _gen(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return generation.read(conn)


def test_every_table_at_head_has_the_triggers(engine: sa.Engine) -> None:
    """A table a later migration adds (or a SQLite batch migration rebuilds) without
    `generation.install` fails here: writes to it would leave stale pages in the cache."""
    with engine.connect() as conn:
        tables = generation.watched_tables(conn)
        found = generation.installed(conn)
    assert set(tables) >= {t for t in SQLModel.metadata.tables if t not in generation.UNWATCHED}
    missing = {
        t: sorted(set(generation.trigger_names(engine.dialect.name, t)) - found.get(t, set()))
        for t in tables
    }
    assert {t: m for t, m in missing.items() if m} == {}


def test_insert_update_delete_each_move_it(engine: sa.Engine) -> None:
    seen = [_gen(engine)]
    statements = [
        "INSERT INTO trial (nct_id, active, source, added_at, registry_state, latest_version) "
        "VALUES ('NCT00000001', true, 'manual', CURRENT_TIMESTAMP, 'unknown', 0)",
        "UPDATE trial SET title = 'x' WHERE nct_id = 'NCT00000001'",
        "INSERT INTO meta (key, updated_at) VALUES ('k', CURRENT_TIMESTAMP)",
        "DELETE FROM meta WHERE key = 'k'",
        "DELETE FROM trial WHERE nct_id = 'NCT00000001'",
    ]
    for statement in statements:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement)
        seen.append(_gen(engine))
    assert all(b > a for a, b in zip(seen, seen[1:], strict=False)), seen


def test_every_table_moves_it(engine: sa.Engine) -> None:
    """An UPDATE that touches no row moves nothing; one that does, on any table, moves it (a
    table is written here by a statement that changes no value, so no row data is needed)."""
    with engine.connect() as conn:
        tables = generation.watched_tables(conn)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO trial (nct_id, active, source, added_at, registry_state, latest_version)"
            " VALUES ('NCT00000002', true, 'manual', CURRENT_TIMESTAMP, 'unknown', 0)"
        )
    for table in tables:
        with engine.begin() as conn:
            # Any row of the table, with its first column set to itself.
            col = next(iter(sa.inspect(conn).get_columns(table)))["name"]
            before = generation.read(conn)
            changed = conn.exec_driver_sql(f'UPDATE "{table}" SET "{col}" = "{col}"').rowcount
        after = _gen(engine)
        assert (after > before) == (changed > 0), (table, before, after, changed)


def test_a_rolled_back_write_does_not_move_it_and_many_rows_move_it_once_on_postgresql(
    engine: sa.Engine,
) -> None:
    before = _gen(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO meta (key, updated_at) VALUES ('a', CURRENT_TIMESTAMP)")
        conn.rollback()
    assert _gen(engine) == before
    with engine.begin() as conn:
        for i in range(50):
            conn.exec_driver_sql(
                f"INSERT INTO meta (key, updated_at) VALUES ('k{i}', CURRENT_TIMESTAMP)"
            )
    after = _gen(engine)
    assert after > before
    if engine.dialect.name == "postgresql":
        assert after == before + 1  # once a transaction, at commit


def test_a_reader_sees_the_new_generation_only_with_the_write(engine: sa.Engine) -> None:
    """Until the write commits, another connection reads the old number; after, the new one
    and the written row together."""
    if engine.dialect.name == "sqlite":
        reader = db.make_engine(engine.url, read_only=True)
    else:
        reader = engine
    before = _gen(reader)
    with engine.connect() as writer:
        writer.begin()
        writer.exec_driver_sql(
            "INSERT INTO meta (key, updated_at) VALUES ('pending', CURRENT_TIMESTAMP)"
        )
        assert _gen(reader) == before
        writer.commit()
    with reader.connect() as conn:
        assert generation.read(conn) > before
        assert conn.exec_driver_sql("SELECT count(*) FROM meta WHERE key = 'pending'").scalar()
    if reader is not engine:
        reader.dispose()


def test_downgrade_removes_the_triggers(db_url: str) -> None:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    db.downgrade(engine, "-1")  # the revision before the generation
    with engine.connect() as conn:
        assert generation.installed(conn) == {}
        assert not sa.inspect(conn).has_table(generation.TABLE)
        # Writes still work without the table the triggers would update.
        conn.exec_driver_sql("INSERT INTO meta (key, updated_at) VALUES ('x', CURRENT_TIMESTAMP)")
        conn.commit()
    engine.dispose()
