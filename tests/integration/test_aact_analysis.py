"""The analysis views of an AACT export (status_spans, date_slips, enrollment_drift,
sites_over_time) on the real successive versions of ctgov/versions, each answer checked
against what the raw JSON of the stored versions says, computed here without the export."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import duckdb

from sync.aact.analysis import VIEWS
from tests.support.aact_samples import Capture, stored_versions, stories, sync_all


def _status(study: dict[str, Any]) -> Any:
    return study["protocolSection"]["statusModule"].get("overallStatus")


def _runs(caps: list[Capture], key: Any) -> list[tuple[Any, int, int | None, date, date | None]]:
    """Consecutive versions (numbered from 1) with the same key(record): (key, first version,
    last version or None while current, first day, next run's first day or None)."""
    marked = [(key(s), n, d) for n, (d, s) in enumerate(caps, start=1)]
    groups = [list(g) for _, g in groupby(marked, key=lambda m: m[0])]
    out = []
    for i, g in enumerate(groups):
        last = i == len(groups) - 1
        out.append(
            (
                g[0][0],
                g[0][1],
                None if last else g[-1][1],
                g[0][2],
                None if last else groups[i + 1][0][2],
            )
        )
    return out


def _aact_day(text: str) -> date:
    """A registry date as AACT stores it (month-only: its last day; year-only: 31 December)."""
    parts = [int(p) for p in text.split("-")]
    if len(parts) == 1:
        return date(parts[0], 12, 31)
    if len(parts) == 2:
        return date(parts[0], parts[1], calendar.monthrange(parts[0], parts[1])[1])
    return date(*parts)


STRUCTS = {
    "start": "startDateStruct",
    "primary_completion": "primaryCompletionDateStruct",
    "completion": "completionDateStruct",
}


def _milestone(study: dict[str, Any], name: str) -> tuple[Any, Any]:
    struct = study["protocolSection"]["statusModule"].get(STRUCTS[name]) or {}
    return struct.get("date"), struct.get("type")


def _enrollment(study: dict[str, Any]) -> tuple[Any, Any]:
    info = study["protocolSection"].get("designModule", {}).get("enrollmentInfo") or {}
    return info.get("count"), info.get("type")


def _locations(study: dict[str, Any]) -> list[dict[str, Any]]:
    found = study["protocolSection"].get("contactsLocationsModule", {}).get("locations")
    return [loc for loc in found or [] if isinstance(loc, dict)]


def _rows(con: duckdb.DuckDBPyConnection, query: str, *args: Any) -> list[dict[str, Any]]:
    cur = con.execute(query, list(args))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_analysis_views_answer_as_the_raw_versions_do(cli, fake_ctgov, engine, tmp_path: Path):
    root = stories()
    told = {n: caps for n, caps in root.items() if len(caps) > 1}
    sync_all(cli, fake_ctgov, told)
    before = datetime.now(UTC).date()
    target = tmp_path / "aact.duckdb"
    r = cli("export", str(target), "--format", "aact")
    assert r.exit_code == 0, r.stderr
    after = datetime.now(UTC).date()
    con = duckdb.connect(str(target), read_only=True)
    stored = stored_versions(engine)
    (as_of,) = con.execute(
        "SELECT DISTINCT ended_or_as_of FROM status_spans WHERE is_current"
    ).fetchone()
    assert before <= as_of <= after
    slipped = moved = drifted = changed_status = 0
    for nct, caps in stored.items():
        # status_spans: one row per run of a status, the current one closed by the as-of day.
        want = [
            {
                "span": i,
                "overall_status": status,
                "from_version": first,
                "to_version": last,
                "started": start,
                "ended": end,
                "ended_or_as_of": end or as_of,
                "is_current": end is None,
                "days": ((end or as_of) - start).days,
                "starts_at_first_version": i == 1,
            }
            for i, (status, first, last, start, end) in enumerate(_runs(caps, _status), start=1)
        ]
        got = _rows(con, "SELECT * EXCLUDE (nct_id) FROM status_spans WHERE nct_id = ? "
                    "ORDER BY span", nct)  # fmt: skip
        assert got == want, nct
        changed_status += len(want) > 1
        # date_slips: each milestone's runs of (date as written, type), in days from the first.
        for name in STRUCTS:
            runs = [r for r in _runs(caps, lambda s, n=name: _milestone(s, n)) if r[0][0]]
            first = _aact_day(runs[0][0][0]) if runs else None
            want_slips = []
            for i, ((text, kind), v1, v2, d1, d2) in enumerate(runs):
                day = _aact_day(text)
                prev = _aact_day(runs[i - 1][0][0]) if i else None
                want_slips.append(
                    (v1, v2, d1, d2, day, text, {10: "day", 7: "month", 4: "year"}[len(text)],
                     kind, first, (day - first).days, prev, (day - prev).days if prev else None)
                )  # fmt: skip
            got_slips = con.execute(
                "SELECT from_version, to_version, valid_from, valid_to, date, month_year, "
                "date_precision, date_type, first_date, slip_days, previous_date, "
                "slip_days_from_previous FROM date_slips WHERE nct_id = ? AND milestone = ? "
                "ORDER BY from_version",
                [nct, name],
            ).fetchall()
            assert got_slips == want_slips, (nct, name)
            slipped += any(w[9] for w in want_slips)
        # enrollment_drift: first and latest target, the actual count.
        counts = [_enrollment(s) for _, s in caps]
        targets = [(n, c) for n, (c, t) in enumerate(counts, start=1) if t == "ESTIMATED" and c]
        actuals = [c for c, t in counts if t == "ACTUAL" and c is not None]
        (drift,) = _rows(con, "SELECT * FROM enrollment_drift WHERE nct_id = ?", nct)
        first_target = targets[0][1] if targets else None
        actual = actuals[-1] if actuals else None
        assert drift == {
            "nct_id": nct,
            "first_target": first_target,
            "first_target_version": targets[0][0] if targets else None,
            "first_target_from": caps[targets[0][0] - 1][0] if targets else None,
            "latest_target": targets[-1][1] if targets else None,
            "target_change": targets[-1][1] - first_target if targets else None,
            "target_values": len({c for _, c in targets}) if targets else None,
            "actual": actual,
            "actual_share_of_first_target": (
                round(actual / first_target, 3) if actual is not None and first_target else None
            ),
            "enrollment": counts[-1][0],
            "enrollment_type": counts[-1][1],
        }, nct
        drifted += len({c for _, c in targets}) > 1 or (actual is not None and targets != [])
        # sites_over_time: the facilities each version lists, a row where they changed.
        sites = _rows(
            con, "SELECT * FROM sites_over_time WHERE nct_id = ? ORDER BY from_version", nct
        )
        starts = [1] + [
            n for n in range(2, len(caps) + 1)
            if _locations(caps[n - 1][1]) != _locations(caps[n - 2][1])
        ]  # fmt: skip
        assert [s["from_version"] for s in sites] == starts, nct
        for i, s in enumerate(sites):
            locs = _locations(caps[s["from_version"] - 1][1])
            end = sites[i + 1]["from_version"] if i + 1 < len(sites) else None
            assert s == {
                "nct_id": nct,
                "from_version": s["from_version"],
                "to_version": end - 1 if end else None,
                "valid_from": caps[s["from_version"] - 1][0],
                "valid_to": caps[end - 1][0] if end else None,
                "facilities": len(locs),
                "recruiting": sum(loc.get("status") == "RECRUITING" for loc in locs),
                "countries": len({loc["country"] for loc in locs if loc.get("country")}),
                "facilities_change": len(locs) - sites[i - 1]["facilities"] if i else None,
            }, (nct, s)
            if end:  # every version of the row lists as many
                for n in range(s["from_version"], end):
                    assert len(_locations(caps[n - 1][1])) == len(locs)
        moved += len(sites) > 1
    # The samples exercise every view: statuses that changed, dates that slipped, targets
    # that drifted, facilities that changed.
    assert changed_status and slipped and drifted and moved, (
        changed_status,
        slipped,
        drifted,
        moved,
    )
    # Described, as every other view of the file: the view and each of its columns.
    for name, view in VIEWS.items():
        cols = con.execute(
            "SELECT column_name, comment FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [name],
        ).fetchall()
        assert [c for c, _ in cols] == [c.name for c in view.columns], name
        assert all(text for _, text in cols), name
        (about,) = con.execute(
            "SELECT comment FROM duckdb_views() WHERE view_name = ?", [name]
        ).fetchone()
        assert about == view.about
    con.close()
