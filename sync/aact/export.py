"""`export --format aact`: every stored version of the selected studies as AACT's tables,
each row with the span of versions it holds for, into a DuckDB file (tables in schema
`aact`, current-state views under AACT's names in `main` and `ctgov`, the `aact_as_of`
macro, comments from the dictionary). Written beside the target and renamed over it."""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col

from models import Snapshot, Trial
from sync.aact import analysis, since, sql
from sync.aact.catalog import TABLES
from sync.aact.spans import Ids, Span, StudySpans
from sync.aact.table import all_columns
from sync.core.util import Progress
from sync.report import export_rows as rows
from sync.report import export_target as places
from sync.report.export import (
    ExportSummary,
    check_target,
    connect,
    copy_parquet,
    mark,
    place_of,
    write_errors,
)
from sync.report.export_rows import ExportError, Selection
from sync.store import codec
from sync.store import snapshots as store

FORMAT = "aact"  # a DuckDB file, or Parquet files in a folder
FLAT = "aact-txt"  # pipe-delimited files in a folder, with a schema file
FORMATS = (FORMAT, FLAT)
SCHEMA_FILE = "schema.sql"
SCHEMA_CSV = "schema.csv"  # beside the flat files: every column's type, R's class for fread
# What an AACT file holds in `main` besides the export marker: the current-state views.
MAIN_NAMES = frozenset(TABLES) | frozenset(analysis.VIEWS)
# Rows are handed to DuckDB in batches of about this many values (a narrow table's batches
# longer): DuckDB's cost is mostly per insert, and the batches of 40 tables are held at once.
BATCH_CELLS = 60_000


