"""The data generation: one number that every committed write to trialwatch's tables moves, in
the same transaction as the write (database triggers), so that a reader who sees the number
also sees every write it counts, from any process.

The web app renders a page once per generation and derives its ETags from it. Triggers rather
than application code: a write through the ORM, Core, a migration's data step, another process
or psql moves it alike, and nothing in the application can forget to.

- SQLite: a row trigger on INSERT, UPDATE and DELETE of every table adds one (writers are
  serialised by SQLite: no one waits on the row longer than on the database lock itself).
- PostgreSQL: a deferred constraint trigger moves it once per transaction, at commit, so that
  the row is locked only for the moment of a commit (a row lock taken at the first write and
  held to commit would serialise concurrent writers and deadlock two that touch the same rows
  in opposite orders); a transaction-local setting keeps it to one update a transaction however
  many rows it writes. TRUNCATE has a statement trigger of its own (constraint triggers cannot
  watch it).

A table made by a later migration needs `install(op.get_bind(), ["its_table"])` there, and a
SQLite batch migration that rebuilds a table drops that table's triggers: `install` again after
it. tests/integration/test_generation.py checks that every table at head has them.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

TABLE = "data_generation"
FUNCTION = "trialwatch_generation_moves"
# Not tables of the data: Alembic's own, and the generation itself.
UNWATCHED = frozenset({TABLE, "alembic_version"})
_OPS = ("insert", "update", "delete")

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('trialwatch.generation_moved', true) IS DISTINCT FROM 'on' THEN
        PERFORM set_config('trialwatch.generation_moved', 'on', true);
        UPDATE {TABLE} SET n = n + 1 WHERE id = 1;
    END IF;
    RETURN NULL;
END
$$
"""


def trigger_names(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [f"trialwatch_generation_{table}", f"trialwatch_generation_{table}_truncate"]
    return [f"trialwatch_generation_{table}_{op}" for op in _OPS]


def _create(dialect: str, table: str) -> list[str]:
    names = trigger_names(dialect, table)
    if dialect == "postgresql":
        return [
            f'DROP TRIGGER IF EXISTS {names[0]} ON "{table}"',
            f'CREATE CONSTRAINT TRIGGER {names[0]} AFTER INSERT OR UPDATE OR DELETE ON "{table}" '
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
            f'DROP TRIGGER IF EXISTS {names[1]} ON "{table}"',
            f'CREATE TRIGGER {names[1]} AFTER TRUNCATE ON "{table}" '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
        ]
    return [
        f'CREATE TRIGGER IF NOT EXISTS {name} AFTER {op.upper()} ON "{table}" '
        f"BEGIN UPDATE {TABLE} SET n = n + 1 WHERE id = 1; END"
        for name, op in zip(names, _OPS, strict=True)
    ]


def watched_tables(conn: sa.Connection) -> list[str]:
    """The tables whose writes move the generation: all of this schema's but UNWATCHED."""
    return sorted(t for t in sa.inspect(conn).get_table_names() if t not in UNWATCHED)


def install(conn: sa.Connection, tables: Iterable[str] | None = None) -> None:
    """The triggers on these tables (default: every watched table); again is harmless."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql(_PG_FUNCTION)
    for table in watched_tables(conn) if tables is None else tables:
        for statement in _create(dialect, table):
            conn.exec_driver_sql(statement)


def uninstall(conn: sa.Connection, tables: Iterable[str] | None = None) -> None:
    dialect = conn.dialect.name
    for table in watched_tables(conn) if tables is None else tables:
        for name in trigger_names(dialect, table):
            on = f' ON "{table}"' if dialect == "postgresql" else ""
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}{on}")
    if dialect == "postgresql":
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


def installed(conn: sa.Connection) -> dict[str, set[str]]:
    """The generation triggers each table has (for the test that every table has them)."""
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND t.tgname LIKE 'trialwatch_generation_%%'"
        )
    else:
        rows = conn.exec_driver_sql(
            "SELECT tbl_name, name FROM sqlite_master "
            "WHERE type = 'trigger' AND name LIKE 'trialwatch_generation_%'"
        )
    out: dict[str, set[str]] = {}
    for table, name in rows:
        out.setdefault(table, set()).add(name)
    return out


def read(conn: sa.Connection) -> int:
    """The current generation (0 on a database older than the table)."""
    value = conn.exec_driver_sql(f"SELECT n FROM {TABLE} WHERE id = 1").scalar()
    return int(value or 0)
