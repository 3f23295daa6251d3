"""The AACT tables as DuckDB SQL: the versioned tables (schema `aact`), the current-state
views under AACT's plain names (in `main` and in AACT's own schema `ctgov`, so that an AACT
query runs unchanged), the `aact_as_of` table macro, and the comments of the dictionary.
Pure: strings only."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sync.aact.catalog import TABLES
from sync.aact.table import SPAN, Table, all_columns

SCHEMA = "aact_history"  # the versioned tables (not "aact": a file aact.duckdb is catalog "aact")
VIEW_SCHEMAS = ("main", "ctgov")  # the current state under AACT's names
# The state on the day `SET VARIABLE aact_day = DATE 'YYYY-MM-DD'` names, under AACT's names:
# after `SET schema = 'as_of'` an AACT query runs unchanged on that day.
AS_OF_SCHEMA = "as_of"
DAY_VARIABLE = "aact_day"
SPAN_NAMES = [c.name for c in SPAN]


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_table(table: Table) -> str:
    cols = ", ".join(f"{c.name} {c.type}" for c in all_columns(table))
    return f"CREATE TABLE {SCHEMA}.{table.name} ({cols})"


def aact_columns(table: Table) -> list[str]:
    """The columns of AACT's own table (the versioned ones without the span)."""
    return [c.name for c in all_columns(table) if c.name not in SPAN_NAMES]


def current_view(table: Table, schema: str) -> str:
    cols = ", ".join(aact_columns(table))
    return (
        f"CREATE OR REPLACE VIEW {schema}.{table.name} AS SELECT {cols} "
        f"FROM {SCHEMA}.{table.name} WHERE valid_to_version IS NULL"
    )


def as_of_view(table: Table) -> str:
    cols = ", ".join(aact_columns(table))
    day = f"CAST(getvariable('{DAY_VARIABLE}') AS DATE)"
    return (
        f"CREATE OR REPLACE VIEW {AS_OF_SCHEMA}.{table.name} AS SELECT {cols} "
        f"FROM {SCHEMA}.{table.name} WHERE valid_from <= {day} "
        f"AND (valid_to IS NULL OR valid_to > {day})"
    )


# The state on any day: a row holds from valid_from (inclusive) to valid_to (exclusive).
AS_OF_MACRO = (
    "CREATE OR REPLACE MACRO aact_as_of(tbl, day) AS TABLE "
    f"SELECT * EXCLUDE ({', '.join(SPAN_NAMES)}) FROM query_table('{SCHEMA}.' || tbl) "
    "WHERE valid_from <= CAST(day AS DATE) "
    "AND (valid_to IS NULL OR valid_to > CAST(day AS DATE))"
)


def _describe(table: Table) -> str:
    return f"{table.about} (AACT: {table.name})"


def column_comment(table: Table, name: str) -> str:
    for c in all_columns(table):
        if c.name == name:
            parts = [c.about]
            if c.source:
                parts.append(f"From: {c.source}.")
            if c.aact:
                parts.append(f"Departs from AACT: {c.aact}.")
            return " ".join(parts)
    raise KeyError(f"{table.name}.{name}")


def comments(table: Table, views: bool = True) -> Iterable[str]:
    yield f"COMMENT ON TABLE {SCHEMA}.{table.name} IS {quote(_describe(table))}"
    for c in all_columns(table):
        text = column_comment(table, c.name)
        yield f"COMMENT ON COLUMN {SCHEMA}.{table.name}.{c.name} IS {quote(text)}"
    for schema in VIEW_SCHEMAS if views else ():
        about = f"The current state of {SCHEMA}.{table.name}: {table.about}"
        yield f"COMMENT ON VIEW {schema}.{table.name} IS {quote(about)}"
        for name in aact_columns(table):
            text = column_comment(table, name)
            yield f"COMMENT ON COLUMN {schema}.{table.name}.{name} IS {quote(text)}"
    if views:
        about = f"The state of {SCHEMA}.{table.name} on the day {DAY_VARIABLE}: {table.about}"
        yield f"COMMENT ON VIEW {AS_OF_SCHEMA}.{table.name} IS {quote(about)}"
        for name in aact_columns(table):
            text = column_comment(table, name)
            yield f"COMMENT ON COLUMN {AS_OF_SCHEMA}.{table.name}.{name} IS {quote(text)}"


def schema_sql() -> list[str]:
    """Every statement that makes an empty AACT file, tables first."""
    out = [f"CREATE SCHEMA IF NOT EXISTS {s}" for s in (SCHEMA, "ctgov", AS_OF_SCHEMA)]
    out.extend(create_table(t) for t in TABLES.values())
    return out


def views_sql() -> list[str]:
    out = [current_view(t, s) for s in VIEW_SCHEMAS for t in TABLES.values()]
    out.extend(as_of_view(t) for t in TABLES.values())
    out.append(AS_OF_MACRO)
    for t in TABLES.values():
        out.extend(comments(t))
    return out


def schema_file() -> str:
    """The schema file beside flat files: each table's DDL and the dictionary's comments."""
    out = [f"CREATE SCHEMA IF NOT EXISTS {SCHEMA};"]
    for t in TABLES.values():
        out.append(create_table(t) + ";")
        out.extend(f"{c};" for c in comments(t, views=False))
    return "\n".join(out) + "\n"


# How R's data.table::fread is told each type of the flat files (colClasses). The ids are
# BIGINT beyond R's 32-bit integers: numeric holds them exactly (below 2^53).
R_CLASSES = {
    "VARCHAR": "character",
    "INTEGER": "integer",
    "BIGINT": "numeric",
    "DOUBLE": "numeric",
    "BOOLEAN": "logical",
    "DATE": "Date",
}


def schema_csv() -> str:
    """The flat files' `schema.csv`: table, column, type (DuckDB's), r_class (for fread's
    colClasses), one row per column of every table file, so that a column empty in every
    row keeps its type. Comma-separated, no value needs quoting."""
    lines = ["table,column,type,r_class"]
    for t in TABLES.values():
        for c in all_columns(t):
            lines.append(f"{t.name},{c.name},{c.type},{R_CLASSES[c.type]}")
    return "\n".join(lines) + "\n"


def parquet_metadata(table: Table) -> str:
    """KV_METADATA of a table's Parquet file: its description and each column's, as JSON."""
    columns = {c.name: column_comment(table, c.name) for c in all_columns(table)}
    pairs = {
        "trialwatch:table": _describe(table),
        "trialwatch:columns": json.dumps(columns, ensure_ascii=False),
        "trialwatch:types": json.dumps({c.name: c.type for c in all_columns(table)}),
    }
    return "{" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in pairs.items()) + "}"