class _Sinks:
    """One sink per versioned table; a span becomes its row (the table's columns, the span)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.sinks = {
            name: rows.ArrowSink(
                con, f"{sql.SCHEMA}.{name}", [(c.name, c.type) for c in all_columns(t)],
                batch=max(rows.INSERT_ROWS, BATCH_CELLS // len(all_columns(t))),
            )
            for name, t in TABLES.items()
        }

    def emit(self, table: str, nct_id: str, span: Span) -> None:
        head = (span.id, nct_id) if TABLES[table].has_id else (nct_id,)
        self.sinks[table].add(
            (*head, *span.row, span.from_version, span.to_version, span.from_date, span.to_date)
        )

    def flush(self) -> dict[str, int]:
        for sink in self.sinks.values():
            sink.flush()
        return {name: sink.rows for name, sink in self.sinks.items()}


def _run_all(con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
    """In one transaction: a commit per statement costs DuckDB a few milliseconds each, and
    the comments are a thousand and more."""
    con.execute("BEGIN")
    for statement in statements:
        con.execute(statement)
    con.execute("COMMIT")


def _versions(conn: Connection, conds: list[Any]) -> Iterator[Any]:
    query: Any = (
        sa.select(
            col(Trial.id).label("trial_id"),
            col(Trial.nct_id),
            col(Snapshot.version),
            col(Snapshot.registry_date),
            col(Snapshot.last_update_posted),
            col(Snapshot.fetched_at),
            col(Snapshot.data_timestamp),
            col(Snapshot.encoding),
            col(Snapshot.base_version),
            col(Snapshot.dict_id),
            col(Snapshot.body),
        )
        .select_from(Trial)
        .join(Snapshot, col(Snapshot.trial_id) == col(Trial.id))
        .where(*conds)
        .order_by(col(Trial.id), col(Snapshot.version))
    )
    yield from rows.stream(conn, query)


def fill(
    engine: Engine,
    con: duckdb.DuckDBPyConnection,
    sel: Selection,
    progress: Progress | None,
    *,
    replace: bool = False,
) -> dict[str, int]:
    """The versioned tables of the selected studies, filled from their stored versions.

    `replace`: the tables are there (an earlier export, inside the caller's transaction) and
    the selected studies' rows are replaced by their whole history, read in the same database
    snapshot (a backfill may have inserted versions before the ones exported)."""
    if not replace:
        _run_all(con, sql.schema_sql())
    sinks = _Sinks(con)
    with rows.snapshot_read(engine) as conn:
        conds = rows.trial_conditions(Session(bind=conn), sel)
        if replace:
            drop_studies(con, conn, conds)
        total = conn.execute(
            sa.select(sa.func.count())
            .select_from(Snapshot)
            .join(Trial, col(Trial.id) == col(Snapshot.trial_id))
            .where(*conds)
        ).scalar_one()
        dictionaries = codec.dictionaries(conn)
        walk: StudySpans | None = None
        decoder: rows.VersionDecoder | None = None
        current = None
        previous: Any = None
        done = 0
        for snap in _versions(conn, conds):
            if snap.trial_id != current:
                if walk is not None:
                    walk.finish()
                current = snap.trial_id
                walk = StudySpans(snap.nct_id, TABLES, Ids.of_trial(current), sinks.emit)
                decoder = rows.VersionDecoder(snap.nct_id, dictionaries)
                previous = None
            assert walk is not None and decoder is not None
            when = date.fromisoformat(store.version_date(snap, previous)[:10])
            previous = snap
            walk.version(snap.version, when, decoder.record(snap))
            done += 1
            if progress is not None and done % 200 == 0:
                progress(done, total, snap.nct_id)
        if walk is not None:
            walk.finish()
    if progress is not None:
        progress(done, total, "")
    # Not one transaction for all the inserts: under DuckDB's memory limit (32 MB) its commit
    # fails at 10,000 studies ("failed to pin block"); fewer, longer batches instead.
    return sinks.flush()


def drop_studies(con: duckdb.DuckDBPyConnection, conn: Connection, conds: list[Any]) -> None:
    """Delete the rows of the studies `conds` select from every versioned table."""
    import pyarrow as pa

    ncts = conn.execute(sa.select(col(Trial.nct_id)).where(*conds)).scalars().all()
    con.register("_aact_replaced", pa.table({"nct_id": pa.array(ncts, pa.string())}))
    try:
        for name in TABLES:
            con.execute(
                f"DELETE FROM {sql.SCHEMA}.{name} "
                "WHERE nct_id IN (SELECT nct_id FROM _aact_replaced)"
            )
    finally:
        con.unregister("_aact_replaced")


def _ours(name: str) -> bool:
    """A name an AACT export writes: a view of the file, a table file or the schema file."""
    stem, _, ext = name.partition(".")
    return (
        name in MAIN_NAMES
        or name in (SCHEMA_FILE, SCHEMA_CSV)
        or (stem in TABLES and ext in ("parquet", "txt"))
    )


def _refusal(target: Path, found: places.Found) -> str | None:
    if not found.exists:
        return None
    if not found.export:
        return f"{target}: not a trialwatch export ({found.why}); --force replaces it"
    foreign = [n for n in found.foreign or [] if not _ours(n)]
    if foreign:
        return (
            f"{target} holds tables trialwatch did not write ({', '.join(foreign)}); "
            "--force replaces it"
        )
    return None


def _update_refusal(
    target: Path, place: Path, found: places.Found, is_file: bool, fmt: str
) -> str | None:
    if not found.exists:
        return f"--since updates an earlier export, and there is none at {target}: {since.AGAIN}"
    if not found.export:
        return (
            f"{target}: not a trialwatch export ({found.why}); start one at another path: "
            f"trialwatch export NEW --format {fmt}"
        )
    if is_file:
        return None  # checked once open; the tables trialwatch did not write are left alone
    return _refusal(target, found) or since.dir_problem(place, target, fmt)


def _write_file(
    engine: Engine, place: Path, found: places.Found, sel: Selection,
    summary: ExportSummary, progress: Progress | None,
) -> None:  # fmt: skip
    building = places.scratch(place, "tmp")
    spill = places.scratch(place, "spill")
    try:
        con = connect(building, spill)
        try:
            summary.tables = fill(engine, con, sel, progress)
            _run_all(con, sql.views_sql())
            summary.views = _views()
            mark(con)
            _run_all(con, analysis.views_sql())  # after the marker: its as-of day
        finally:
            con.close()
        places.replace_file(building, place, found)
    finally:
        places.remove_all([building, building.with_name(building.name + ".wal"), spill])


def _merge_file(
    engine: Engine, place: Path, sel: Selection, summary: ExportSummary,
    progress: Progress | None,
) -> None:  # fmt: skip
    """Into an earlier AACT export: the selected studies' rows replaced in one transaction
    (a kill or a full disk leaves the file as it was)."""
    summary.merged = True
    spill = places.scratch(place, "spill")
    con = connect(place, spill)
    try:
        problem = since.file_problem(con, Path(summary.target))
        if problem:
            raise ExportError(problem)
        con.execute("BEGIN")
        try:
            fill(engine, con, sel, progress, replace=True)
            mark(con)
            for statement in analysis.views_sql():  # an earlier file's views, made again
                con.execute(statement)
            con.execute("COMMIT")
        except BaseException:
            with suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        summary.tables = _counts(con)
        summary.views = _views()
    finally:
        con.close()
        places.remove_all([spill])


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    out = {}
    for name in TABLES:
        (n,) = con.execute(f"SELECT count(*) FROM {sql.SCHEMA}.{name}").fetchone() or (0,)
        out[name] = n
    return out


def _views() -> list[str]:
    return [
        *(f"{s}.*" for s in (*sql.VIEW_SCHEMAS, sql.AS_OF_SCHEMA)),
        "aact_as_of(table, day)",
        *analysis.VIEWS,
    ]


def _write_dir(
    engine: Engine, place: Path, sel: Selection, summary: ExportSummary,
    progress: Progress | None,
) -> None:  # fmt: skip
    """One file per versioned table (Parquet with the dictionary as key-value metadata, or
    pipe-delimited text with a schema file), filled from a scratch DuckDB file, swapped in.
    An update (`summary.merged`) reads the folder's files back first and replaces the selected
    studies' rows."""
    db = places.scratch(place, "tmp", ".duckdb")
    scratch_db = [db, db.with_name(db.name + ".wal"), places.scratch(place, "spill")]
    new = places.scratch(place, "new")
    try:
        new.mkdir()
        con = connect(db, scratch_db[2])
        try:
            if summary.merged:
                _run_all(con, sql.schema_sql())
                since.read_back(con, place, summary.format)
                fill(engine, con, sel, progress, replace=True)
                summary.tables = _counts(con)
            else:
                summary.tables = fill(engine, con, sel, progress)
            for name, table in TABLES.items():
                source = f"{sql.SCHEMA}.{name}"
                if summary.format == FLAT:
                    path = sql.quote(str(new / f"{name}.txt"))
                    con.execute(f"COPY {source} TO {path} (FORMAT csv, DELIMITER '|', HEADER)")
                else:
                    path = sql.quote(str(new / f"{name}.parquet"))
                    meta = sql.parquet_metadata(table)
                    copy_parquet(con, source, path, f", KV_METADATA {meta}")
        finally:
            con.close()
        places.remove_all(scratch_db)
        if summary.format == FLAT:
            (new / SCHEMA_FILE).write_text(sql.schema_file(), encoding="utf-8")
            (new / SCHEMA_CSV).write_text(sql.schema_csv(), encoding="utf-8")
        at = datetime.now(UTC).isoformat()
        (new / places.MARKER_FILE).write_bytes(
            places.marker_json(summary.format, summary.tables, summary.since, at)
        )
        places.fsync_tree(new)
        places.swap_in(new, place)
    finally:
        places.remove_all([*scratch_db, new])


def export_aact(
    engine: Engine,
    target: Path,
    sel: Selection | None = None,
    progress: Progress | None = None,
    force: bool = False,
    fmt: str = FORMAT,
) -> ExportSummary:
    """Write the AACT tables of the selected studies: into a DuckDB file (`target`
    FILE.duckdb), or a folder of Parquet files (`aact`) or pipe-delimited files (`aact-txt`).

    With `sel.since`, an update of an earlier AACT export at the target: the rows of the
    studies with something new since that day are replaced by their whole history, the
    others' kept, so that it equals a whole export of the same state."""
    started = clock.monotonic()
    sel = sel or Selection()
    is_file = target.suffix == ".duckdb"
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use {' or '.join(FORMATS)}")
    if is_file and fmt == FLAT:
        raise ExportError("--format aact-txt writes a folder: name a directory, not FILE.duckdb")
    with Session(engine) as session:
        rows.trial_conditions(session, sel)  # an unknown trial or watch: before any file
    check_target(target, is_file=is_file)
    place = place_of(target)
    summary = ExportSummary(
        target=str(target),
        format="duckdb/aact" if is_file else fmt,
        since=sel.since.isoformat() if sel.since else None,
    )
    with write_errors(target, place):
        places.clean(place)
        found = places.inspect_file(place) if is_file else places.inspect_dir(place)
        if sel.since is not None:
            # An update needs the earlier export whole: --force cannot stand in for it.
            refusal = _update_refusal(target, place, found, is_file, fmt)
            if refusal:
                raise ExportError(refusal)
            summary.merged = True
        refusal = None if summary.merged else _refusal(target, found)
        if refusal and not force:
            raise ExportError(refusal)
        if is_file and summary.merged:
            _merge_file(engine, place, sel, summary, progress)
        elif is_file:
            _write_file(engine, place, found, sel, summary, progress)
        else:
            _write_dir(engine, place, sel, summary, progress)
    summary.seconds = clock.monotonic() - started
    return summary
