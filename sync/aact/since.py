"""What `export --format aact --since` updates: an earlier AACT export with the tables of this
version (a DuckDB file's `aact_history` schema, or a folder's table files), checked and read
back into the scratch database the update is written from."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson

from sync.aact import sql
from sync.aact.catalog import TABLES
from sync.aact.table import all_columns
from sync.report import export_target as places

AGAIN = "export it whole again (without --since)"


def _expected() -> dict[str, list[tuple[str, str]]]:
    return {name: [(c.name, c.type) for c in all_columns(t)] for name, t in TABLES.items()}


def file_problem(con: duckdb.DuckDBPyConnection, target: Path) -> str | None:
    """Why the open DuckDB file cannot take an update (None: it can): not an AACT export, or
    one whose tables differ from this version's."""
    found: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? ORDER BY table_name, ordinal_position",
        [sql.SCHEMA],
    ).fetchall():
        found.setdefault(table, []).append((column, kind))
    if not found:
        return f"{target} holds no AACT tables (not written with --format aact): {AGAIN}"
    if found != _expected():
        return f"{target} holds the AACT tables of another trialwatch version: {AGAIN}"
    return None


def dir_problem(place: Path, target: Path, fmt: str) -> str | None:
    """Why the folder cannot take an update: not an AACT export of this format, or a table
    file missing or with other columns than this version's."""
    try:
        marker = orjson.loads((place / places.MARKER_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return f"{target} is not a trialwatch export: {AGAIN}"
    if not isinstance(marker, dict) or marker.get("format") != fmt:
        was = marker.get("format") if isinstance(marker, dict) else None
        return f"{target} is a {was} export, not {fmt}: {AGAIN}"
    con = duckdb.connect()
    try:
        for name, want in _expected().items():
            path = place / f"{name}.{'txt' if fmt == 'aact-txt' else 'parquet'}"
            if not path.is_file():
                return f"{target} has no {path.name}: {AGAIN}"
            if fmt == "aact-txt":
                with path.open(encoding="utf-8") as f:
                    header = f.readline().rstrip("\r\n").split("|")
                if header != [c for c, _ in want]:
                    return f"{target}: {path.name} has other columns than this version's: {AGAIN}"
                continue
            got = con.execute(
                f"SELECT name, type FROM parquet_schema({sql.quote(str(path))}) "
                "WHERE num_children IS NULL OR num_children = 0"
            ).fetchall()
            if [n for n, _ in got] != [c for c, _ in want]:
                return f"{target}: {path.name} has other columns than this version's: {AGAIN}"
    finally:
        con.close()
    return None


def read_back(con: duckdb.DuckDBPyConnection, place: Path, fmt: str) -> None:
    """The folder's rows into the (empty) versioned tables of the scratch database."""
    for name, table in TABLES.items():
        target = f"{sql.SCHEMA}.{name}"
        if fmt == "aact-txt":
            path = sql.quote(str(place / f"{name}.txt"))
            types = ", ".join(
                f"{sql.quote(c.name)}: {sql.quote(c.type)}" for c in all_columns(table)
            )
            source = f"read_csv({path}, delim='|', header=true, columns={{{types}}})"
        else:
            source = f"read_parquet({sql.quote(str(place / f'{name}.parquet'))})"
        con.execute(f"INSERT INTO {target} SELECT * FROM {source}")
