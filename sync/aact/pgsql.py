"""The AACT tables in the live PostgreSQL database, as SQL: the versioned tables (schema
`aact_history`), the current state under AACT's plain names in AACT's own schema `ctgov`, the
state on any day (`as_of.TABLE(day)` set-returning functions, and `as_of.TABLE` views of the
day `SET aact.day = 'YYYY-MM-DD'` names), the comments of the dictionary, and the grants of the
read-only role. Pure: strings only.

These tables are derived (every row comes from the stored versions): a migration that changes
them drops and makes them again from this module, and the next refresh refills them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sync.aact.catalog import TABLES
from sync.aact.sql import SCHEMA, SPAN_NAMES, aact_columns, column_comment, quote
from sync.aact.table import Table, all_columns

VIEWS = "ctgov"  # AACT's own schema: `FROM ctgov.studies`, or search_path = ctgov
AS_OF = "as_of"
SCHEMAS = (SCHEMA, VIEWS, AS_OF)
DAY_SETTING = "aact.day"
# Which version of each trial the tables hold: a trial whose latest version differs (a sync
# stored one, a backfill inserted some) is refreshed whole.
STATE = "refreshed"
READER = "trialwatch_aact_reader"

_TYPES = {"VARCHAR": "text", "DOUBLE": "double precision"}


def _type(kind: str) -> str:
    return _TYPES.get(kind, kind.lower())


def create_table(table: Table) -> str:
    cols = []
    for c in all_columns(table):
        key = " PRIMARY KEY" if c.name == "id" else ""
        null = " NOT NULL" if c.name in ("nct_id", "valid_from_version") else ""
        cols.append(f"{c.name} {_type(c.type)}{key}{null}")
    return f"CREATE TABLE {SCHEMA}.{table.name} ({', '.join(cols)})"


def _indexes(table: Table) -> list[str]:
    # By study: a refresh deletes a study's rows, AACT queries join on nct_id. One index only:
    # every PostgreSQL database made (each test's too) creates them all.
    return [f"CREATE INDEX ix_{table.name}_nct_id ON {SCHEMA}.{table.name} (nct_id)"]


def _current_view(table: Table) -> str:
    return (
        f"CREATE VIEW {VIEWS}.{table.name} AS SELECT {', '.join(aact_columns(table))} "
        f"FROM {SCHEMA}.{table.name} WHERE valid_to_version IS NULL"
    )


def holds_on(day: str) -> str:
    """The documented predicate: a row holds on `day` (an SQL date expression)."""
    return f"valid_from <= {day} AND (valid_to IS NULL OR valid_to > {day})"


def _as_of_function(table: Table) -> str:
    return (
        f"CREATE FUNCTION {AS_OF}.{table.name}(day date) RETURNS SETOF {VIEWS}.{table.name} "
        f"LANGUAGE sql STABLE AS $$ SELECT {', '.join(aact_columns(table))} "
        f"FROM {SCHEMA}.{table.name} WHERE {holds_on('day')} $$"
    )


def _as_of_view(table: Table) -> str:
    day = f"CAST(NULLIF(current_setting('{DAY_SETTING}', true), '') AS date)"
    return (
        f"CREATE VIEW {AS_OF}.{table.name} AS SELECT {', '.join(aact_columns(table))} "
        f"FROM {SCHEMA}.{table.name} WHERE {holds_on(day)}"
    )


def comments(table: Table) -> Iterable[str]:
    about = f"{table.about} (AACT: {table.name})"
    yield f"COMMENT ON TABLE {SCHEMA}.{table.name} IS {quote(about)}"
    for c in all_columns(table):
        text = quote(column_comment(table, c.name))
        yield f"COMMENT ON COLUMN {SCHEMA}.{table.name}.{c.name} IS {text}"
    for schema, what in (
        (VIEWS, "The current state of"),
        (AS_OF, f"The state on the day SET {DAY_SETTING} names of"),
    ):
        view = quote(f"{what} {SCHEMA}.{table.name}: {table.about}")
        yield f"COMMENT ON VIEW {schema}.{table.name} IS {view}"
        for name in aact_columns(table):
            text = quote(column_comment(table, name))
            yield f"COMMENT ON COLUMN {schema}.{table.name}.{name} IS {text}"
    fn = quote(f"The rows of {SCHEMA}.{table.name} in force on the day: {table.about}")
    yield f"COMMENT ON FUNCTION {AS_OF}.{table.name}(date) IS {fn}"


def create_sql() -> list[str]:
    """Every statement that makes the empty schemas, tables, views, functions and comments."""
    out = [f"CREATE SCHEMA {s}" for s in SCHEMAS]
    out.append(
        f"CREATE TABLE {SCHEMA}.{STATE} (trial_id bigint PRIMARY KEY, nct_id text NOT NULL, "
        "latest_version integer NOT NULL, refreshed_at timestamptz NOT NULL DEFAULT now())"
    )
    out.append(
        f"COMMENT ON TABLE {SCHEMA}.{STATE} IS "
        + quote("trialwatch's own: the version of each trial these tables hold.")
    )
    for name, about in (
        ("trial_id", "The trial's id in trialwatch."),
        ("nct_id", "The study's ClinicalTrials.gov identifier."),
        ("latest_version", "The trial's latest stored version when its rows were written."),
        ("refreshed_at", "When its rows were written."),
    ):
        out.append(f"COMMENT ON COLUMN {SCHEMA}.{STATE}.{name} IS {quote(about)}")
    for t in TABLES.values():
        out.append(create_table(t))
        out.extend(_indexes(t))
    for t in TABLES.values():
        out.extend((_current_view(t), _as_of_view(t), _as_of_function(t)))
        out.extend(comments(t))
    return out


def drop_sql() -> list[str]:
    return [f"DROP SCHEMA IF EXISTS {s} CASCADE" for s in reversed(SCHEMAS)]


def grant_sql(role: str) -> list[str]:
    """What the read-only role may do: read the three schemas, now and after a rebuild."""
    out = []
    for s in SCHEMAS:
        out.append(f"GRANT USAGE ON SCHEMA {s} TO {role}")
        out.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {role}")
        out.append(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO {role}")
        out.append(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO {role}")
    return out


__all__ = ["SPAN_NAMES", "create_sql", "drop_sql", "grant_sql", "holds_on"]
