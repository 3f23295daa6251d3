"""`export --format aact`: the real samples synced (real successive versions, a backfilled
history), exported into AACT's tables in DuckDB, and read back against the raw JSON."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from models.db import session_scope
from sync.aact import sql
from sync.aact.catalog import TABLES
from sync.aact.table import Row, Table, all_columns
from sync.ingest import backfill as history
from sync.ingest.run import track
from tests.support import aact_queries as published
from tests.support.aact_samples import Capture, in_force, stored_versions, stories, sync_all
from tests.support.history_capture import NCT, SITES_AT, capture, serve


def _export(cli, target: Path) -> duckdb.DuckDBPyConnection:  # type: ignore[no-untyped-def]
    r = cli("export", str(target), "--format", "aact")
    assert r.exit_code == 0, r.stderr
    return duckdb.connect(str(target), read_only=True)


def _plain(table: Table) -> list[int]:
    """Positions of the table's own columns that are not references (ids)."""
    return [i for i, c in enumerate(table.columns) if c.name not in table.refs]


def _resolve(table: Table, row: Row, parents: dict[str, Any]) -> Row:
    """The row with each reference replaced by the (resolved) row it refers to."""
    own = list(row)
    for column, target in table.refs.items():
        i = table.names.index(column)
        own[i] = parents[target][own[i]] if own[i] is not None else None
    return tuple(own)


def _exported_as_of(
    con: duckdb.DuckDBPyConnection, name: str, nct: str, day: date, parents: dict[str, Any]
) -> Counter[Row]:
    """The table's rows of one study on `day` from aact_as_of, references resolved (so that
    they compare with rows computed from the raw JSON, whose references are positions)."""
    table = TABLES[name]
    cols = ", ".join(c.name for c in table.columns)
    head = "id, " if table.has_id else "NULL, "
    rows = con.execute(
        f"SELECT {head}{cols} FROM aact_as_of(?, ?) WHERE nct_id = ?", [name, day, nct]
    ).fetchall()
    resolved = {r[0]: _resolve(table, tuple(r[1:]), parents) for r in rows}
    parents[name] = resolved
    return Counter(_resolve(table, tuple(r[1:]), parents) for r in rows)


def _expected(name: str, study: dict[str, Any] | None, parents: dict[str, Any]) -> Counter[Row]:
    table = TABLES[name]
    rows = [_resolve(table, r, parents) for r in (table.rows(study) if study else [])]
    parents[name] = dict(enumerate(rows))
    return Counter(rows)


def _days(caps: list[Capture]) -> list[date]:
    """Each capture's day, the day before the first, and today."""
    days = sorted({d for d, _ in caps})
    return [days[0] - timedelta(days=1), *days, date.today()]


