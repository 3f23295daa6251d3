"""The analysis export's defects found by analysts on the real captures (issue 25, M1 to M4),
and what they lost (date precision, slips in days), each on real successive versions."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from sync.testing.factory import samples_dir


def captures(nct: str) -> list[tuple[date, dict[str, Any]]]:
    """A study's real captures in order, with the day each was captured (in its file name)."""
    folder = samples_dir() / "versions" / nct
    out = []
    for path in sorted(folder.glob("*.json")):
        day = date.fromisoformat(path.name.split("_")[1])
        out.append((day, json.loads(path.read_text(encoding="utf-8"))))
    return out


def sync_captures(cli, fake, *ncts: str) -> list[tuple[date, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """Each study's n-th capture served in one data release (of the day the last of them was
    captured, and never before the release before), and synced; the first study's captures."""
    told = {nct: captures(nct) for nct in ncts}
    release = date.min
    for step in range(max(len(c) for c in told.values())):
        now = {nct: caps[step] for nct, caps in told.items() if step < len(caps)}
        for _, study in now.values():
            fake.put(study)
        release = max(release + timedelta(days=1), *(day for day, _ in now.values()))
        fake.data_timestamp = f"{release.isoformat()}T09:00:00"
        if step == 0:
            assert cli("add", *ncts).exit_code == 0
        r = cli("sync", "--full")
        assert r.exit_code == 0, r.stderr
    return told[ncts[0]]


def rows(con: duckdb.DuckDBPyConnection, query: str, *args: Any) -> list[dict[str, Any]]:
    cur = con.execute(query, list(args))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def export(cli, target: Path, *args: str) -> duckdb.DuckDBPyConnection:  # type: ignore[no-untyped-def]
    r = cli("export", str(target), *args)
    assert r.exit_code == 0, r.stderr
    return duckdb.connect(str(target), read_only=True)


# -- M1: a version the registry made without a new last-update date ----------------------------


def test_m1_a_status_changed_without_a_new_update_date_dates_from_its_data_release(
    cli, fake_ctgov, tmp_path
):
    # NCT05294952: the registry turned it UNKNOWN (lastKnownStatus NOT_YET_RECRUITING) and
    # left its last-update date at 2024-02-05; the data release of 2026-03-03 first had it.
    nct = "NCT05294952"
    caps = sync_captures(cli, fake_ctgov, nct)
    posted = [
        s["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] for _, s in caps
    ]
    assert posted[0] == posted[1] == "2024-02-05"
    con = export(cli, tmp_path / "a.duckdb")
    versions = rows(con, "SELECT version, version_date, overall_status FROM versions ORDER BY 1")
    assert [(v["version_date"], v["overall_status"]) for v in versions] == [
        (date(2024, 2, 5), "NOT_YET_RECRUITING"),
        (caps[1][0], "UNKNOWN"),
    ]
    spans = rows(
        con, "SELECT overall_status, started, ended, days FROM status_spans ORDER BY started"
    )
    assert spans[0] == {
        "overall_status": "NOT_YET_RECRUITING",
        "started": date(2024, 2, 5),
        "ended": caps[1][0],
        "days": (caps[1][0] - date(2024, 2, 5)).days,
    }
    con.close()
    # The AACT tables: the second version's rows hold from the release day.
    con = export(cli, tmp_path / "aact.duckdb", "--format", "aact")
    spans = con.execute(
        "SELECT valid_from, valid_to, overall_status FROM aact_history.studies ORDER BY 1"
    ).fetchall()
    assert spans == [
        (date(2024, 2, 5), caps[1][0], "NOT_YET_RECRUITING"),
        (caps[1][0], None, "UNKNOWN"),
    ]
    con.close()
    # The CLI's as-of view agrees: the day before the release, the study was not yet UNKNOWN.
    before = caps[1][0].toordinal() - 1
    r = cli("show", nct, "--as-of", date.fromordinal(before).isoformat(), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["status"] == "NOT_YET_RECRUITING"


def test_m1_the_pages_the_digest_and_the_live_tables_date_it_as_the_export_does(
    cli, fake_ctgov, engine, db_url, monkeypatch
):
    """One rule (store.version_date with the version before) for the export, the recent
    versions of the web pages and feeds, the digest's timeline and the live AACT tables."""
    from sqlmodel import Session, select

    from models import Trial
    from sync.report import digest, pageviews

    nct = "NCT05294952"
    if db_url.startswith("postgresql"):
        cli.write_config("[aact]\nlive = true\n")
    caps = sync_captures(cli, fake_ctgov, nct)
    released = caps[1][0]
    assert released != date(2024, 2, 5)
    with Session(engine) as session:
        recent = pageviews.recent_versions(session, [nct])
        assert [(v["version"], v["date"]) for v in recent] == [(2, released.isoformat())]
        trial = session.exec(select(Trial).where(Trial.nct_id == nct)).one()
        points = digest.timeline(session, trial)
        assert [(p["date"], p["status"]) for p in points] == [
            ("2024-02-05", "NOT_YET_RECRUITING"),
            (released.isoformat(), "UNKNOWN"),
        ]
        # The digest shows the latest versions only: the oldest shown is dated with the one
        # before it, read apart.
        monkeypatch.setattr(digest, "TIMELINE_VERSIONS", 1)
        assert [p["date"] for p in digest.timeline(session, trial)] == [released.isoformat()]
    if db_url.startswith("postgresql"):
        import sqlalchemy as sa

        with engine.connect() as conn:
            spans = conn.execute(
                sa.text(
                    "SELECT valid_from, valid_to, overall_status FROM aact_history.studies "
                    "ORDER BY valid_from"
                )
            ).all()
        assert [tuple(r) for r in spans] == [
            (date(2024, 2, 5), released, "NOT_YET_RECRUITING"),
            (released, None, "UNKNOWN"),
        ]


# -- M4: a trial removed, then an export updated with --since --------------------------------


def test_m4_a_removed_trial_is_inactive_after_an_export_since(cli, fake_ctgov, tmp_path):
    for nct in ("NCT05009069", "NCT05329766"):
        fake_ctgov.put(captures(nct)[0][1])
    assert cli("add", "NCT05009069", "NCT05329766").exit_code == 0
    assert cli("sync", "--full").exit_code == 0
    target = tmp_path / "a.duckdb"
    export(cli, target).close()
    assert cli("remove", "NCT05329766").exit_code == 0
    # Nothing new since tomorrow: the removal is the only news, and no --since selects it.
    tomorrow = date.fromordinal(date.today().toordinal() + 1).isoformat()
    con = export(cli, target, "--since", tomorrow)
    got = dict(con.execute("SELECT nct_id, active FROM trials").fetchall())
    assert got == {"NCT05009069": True, "NCT05329766": False}
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not any(t.startswith("_new_") for t in tables), tables
    con.close()


# -- M2 and M3: which sites were added --------------------------------------------------------


def _site_counts(con: duckdb.DuckDBPyConnection, nct: str, version: int) -> dict[str, int]:
    """Sites added and ended at `version` by the sites table, and by the changes table."""
    (added, ended) = con.execute(
        "SELECT count(DISTINCT site_id) FILTER (WHERE first = ?), "
        "count(DISTINCT site_id) FILTER (WHERE last = ? - 1) FROM ("
        "  SELECT site_id, min(valid_from_version) AS first, "
        "         max(coalesce(valid_to_version, 1e9)) AS last "
        "  FROM sites WHERE nct_id = ? GROUP BY site_id)",
        [version, version, nct],
    ).fetchone()
    (c_added, c_ended) = con.execute(
        "SELECT count(*) FILTER (WHERE old IS NULL), count(*) FILTER (WHERE new IS NULL) "
        "FROM changes WHERE nct_id = ? AND to_version = ? AND category = 'sites' "
        "AND path LIKE '%locations[%]'",
        [nct, version],
    ).fetchone()
    return {"added": added, "ended": ended, "changes_added": c_added, "changes_ended": c_ended}


def test_m3_sites_and_changes_agree_on_the_sites_added_when_a_name_is_re_encoded(
    cli, fake_ctgov, tmp_path
):
    # NCT04736173 v1 -> v2: 6 sites added, 42 ended, and one renamed by the registry
    # ("Metro Metro Davao Medical and Research Centre" -> "Metro Davao Medical And Research
    # Center Inc."): the same site, as the diff says, not one ended and one added.
    nct = "NCT04736173"
    caps = sync_captures(cli, fake_ctgov, nct)
    con = export(cli, tmp_path / "a.duckdb")
    assert _site_counts(con, nct, 2) == {
        "added": 6, "ended": 42, "changes_added": 6, "changes_ended": 42,
    }  # fmt: skip
    renamed = rows(
        con,
        "SELECT site_id, facility, valid_from_version, valid_to_version FROM sites "
        "WHERE nct_id = ? AND city = 'Davao City' ORDER BY valid_from_version",
        nct,
    )
    assert [r["valid_from_version"] for r in renamed] == [1, 2]
    assert renamed[0]["site_id"] == renamed[1]["site_id"]
    assert renamed[1]["facility"] == "Metro Davao Medical And Research Center Inc."
    # Every version's sites are its identified locations, whatever the spans.
    for version, (_, study) in enumerate(caps, start=1):
        (n,) = con.execute(
            "SELECT count(*) FROM sites WHERE nct_id = ? AND valid_from_version <= ? "
            "AND coalesce(valid_to_version, 99) >= ?",
            [nct, version, version],
        ).fetchone()
        assert n == len(study["protocolSection"]["contactsLocationsModule"]["locations"])
    con.close()


def _research_sites(study: dict[str, Any], zips: list[str], city: str) -> dict[str, Any]:
    """The study with its sites replaced by AstraZeneca-style ones: "Research Site" in one
    city, told apart by their postal codes only (facility, city and country repeat)."""
    out = json.loads(json.dumps(study))
    template = out["protocolSection"]["contactsLocationsModule"]["locations"][0]
    sites = []
    for z in zips:
        site = {k: v for k, v in template.items() if k not in ("contacts", "geoPoint")}
        site.update(
            facility="Research Site", city=city, zip=z, country="Spain", status="RECRUITING"
        )
        sites.append(site)
    out["protocolSection"]["contactsLocationsModule"]["locations"] = sites
    return out


def test_m2_sites_that_repeat_facility_city_and_country_keep_their_identity(
    cli, fake_ctgov, tmp_path
):
    # The shape of NCT07098338 (not among the samples here) on a real record: four "Research
    # Site"s of one city, then six more: +6/-0, not +10/-4 (the old "#n" suffixes were numbered
    # by content, so every new site shifted the others').
    nct = "NCT06657144"
    first, second = captures(nct)[:2]
    v1 = _research_sites(first[1], ["08035", "08036", "08907", "08916"], "Barcelona")
    zips = [
        "08001",
        "08035",
        "08003",
        "08036",
        "08005",
        "08907",
        "08006",
        "08916",
        "08007",
        "08008",
    ]
    v2 = _research_sites(second[1], zips, "Barcelona")
    fake_ctgov.put(v1)
    assert cli("add", nct).exit_code == 0
    assert cli("sync", "--full").exit_code == 0
    fake_ctgov.put(v2)
    fake_ctgov.bump()
    assert cli("sync", "--full").exit_code == 0
    con = export(cli, tmp_path / "a.duckdb")
    assert _site_counts(con, nct, 2) == {
        "added": 6, "ended": 0, "changes_added": 6, "changes_ended": 0,
    }  # fmt: skip
    keys = [r[0] for r in con.execute("SELECT DISTINCT site_key FROM sites").fetchall()]
    assert keys == ["Research Site|Barcelona|Spain"]  # no positional "#n"
    held = con.execute(
        "SELECT zip FROM sites WHERE valid_from_version = 1 AND valid_to_version IS NULL"
    ).fetchall()
    assert sorted(z for (z,) in held) == ["08035", "08036", "08907", "08916"]
    con.close()


def test_an_export_since_into_a_file_of_earlier_columns_says_so_in_one_line(
    cli, fake_ctgov, tmp_path
):
    fake_ctgov.put(captures("NCT05009069")[0][1])
    assert cli("add", "NCT05009069").exit_code == 0
    assert cli("sync", "--full").exit_code == 0
    target = tmp_path / "a.duckdb"
    export(cli, target).close()
    with duckdb.connect(str(target)) as con:
        con.execute("ALTER TABLE sites DROP COLUMN site_id")  # as written before site_id
    r = cli("export", str(target), "--since", "2026-01-01")
    assert r.exit_code == 2 and "earlier trialwatch" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# -- date precision and slips in days ----------------------------------------------------------


def test_month_only_dates_keep_their_precision_and_every_slip_is_in_days(cli, fake_ctgov, tmp_path):
    # NCT05414032 v1 -> v2: primary completion 2026-07 -> 2027-09 and completion 2026-07 ->
    # 2028-07 (month-only); NCT06821503: start 2025-02 (ESTIMATED) -> 2025-04-11 (ACTUAL).
    sync_captures(cli, fake_ctgov, "NCT05414032", "NCT06821503")
    con = export(cli, tmp_path / "a.duckdb")
    got = rows(
        con,
        "SELECT nct_id, version, start_date, start_date_precision, primary_completion_date, "
        "primary_completion_date_precision, completion_date_precision FROM versions "
        "ORDER BY nct_id, version",
    )
    raw = {
        (nct, n): s["protocolSection"]["statusModule"]
        for nct in ("NCT05414032", "NCT06821503")
        for n, (_, s) in enumerate(captures(nct), start=1)
    }
    for r in got:
        status = raw[(r["nct_id"], r["version"])]
        for name in ("start", "primary_completion", "completion"):
            text = status[f"{name.replace('_c', 'C')}DateStruct"]["date"]
            assert r[f"{name}_date_precision"] == ("day" if len(text) == 10 else "month"), r
        start = status["startDateStruct"]["date"]
        assert r["start_date"].isoformat()[: len(start)] == start
    slips = {
        (r["nct_id"], r["path"].rsplit(".", 1)[1]): json.loads(r["detail"])["slip"]
        for r in rows(con, "SELECT nct_id, path, detail FROM changes WHERE category = 'dates'")
        if r["detail"] and "slip" in json.loads(r["detail"])
    }
    assert slips[("NCT05414032", "primaryCompletionDateStruct")] == {
        "days": (date(2027, 9, 1) - date(2026, 7, 1)).days, "months": 14, "precision": "month",
    }  # fmt: skip
    assert slips[("NCT06821503", "startDateStruct")]["days"] == 69
    assert all(isinstance(s["days"], int) for s in slips.values())
    con.close()


def test_a_slip_stored_in_months_alone_is_exported_in_days(cli, fake_ctgov, engine, tmp_path):
    # What trialwatch stored before slips were in days: {"months": 14}.
    from sqlmodel import Session, select

    from models import Change

    sync_captures(cli, fake_ctgov, "NCT05414032")
    with Session(engine) as s:
        for change in s.exec(select(Change).where(Change.category == "dates")):
            if change.detail and "slip" in change.detail:
                change.detail = {"slip": {"months": change.detail["slip"]["months"]}}
                s.add(change)
        s.commit()
    con = export(cli, tmp_path / "a.duckdb")
    details = [json.loads(d) for (d,) in con.execute(
        "SELECT detail FROM changes WHERE category = 'dates' AND detail IS NOT NULL"
    ).fetchall()]  # fmt: skip
    assert details and all("days" in d["slip"] for d in details if "slip" in d)
    con.close()
