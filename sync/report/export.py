"""Export the stored history as analysis tables (Parquet, CSV or DuckDB), streamed in batches."""

from __future__ import annotations

import os
import time as clock
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy.engine import Engine
from sqlmodel import Session

from sync.core.util import Progress
from sync.report import export_rows as rows
from sync.report import export_target as places
from sync.report.export_rows import ExportError, Selection, parse_since
from sync.report.export_sql import TABLES, VIEWS

__all__ = ["ExportError", "ExportSummary", "Selection", "export", "parse_since"]

FORMATS = ("parquet", "csv")
# DuckDB spills to disk beyond this. Its buffers are what grows with the size of the export
# (the Python side stays flat), so this keeps a 100,000-study export under 300 MB of RSS.
DUCKDB_MEMORY = "32MB"
# Parquet's writer holds a whole row group (122,880 rows unless told) uncompressed until it
# writes it: for long texts (AACT's descriptions, eligibility criteria) hundreds of MB, and an
# "Out of Memory Error" under the limit above (10,000 studies x 10 versions into AACT Parquet
# failed so). Row groups are cut by size instead, and the writer has room for two per thread.
PARQUET_ROW_GROUP = "8MB"
PARQUET_MEMORY = "128MB"


@dataclass
class ExportSummary:
    target: str
    format: str
    merged: bool = False
    since: str | None = None
    tables: dict[str, int] = field(default_factory=dict)
    views: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "format": self.format,
            "merged": self.merged,
            "since": self.since,
            "tables": self.tables,
            "views": self.views,
            "seconds": round(self.seconds, 3),
        }


# -- the targets -------------------------------------------------------------------------------


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def connect(path: Path, spill: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
    con.execute("SET threads = 2")
    # Spilled buffers beside the target under a scratch name (DuckDB's default, PATH.tmp,
    # would outlive a killed export under a name nobody recognises).
    con.execute(f"SET temp_directory = {_sql_path(spill)}")
    return con


def copy_parquet(
    con: duckdb.DuckDBPyConnection, source: str, path: str, options: str = ""
) -> None:
    """COPY `source` (a table, or a query in parentheses) to the Parquet file at `path` (an
    SQL string literal), in row groups of PARQUET_ROW_GROUP at most, whatever its rows hold."""
    # Without preserve_insertion_order the writer need not hold the row groups of one
    # thread back for another's: AACT's eligibilities (long criteria texts) at 10,000 x 10
    # failed even at 128 MB with it. Rows carry their keys; their order in a file is none.
    con.execute(f"SET memory_limit = '{PARQUET_MEMORY}'")
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute(
            f"COPY {source} TO {path} "
            f"(FORMAT parquet, ROW_GROUP_SIZE_BYTES '{PARQUET_ROW_GROUP}'{options})"
        )
    finally:
        con.execute("RESET preserve_insertion_order")
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")


def _create_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    for sql in VIEWS.values():
        con.execute(sql)
    return list(VIEWS)


def mark(con: duckdb.DuckDBPyConnection) -> None:
    """The row that tells a later export this file is a trialwatch export (and when)."""
    from sync import __version__

    now = datetime.now(UTC)
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        f"WHERE table_schema = 'main' AND table_name = '{places.MARKER_TABLE}'"
    ).fetchone()
    if exists and exists[0]:
        con.execute(f"UPDATE {places.MARKER_TABLE} SET updated_at = ?", [now])
        return
    con.execute(places.MARKER_SQL)
    con.execute(
        f"INSERT INTO {places.MARKER_TABLE} VALUES (?, ?, ?, ?, ?)",
        [places.WRITER, places.SCHEMA, now, now, __version__],
    )