def test_real_samples_give_every_table_and_the_state_of_each_day(cli, fake_ctgov, engine, tmp_path):
    captured = stories()
    stored = sync_all(cli, fake_ctgov, captured)
    con = _export(cli, tmp_path / "aact.duckdb")
    # The versions as stored (captures that differ in registry dates only are not versions),
    # each one of the real captures.
    told = stored_versions(engine)
    assert set(told) == set(captured)
    for nct, versions in told.items():
        raw = [json.dumps(s, sort_keys=True) for _, s in captured[nct]]
        assert all(json.dumps(s, sort_keys=True) in raw for _, s in versions), nct
    counts = {
        n: con.execute(f"SELECT count(*) FROM aact_history.{n}").fetchone()[0] for n in TABLES
    }
    assert all(counts.values()), counts  # every table filled from real records
    # The state on each chosen day is that day's capture, table by table.
    for nct, caps in told.items():
        for day in _days(caps):
            study = in_force(caps, day)
            got_parents: dict[str, Any] = {}
            want_parents: dict[str, Any] = {}
            for name in TABLES:
                got = _exported_as_of(con, name, nct, day, got_parents)
                assert got == _expected(name, study, want_parents), (nct, day, name)
    # The current-state views under AACT's names, in main and in ctgov, are the last capture.
    for nct, caps in told.items():
        for schema in sql.VIEW_SCHEMAS:
            (n,) = con.execute(
                f"SELECT count(*) FROM {schema}.facilities WHERE nct_id = ?", [nct]
            ).fetchone()
            assert n == len(TABLES["facilities"].rows(caps[-1][1])), (schema, nct)
    # Rows unchanged across versions are held once: a study with several versions has fewer
    # facility rows than the sum over its versions, and no span starts where its twin ended.
    multi = [n for n, v in stored.items() if v > 1]
    assert multi
    for name in TABLES:
        same = " AND ".join(
            f"a.{c.name} IS NOT DISTINCT FROM b.{c.name}" for c in TABLES[name].columns
        )
        (repeated,) = con.execute(
            f"SELECT count(*) FROM aact_history.{name} a JOIN aact_history.{name} b "
            "ON a.nct_id = b.nct_id AND b.valid_from_version = a.valid_to_version + 1 "
            f"AND {same}"
        ).fetchone()
        assert repeated == 0, name
    # Every row's span starts at a version's day and ends at the next one's.
    for nct, caps in told.items():
        days = {d for d, _ in caps}
        spans = con.execute(
            "SELECT valid_from, valid_to, valid_from_version, valid_to_version "
            "FROM aact_history.studies WHERE nct_id = ? ORDER BY valid_from_version",
            [nct],
        ).fetchall()
        assert spans[-1][1] is None and spans[-1][3] is None
        assert {s[0] for s in spans} <= days
        for a, b in zip(spans, spans[1:], strict=False):
            assert a[1] == b[0] and a[3] + 1 == b[2]
    # The dictionary: every table and column of the file is described.
    undescribed = con.execute(
        "SELECT schema_name || '.' || table_name || '.' || column_name FROM duckdb_columns() "
        "WHERE schema_name IN ('aact_history', 'main', 'ctgov', 'as_of') AND NOT internal "
        "AND table_name <> 'trialwatch_export' AND (comment IS NULL OR comment = '')"
    ).fetchall()
    assert not undescribed
    _published_queries_give_the_raw_answers(con, {n: v[-1][1] for n, v in told.items()})
    # The same (unqualified) queries, unchanged, on past days: the as_of views and the day
    # variable (a query naming ctgov.* reads the current state).
    for day in (date(2026, 2, 10), date(2026, 3, 1)):
        con.execute(f"SET VARIABLE aact_day = DATE '{day}'")
        con.execute("SET schema = 'as_of'")
        then = {n: s for n, v in told.items() if (s := in_force(v, day)) is not None}
        rows = con.execute(published.PHASE2_STUDIES).fetchall()
        assert {r[0] for r in rows} == published.phase2_studies(then), day
        rows = con.execute(published.LEAD_SPONSORS).fetchall()
        assert {(r[0], r[1]) for r in rows} == published.lead_sponsors(then), day
        con.execute("SET schema = 'main'")
    tables = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE schema_name = 'aact_history' AND comment IS NOT NULL"
    ).fetchone()[0]
    assert tables == len(TABLES)
    con.close()


def _published_queries_give_the_raw_answers(
    con: duckdb.DuckDBPyConnection, current: dict[str, dict[str, Any]]
) -> None:
    """AACT queries from public sources, run unchanged on the current-state views."""
    rows = con.execute(published.PHASE2_STUDIES).fetchall()
    assert {r[0] for r in rows} == published.phase2_studies(current) != set()
    rows = con.execute(published.LEAD_SPONSORS).fetchall()
    assert {(r[0], r[1]) for r in rows} == published.lead_sponsors(current)
    assert len(rows) == len(current)
    assert con.execute(published.ALZHEIMER_RECRUITING_OLD).fetchall() == []
    rows = con.execute(published.SITE_INVESTIGATORS).fetchall()
    assert sorted(rows, key=repr) == sorted(published.site_investigators(current), key=repr)
    assert rows
    rows = con.execute(published.SITE_FOOTPRINT_BY_PHASE).fetchall()
    assert {r[0]: (r[1], r[2], r[4]) for r in rows} == published.site_footprint(current)
    assert rows


