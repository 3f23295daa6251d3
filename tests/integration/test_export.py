"""Exports: the stored history as DuckDB, Parquet and CSV tables, reopened and checked in DuckDB."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlmodel import col, select

from models import Change, Watch, WatchEvent
from models.db import session_scope
from sync.core.diff import walk as differ
from sync.ingest import backfill as history
from sync.ingest.run import run_sync, track
from sync.report import export
from sync.report.export_sql import TABLES, VIEWS, views_sql
from sync.testing.factory import (
    make_study,
    nct,
    samples_dir,
    with_enrollment,
    with_last_update,
    with_status,
)
from tests.support import PROJECT_ROOT
from tests.support.history_capture import NCT, capture, current_markdown, serve

# What DuckDB reports for each declared type when a table is reopened.
REOPENED = {
    "VARCHAR": "VARCHAR",
    "JSON": "JSON",
    "INTEGER": "INTEGER",
    "BIGINT": "BIGINT",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
    "VARCHAR[]": "VARCHAR[]",
}


def _types(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}


def _expected_types(table: str, in_files: bool = False) -> dict[str, str]:
    # Parquet files hold JSON as UTF-8 text (Polars reads DuckDB's JSON type as binary).
    kinds = {**REOPENED, "JSON": "VARCHAR"} if in_files else REOPENED
    return {column: kinds[kind] for column, kind in TABLES[table]}


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _backfilled(engine: Any, fake: Any, client: Any) -> None:
    serve(fake)
    with session_scope(engine) as s:
        track(s, [NCT])
    assert history.backfill(engine, client, [NCT]).outcome == "ok"


# -- the history sample ----------------------------------------------------------------------


def test_duckdb_file_reopens_with_typed_tables_and_views(engine, fake_ctgov, client, tmp_path):
    _backfilled(engine, fake_ctgov, client)
    target = tmp_path / "out" / "history.duckdb"
    summary = export.export(engine, target)
    assert summary.tables["versions"] == 10 and summary.tables["trials"] == 1
    assert summary.views == list(VIEWS)
    con = duckdb.connect(str(target), read_only=True)
    for table in TABLES:
        assert _types(con, table) == _expected_types(table), table
    for view in VIEWS:
        con.execute(f"SELECT * FROM {view}").fetchall()
    versions = _rows(con, "SELECT * FROM versions ORDER BY version")
    listed = capture()["history"]["changes"]
    assert [(v["version"], v["registry_version"], v["origin"]) for v in versions] == [
        (e["version"] + 1, e["version"], "history") for e in listed
    ]
    assert [v["version_date"] for v in versions] == [date.fromisoformat(e["date"]) for e in listed]
    assert [v["overall_status"] for v in versions] == [e["status"] for e in listed]
    first, last = versions[0], versions[-1]
    assert (first["enrollment_count"], first["enrollment_type"]) == (30, "ESTIMATED")
    assert (last["enrollment_count"], last["enrollment_type"]) == (16, "ACTUAL")
    assert (first["start_date"], first["start_date_type"]) == (date(2018, 10, 1), "ESTIMATED")
    assert (last["primary_completion_date"], last["primary_completion_date_type"]) == (
        date(2020, 4, 27),
        "ACTUAL",
    )
    assert first["site_count"] == 0 and last["site_count"] == 10
    assert last["countries"] and last["lead_sponsor"]
    trial = _rows(con, "SELECT * FROM trials")[0]
    assert (trial["nct_id"], trial["latest_version"], trial["overall_status"]) == (
        NCT,
        10,
        "COMPLETED",
    )
    assert trial["last_update_posted"] == last["last_update_posted"]


def test_status_spans_match_the_registry_dates(engine, fake_ctgov, client, tmp_path) -> None:
    _backfilled(engine, fake_ctgov, client)
    target = tmp_path / "h.duckdb"
    export.export(engine, target)
    # The registry's own version list: a span starts on the date of the first version with
    # that status and ends on the date of the next status.
    expected: list[dict[str, Any]] = []
    for entry in capture()["history"]["changes"]:
        day = date.fromisoformat(entry["date"])
        if expected and expected[-1]["overall_status"] == entry["status"]:
            expected[-1]["to_version"] = entry["version"] + 1
            continue
        if expected:
            expected[-1]["ended"] = day
            expected[-1]["days"] = (day - expected[-1]["started"]).days
        expected.append(
            {
                "nct_id": NCT,
                "overall_status": entry["status"],
                "from_version": entry["version"] + 1,
                "to_version": entry["version"] + 1,
                "started": day,
                "ended": None,
                "days": None,
            }
        )
    assert [e["overall_status"] for e in expected] == [
        "NOT_YET_RECRUITING", "RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED",
    ]  # fmt: skip
    con = duckdb.connect(str(target), read_only=True)
    assert _rows(con, "SELECT * FROM status_spans ORDER BY started") == expected


def test_completion_slips_and_enrollment_drift(engine, fake_ctgov, client, tmp_path) -> None:
    _backfilled(engine, fake_ctgov, client)
    target = tmp_path / "h.duckdb"
    export.export(engine, target)
    con = duckdb.connect(str(target), read_only=True)
    slips = con.execute(
        "SELECT version, primary_completion_date, slip_days FROM completion_slips ORDER BY version"
    ).fetchall()
    # 2019-12 (month-only: its first day) until v8, 2020-06 at v9, 2020-04-27 at v10.
    assert slips[0] == (1, date(2019, 12, 1), 0)
    assert slips[8] == (9, date(2020, 6, 1), 183)
    assert slips[9] == (10, date(2020, 4, 27), 148)
    drift = _rows(con, "SELECT * FROM enrollment_drift")
    assert drift == [
        {
            "nct_id": NCT,
            "first_target": 30,
            "latest_target": 30,
            "actual": 16,
            "target_change": 0,
            "actual_share_of_first_target": pytest.approx(0.533),
            "latest_version": 10,
        }
    ]
    by_country = con.execute(
        "SELECT version, sum(sites), sum(recruiting) FROM sites_by_country GROUP BY version "
        "ORDER BY version"
    ).fetchall()
    # Sites 2, 4, 5, 7, 8, 10 recruiting from registry v1 to v6; at v7 the statuses go.
    assert by_country == [
        (2, 2, 2), (3, 4, 4), (4, 5, 5), (5, 7, 7), (6, 8, 8), (7, 10, 10), (8, 10, 0),
        (9, 10, 0), (10, 10, 0),
    ]  # fmt: skip


def test_changes_are_exactly_what_history_shows(cli, fake_ctgov, tmp_path) -> None:
    serve(fake_ctgov, polled=current_markdown())
    assert cli("add", NCT).exit_code == 0
    assert cli("sync").exit_code == 0
    assert cli("backfill", NCT).exit_code == 0
    items = cli("history", NCT, "--json").json()
    out = tmp_path / "parquet"
    r = cli("export", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["format"] == "parquet"
    con = duckdb.connect()
    rows = _rows(con, f"SELECT * FROM '{out}/changes.parquet' ORDER BY to_version, change_id")
    assert len(rows) == sum(i["changes"] for i in items) > 0
    versions = {
        v["version"]: v
        for v in _rows(con, f"SELECT version, last_update_posted FROM '{out}/versions.parquet'")
    }
    for item in items:
        mine = [c for c in rows if c["to_version"] == item["version"]]
        rebuilt = [
            differ.FieldChange(
                category=c["category"],
                path=c["path"],
                old=json.loads(c["old"]) if c["old"] is not None else None,
                new=json.loads(c["new"]) if c["new"] is not None else None,
                summary=c["summary"],
                severity=c["severity"],
                detail=json.loads(c["detail"]) if c["detail"] is not None else None,
            )
            for c in mine
        ]
        assert differ.summarise(rebuilt) == item["summaries"], item["version"]
        assert all(c["from_version"] == item["version"] - 1 for c in mine)
        assert {c["last_update_posted"] for c in mine} <= {
            versions[item["version"]]["last_update_posted"]
        }
    # Parquet users run the manual's view SQL (docs/how-to/exports.md) over the files.
    for table in ("versions", "sites"):
        con.execute(f"CREATE VIEW {table} AS FROM '{out}/{table}.parquet'")
    con.execute(views_sql())
    spans = con.execute("SELECT overall_status, days FROM status_spans ORDER BY started")
    assert spans.fetchall() == [
        ("NOT_YET_RECRUITING", 19), ("RECRUITING", 273), ("ACTIVE_NOT_RECRUITING", 286),
        ("COMPLETED", None),
    ]  # fmt: skip
    # Each change carries the kind and importance of the event history shows it under.
    for item in items:
        mine = [c for c in rows if c["to_version"] == item["version"]]
        exported = Counter((c["event_kind"], c["event_importance"]) for c in mine)
        shown: Counter[tuple[str, str]] = Counter()
        for e in item["events"]:
            shown[(e["kind"], e["importance"])] += e["count"]
        assert exported == shown, item["version"]
    assert all(c["event_kind"] and c["event_importance"] for c in rows)


# -- real pairs ------------------------------------------------------------------------------


def _real_versions() -> dict[str, list[dict[str, Any]]]:
    folder = samples_dir() / "versions"
    return {
        d.name: [json.loads(p.read_text(encoding="utf-8")) for p in sorted(d.glob("*.json"))]
        for d in sorted(folder.iterdir())
        if len(list(d.glob("*.json"))) >= 2
    }


def test_real_version_pairs_export_every_stored_change(engine, fake_ctgov, client, tmp_path):
    studies = _real_versions()
    with session_scope(engine) as s:
        track(s, list(studies))
    for step in range(max(len(v) for v in studies.values())):
        for captures in studies.values():
            fake_ctgov.put(captures[min(step, len(captures) - 1)])
        fake_ctgov.bump()
        assert run_sync(engine, client, full=True).outcome == "ok"
    with session_scope(engine) as s:
        stored = s.exec(
            select(Change.id).where(col(Change.to_version) == col(Change.from_version) + 1)
        ).all()
    out = tmp_path / "dir"
    summary = export.export(engine, out)
    assert summary.tables["changes"] == len(stored) > 100
    con = duckdb.connect()
    for table in TABLES:
        source = f"'{out}/{table}.parquet'"
        assert _types(con, source) == _expected_types(table, in_files=True), table
    ids = {r[0] for r in con.execute(f"SELECT change_id FROM '{out}/changes.parquet'").fetchall()}
    assert ids == set(stored)
    per_trial = dict(
        con.execute(
            f"SELECT nct_id, max(version) FROM '{out}/versions.parquet' GROUP BY nct_id"
        ).fetchall()
    )
    latest = dict(
        con.execute(f"SELECT nct_id, latest_version FROM '{out}/trials.parquet'").fetchall()
    )
    assert per_trial == latest and set(latest) == set(studies)
    # NCT04736173 drops 43 sites in its second capture: each closes at the version before.
    closed = con.execute(
        f"SELECT count(*) FROM '{out}/sites.parquet' WHERE nct_id = 'NCT04736173' "
        "AND valid_to_version IS NOT NULL"
    ).fetchone()
    assert closed is not None and closed[0] >= 43


# -- site spans ------------------------------------------------------------------------------


def test_a_site_in_versions_one_to_three_only_has_one_span(engine, fake_ctgov, client, tmp_path):
    sites = [("Gone Hospital", "Lyon", "France"), ("Stays Clinic", "Boston", "United States")]
    v1 = make_study(nct(7), sites=sites, last_update="2026-01-10")
    v2 = with_last_update(with_enrollment(v1, 40, "ESTIMATED"), "2026-02-10")
    v3 = with_last_update(with_status(v2, "ACTIVE_NOT_RECRUITING"), "2026-03-10")
    v4 = with_last_update(v3, "2026-04-10")
    v4["protocolSection"]["contactsLocationsModule"]["locations"] = [
        loc
        for loc in v4["protocolSection"]["contactsLocationsModule"]["locations"]
        if loc["facility"] != "Gone Hospital"
    ]
    with session_scope(engine) as s:
        track(s, [nct(7)])
    for study in (v1, v2, v3, v4):
        fake_ctgov.put(study)
        fake_ctgov.bump()
        assert run_sync(engine, client, full=True).outcome == "ok"
    target = tmp_path / "s.duckdb"
    export.export(engine, target)
    con = duckdb.connect(str(target), read_only=True)
    spans = _rows(
        con,
        "SELECT facility, valid_from_version, valid_to_version, valid_from, valid_to "
        "FROM sites ORDER BY facility",
    )
    assert spans == [
        {
            "facility": "Gone Hospital",
            "valid_from_version": 1,
            "valid_to_version": 3,
            "valid_from": date(2026, 1, 10),
            "valid_to": date(2026, 4, 10),
        },
        {
            "facility": "Stays Clinic",
            "valid_from_version": 1,
            "valid_to_version": None,
            "valid_from": date(2026, 1, 10),
            "valid_to": None,
        },
    ]
    # "Which sites were there on a date" is one query.
    on = "SELECT facility FROM sites WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
    assert con.execute(on, [date(2026, 3, 31)] * 2).fetchall() == [
        ("Gone Hospital",),
        ("Stays Clinic",),
    ]
    assert con.execute(on, [date(2026, 4, 10)] * 2).fetchall() == [("Stays Clinic",)]


# -- selections, incremental, CSV, watch events -----------------------------------------------


def _seed_three(engine: Any, fake: Any, client: Any) -> None:
    with session_scope(engine) as s:
        track(s, [nct(1), nct(2), nct(3)])
    for i in (1, 2, 3):
        fake.put(make_study(nct(i), sites=[(f"Site {i}", "Paris", "France")]))
    fake.bump()
    assert run_sync(engine, client).outcome == "ok"


def _table(path: Path, table: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def test_since_updates_a_duckdb_file_to_what_a_full_export_gives(
    engine, fake_ctgov, client, tmp_path
) -> None:
    _seed_three(engine, fake_ctgov, client)
    target = tmp_path / "inc.duckdb"
    export.export(engine, target)
    changed = with_status(fake_ctgov.get(nct(2)), "SUSPENDED")
    fake_ctgov.put(with_last_update(changed, "2026-11-02"))
    fake_ctgov.bump()
    assert run_sync(engine, client, full=True).outcome == "ok"
    today = date.today()
    summary = export.export(engine, target, sel=export.Selection(since=today))
    assert summary.merged and summary.tables["versions"] >= 2
    full = tmp_path / "full.duckdb"
    export.export(engine, full)
    for table in TABLES:
        assert _table(target, table) == _table(full, table), table
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute(
        "SELECT overall_status FROM status_spans WHERE nct_id = ? ORDER BY started", [nct(2)]
    ).fetchall() == [("RECRUITING",), ("SUSPENDED",)]
    con.close()
    # Nothing new since tomorrow: nothing exported, nothing lost.
    later = export.export(
        engine, target, sel=export.Selection(since=date.fromordinal(today.toordinal() + 1))
    )
    assert later.tables["trials"] == 0
    assert _table(target, "versions") == _table(full, "versions")


def test_trial_and_watch_selections_and_csv(engine, fake_ctgov, client, tmp_path) -> None:
    _seed_three(engine, fake_ctgov, client)
    with session_scope(engine) as s:
        watch = Watch(name="w", params={"term": "x"})
        s.add(watch)
        s.flush()
        for n, event in ((nct(1), "entered"), (nct(3), "left")):
            s.add(WatchEvent(watch_id=watch.id, nct_id=n, event=event, reason="r", summary=n))
    out = tmp_path / "csv"
    summary = export.export(engine, out, "csv", export.Selection(trials=[nct(1)]))
    assert summary.tables["trials"] == 1 and summary.tables["watch_events"] == 1
    con = duckdb.connect()
    assert con.execute(f"SELECT nct_id, version FROM '{out}/versions.csv'").fetchall() == [
        (nct(1), 1)
    ]
    assert _types(con, f"'{out}/versions.csv'")["version_date"] == "DATE"
    everyone = export.export(engine, tmp_path / "all", sel=export.Selection(watch="w"))
    # Untracked by the watch (no WatchMatch rows here): its events still come out.
    assert everyone.tables["watch_events"] == 2
    events = _rows(con, f"SELECT * FROM '{tmp_path}/all/watch_events.parquet' ORDER BY event_id")
    assert [(e["watch"], e["nct_id"], e["event"]) for e in events] == [
        ("w", nct(1), "entered"),
        ("w", nct(3), "left"),
    ]
    # No scratch left behind: the tables and the marker that says whose folder this is.
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == sorted(
        [f"{t}.parquet" for t in TABLES] + [".trialwatch-export.json"]
    )
    assert not [p for p in tmp_path.iterdir() if "trialwatch-" in p.name]


def test_the_manual_prints_the_view_sql() -> None:
    page = (PROJECT_ROOT / "docs" / "how-to" / "exports.md").read_text(encoding="utf-8")
    assert views_sql().strip() in page


# -- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--trial", "NCT99999999"], "not tracked: NCT99999999"),
        (["--trial", "banana"], "banana"),
        (["--watch", "nope"], "no watch named 'nope'"),
        (["--since", "2026-13-01"], "is not a date"),
        (["--format", "xlsx"], "unknown format 'xlsx'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, args, says) -> None:
    r = cli("export", str(tmp_path / "x"), *args)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # nothing written


def test_unwritable_targets_exit_2(cli, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli("export", str(blocker / "out"))
    assert r.exit_code == 2 and "cannot create" in r.stderr
    (tmp_path / "d.duckdb").mkdir()
    r = cli("export", str(tmp_path / "d.duckdb"))
    assert r.exit_code == 2 and "is a directory" in r.stderr
    r = cli("export", "/proc/trialwatch-export-test.duckdb")
    assert r.exit_code == 2 and "cannot write" in r.stderr, r.stderr
    r = cli("export", str(tmp_path / "x.duckdb"), "--format", "csv")
    assert r.exit_code == 2 and "--format is for a directory" in r.stderr


def test_cli_json_summary(cli, fake_ctgov, tmp_path) -> None:
    fake_ctgov.put(make_study(nct(5)))
    cli("add", nct(5))
    assert cli("sync").exit_code == 0
    r = cli("export", str(tmp_path / "t.duckdb"), "--json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert data["format"] == "duckdb" and data["tables"]["versions"] == 1
    assert data["views"] == list(VIEWS)
    human = cli("export", str(tmp_path / "p"))
    assert human.exit_code == 0 and "versions 1" in human.stdout