def check_target(target: Path, is_file: bool) -> None:
    where = target.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {where}: {exc.strerror or exc}") from None
    if not where.is_dir():
        raise ExportError(f"{where} is not a directory")
    if not os.access(where, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write to {where}: permission denied")
    if is_file and target.is_dir():
        raise ExportError(f"{target} is a directory, not a DuckDB file")
    if not is_file and target.exists() and not target.is_dir():
        raise ExportError(f"{target} is a file: name a directory, or FILE.duckdb for DuckDB")


def _merge(con: duckdb.DuckDBPyConnection, staged: str) -> None:
    """Replace the exported studies' rows (their version numbers may have moved since: a
    backfill inserts versions) and add the watch events not there yet (inside the caller's
    transaction, with the staging)."""
    for name in ("trials", "versions", "changes", "sites"):
        con.execute(f"DELETE FROM {name} WHERE nct_id IN (SELECT nct_id FROM {staged}trials)")
        con.execute(f"INSERT INTO {name} SELECT * FROM {staged}{name}")
    con.execute(
        f"DELETE FROM watch_events WHERE event_id IN (SELECT event_id FROM {staged}watch_events)"
    )
    con.execute(f"INSERT INTO watch_events SELECT * FROM {staged}watch_events")
    # Every trial's state as the store has it now, selected or not (M4: a removed trial).
    states = f"{staged}{rows.STATES_TABLE}"
    con.execute(
        "UPDATE trials SET active = s.active, registry_state = s.registry_state, "
        f"alias_of = s.alias_of FROM {states} s WHERE trials.nct_id = s.nct_id"
    )
    for name in (*TABLES, rows.STATES_TABLE):
        con.execute(f"DROP TABLE {staged}{name}")
    _create_views(con)
    mark(con)


# Beside CSV files: every column's type (a column empty in every row keeps it), one row per
# column, readable by the same CSV reader (R's fread, pandas, DuckDB).
SCHEMA_CSV = "schema.csv"
# How R's data.table::fread is told each type (colClasses).
R_CLASSES = {
    "VARCHAR": "character",
    "JSON": "character",
    "VARCHAR[]": "character",
    "INTEGER": "integer",
    "BIGINT": "numeric",
    "DOUBLE": "numeric",
    "BOOLEAN": "logical",
    "DATE": "Date",
    "TIMESTAMPTZ": "POSIXct",
}


def schema_csv() -> str:
    """table, column, type (DuckDB's), csv (how a value is written), r_class (for fread)."""
    lines = ["table,column,type,csv,r_class"]
    for name, columns in TABLES.items():
        for column, kind in columns:
            written = "json" if kind in ("JSON", "VARCHAR[]") else "text"
            lines.append(f"{name},{column},{kind},{written},{R_CLASSES[kind]}")
    return "\n".join(lines) + "\n"


def _as_written(name: str, fmt: str) -> str:
    """The table's columns as a file holds them: JSON as text (in Parquet a UTF-8 string, not
    DuckDB's JSON type, which Polars reads as binary), and in CSV every list as a JSON array
    (["PHASE1", "PHASE2"], not DuckDB's [PHASE1, PHASE2])."""
    out = []
    for column, kind in TABLES[name]:
        q = f'"{column}"'
        if kind == "JSON":
            out.append(f"CAST({q} AS VARCHAR) AS {q}")
        elif kind.endswith("[]") and fmt == "csv":
            out.append(f"CAST(to_json({q}) AS VARCHAR) AS {q}")
        else:
            out.append(q)
    return ", ".join(out)


def _copy_table(con: duckdb.DuckDBPyConnection, name: str, path: Path, fmt: str) -> None:
    source = f"(SELECT {_as_written(name, fmt)} FROM {name})"
    if fmt == "parquet":
        copy_parquet(con, source, _sql_path(path))
    else:
        con.execute(f"COPY {source} TO {_sql_path(path)} (FORMAT csv, HEADER)")


def _write_merge(
    engine: Engine, place: Path, sel: Selection, summary: ExportSummary, progress: Progress | None
) -> None:
    """Into an existing export: staged beside the rows they replace, all in one transaction
    (a kill or a full disk leaves the file as it was)."""
    summary.merged = True
    spill = places.scratch(place, "spill")
    con = connect(place, spill)
    try:
        con.execute("BEGIN")
        try:
            summary.tables = rows.fill(engine, con, "_new_", sel, progress, states=True)
            _merge(con, "_new_")
            con.execute("COMMIT")
        except BaseException:
            with suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        summary.views = list(VIEWS)
    except duckdb.BinderException:
        raise ExportError(
            f"{summary.target} has the tables of an earlier trialwatch (their columns differ): "
            "export everything to it again, or start one at another path"
        ) from None
    except duckdb.CatalogException:
        raise ExportError(
            f"{summary.target} is not a whole trialwatch export (a table is missing): "
            "export everything to it again, or start one at another path"
        ) from None
    finally:
        con.close()
        places.remove_all([spill])


def _write_file(
    engine: Engine,
    place: Path,
    found: places.Found,
    sel: Selection,
    summary: ExportSummary,
    progress: Progress | None,
) -> None:
    """A new file beside the target, renamed over it when complete."""
    building = places.scratch(place, "tmp")
    spill = places.scratch(place, "spill")
    try:
        con = connect(building, spill)
        try:
            summary.tables = rows.fill(engine, con, "", sel, progress)
            summary.views = _create_views(con)
            mark(con)
        finally:
            con.close()
        places.replace_file(building, place, found)  # never a half-written database there
    finally:
        places.remove_all([building, building.with_name(building.name + ".wal"), spill])


def _write_dir(
    engine: Engine, place: Path, sel: Selection, summary: ExportSummary, progress: Progress | None
) -> None:
    """A new folder beside the target, filled from a scratch DuckDB file, then swapped in."""
    db = places.scratch(place, "tmp", ".duckdb")
    scratch_db = [db, db.with_name(db.name + ".wal"), places.scratch(place, "spill")]
    new = places.scratch(place, "new")
    try:
        new.mkdir()
        con = connect(db, scratch_db[2])
        try:
            summary.tables = rows.fill(engine, con, "", sel, progress)
            for name in TABLES:
                _copy_table(con, name, new / f"{name}.{summary.format}", summary.format)
        finally:
            con.close()
        places.remove_all(scratch_db)
        if summary.format == "csv":
            (new / SCHEMA_CSV).write_text(schema_csv(), encoding="utf-8")
        at = datetime.now(UTC).isoformat()
        marker = places.marker_json(summary.format, summary.tables, summary.since, at)
        (new / places.MARKER_FILE).write_bytes(marker)
        places.fsync_tree(new)
        places.swap_in(new, place)
    finally:
        places.remove_all([*scratch_db, new])


@contextmanager
def write_errors(target: Path, place: Path) -> Iterator[None]:
    """A write that fails for a reason the user can fix, as one ExportError line: an unusable
    target, a full disk, a file that cannot be written."""
    try:
        yield
    except places.TargetError as exc:
        raise ExportError(str(exc)) from None
    except (duckdb.Error, OSError) as exc:
        if places.is_disk_full(exc, place.parent):
            state = "is unchanged" if place.exists() else "was not written"
            raise ExportError(
                f"no space left on the device at {target.parent}: {target} {state}; "
                "free some space or export elsewhere"
            ) from None
        if not isinstance(exc, WRITE_ERRORS):
            raise
        raise ExportError(f"cannot write {target}: {places.first_line(exc)}") from None


def place_of(target: Path) -> Path:
    """Where the renames happen: the real path of a symbolic link (the link stays)."""
    return Path(os.path.realpath(target)) if target.is_symlink() else target.absolute()


def export(
    engine: Engine,
    target: Path,
    fmt: str | None = None,
    sel: Selection | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> ExportSummary:
    """Write the tables (and, in a DuckDB file, the views) for the selected studies.

    A `.duckdb` target is written whole by a full export; a partial one (IDs, a watch, --since)
    into an existing file replaces those studies' rows and keeps the others. A directory gets
    one file per table (Parquet by default, or CSV) holding the selection, swapped in whole.
    A target that exists and is not a trialwatch export is refused unless `force`.
    """
    started = clock.monotonic()
    sel = sel or Selection()
    is_file = target.suffix == ".duckdb"
    if fmt is not None and fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use parquet or csv")
    if is_file and fmt is not None:
        raise ExportError("--format is for a directory; a .duckdb target is a DuckDB database")
    with Session(engine) as session:
        rows.trial_conditions(session, sel)  # an unknown trial or watch: before any file is touched
    check_target(target, is_file)
    place = place_of(target)
    summary = ExportSummary(
        target=str(target),
        format="duckdb" if is_file else (fmt or "parquet"),
        since=sel.since.isoformat() if sel.since else None,
    )
    with write_errors(target, place):
        places.clean(place)  # what killed exports to this target left behind
        found = places.inspect_file(place) if is_file else places.inspect_dir(place)
        refusal = places.refuse(target, found, partial=sel.partial)
        if refusal and not force:
            raise ExportError(refusal)
        if is_file and sel.partial and found.export and found.exists and not refusal:
            _write_merge(engine, place, sel, summary, progress)
        elif is_file:
            _write_file(engine, place, found, sel, summary, progress)
        else:
            _write_dir(engine, place, sel, summary, progress)
    summary.seconds = clock.monotonic() - started
    return summary


WRITE_ERRORS = (
    OSError,
    duckdb.IOException,
    duckdb.PermissionException,
    duckdb.TransactionException,
    duckdb.OutOfMemoryException,
)