def test_a_backfilled_history_has_its_spans_on_the_registrys_dates(
    engine, fake_ctgov, client, tmp_path
):
    from sync.aact.export import export_aact

    serve(fake_ctgov)
    with session_scope(engine) as s:
        track(s, [NCT])
    assert history.backfill(engine, client, [NCT]).outcome == "ok"
    target = tmp_path / "history.duckdb"
    summary = export_aact(engine, target)
    assert summary.tables["studies"] == 10  # every version moves its last-update date
    con = duckdb.connect(str(target), read_only=True)
    dates = [date.fromisoformat(c["date"]) for c in capture()["history"]["changes"]]
    spans = con.execute(
        "SELECT valid_from_version, valid_from, valid_to FROM aact_history.studies ORDER BY 1"
    ).fetchall()
    assert [s[1] for s in spans] == dates
    # The sites as of each version's day: none at v0, then 2, 4, 5, 7, 8, 10, then 10 more.
    for version, day in enumerate(dates):
        (n,) = con.execute("SELECT count(*) FROM aact_as_of('facilities', ?)", [day]).fetchone()
        assert n == SITES_AT.get(version, 10), version
    # Sites that stayed are one row each until v7 changed their status.
    (held,) = con.execute(
        "SELECT count(*) FROM aact_history.facilities "
        "WHERE valid_from_version = 2 AND valid_to_version = 7"
    ).fetchone()
    assert held == SITES_AT[1]
    con.close()


def test_aact_format_refuses_what_it_cannot_write_in_one_line(cli, tmp_path):
    for args, says in (
        ((str(tmp_path / "a.duckdb"), "--format", "aact-txt"), "folder"),
        ((str(tmp_path / "a.duckdb"), "--format", "aact", "--since", "2026-01-01"), "none"),
        ((str(tmp_path / "a.duckdb"), "--format", "aact", "--trial", "NCT90000001"), "not tracked"),
    ):
        r = cli("export", *args)
        assert r.exit_code == 2, r.stdout + r.stderr
        assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "a.duckdb").exists()
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE mine (x INTEGER)").close()
    r = cli("export", str(other), "--format", "aact")
    assert r.exit_code == 2 and "not a trialwatch export" in r.stderr
    r = cli("export", str(other), "--format", "aact", "--force")
    assert r.exit_code == 0, r.stderr
    r = cli("export", str(other), "--format", "aact")  # its own export: replaced without --force
    assert r.exit_code == 0, r.stderr


def test_parquet_and_flat_files_hold_the_same_rows_with_the_dictionary(cli, fake_ctgov, tmp_path):
    import pyarrow.parquet as pq

    told = {n: v for n, v in stories().items() if n in ("NCT04514484", "NCT00567567")}
    sync_all(cli, fake_ctgov, told)
    con = _export(cli, tmp_path / "aact.duckdb")
    for fmt, folder in (("aact", tmp_path / "parquet"), ("aact-txt", tmp_path / "flat")):
        r = cli("export", str(folder), "--format", fmt)
        assert r.exit_code == 0, r.stderr
    flat = duckdb.connect()
    flat.execute((tmp_path / "flat" / "schema.sql").read_text(encoding="utf-8"))
    for name, table in TABLES.items():
        want = sorted(con.execute(f"SELECT * FROM aact_history.{name}").fetchall(), key=repr)
        path = tmp_path / "parquet" / f"{name}.parquet"
        got = sorted(duckdb.sql(f"SELECT * FROM '{path}'").fetchall(), key=repr)
        assert got == want, name
        meta = pq.read_metadata(path).metadata
        described = json.loads(meta[b"trialwatch:columns"])
        assert list(described) == [c.name for c in all_columns(table)]
        assert all(described.values()) and meta[b"trialwatch:table"]
        # The flat file, read with the schema file's types, is the same table.
        text = tmp_path / "flat" / f"{name}.txt"
        flat.execute(
            f"INSERT INTO aact_history.{name} SELECT * FROM read_csv('{text}', delim='|', "
            f"header=true, columns={_csv_columns(table)})"
        )
        got = sorted(flat.execute(f"SELECT * FROM aact_history.{name}").fetchall(), key=repr)
        assert got == want, name
    (comment,) = flat.execute(
        "SELECT comment FROM duckdb_columns() "
        "WHERE table_name = 'studies' AND column_name = 'phase'"
    ).fetchone()
    assert "joined with '/'" in comment


def _csv_columns(table: Table) -> str:
    return "{" + ", ".join(f"'{c.name}': '{c.type}'" for c in all_columns(table)) + "}"
