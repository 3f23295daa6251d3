"""AACT's tables in the live PostgreSQL database: filled after a sync when `[aact] live` is on,
caught up by `db aact-refresh`, equal to `export --format aact` of the same state after every
run, read by a read-only role that cannot write, and queried by published AACT SQL unchanged."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
import sqlalchemy as sa

from sync.aact import pgsql
from sync.aact.catalog import TABLES
from tests.support import aact_queries as published
from tests.support.aact_samples import in_force, stored_versions, stories

PG = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _dsn(db_url: str) -> str:
    return sa.make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _live_rows(db_url: str, name: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(_dsn(db_url)) as con:
        rows = con.execute(f"SELECT * FROM aact_history.{name}").fetchall()
    return sorted(rows, key=repr)


def _export_rows(cli, tmp_path: Path, tag: str) -> dict[str, list[tuple[Any, ...]]]:  # type: ignore[no-untyped-def]
    target = tmp_path / f"{tag}.duckdb"
    r = cli("export", str(target), "--format", "aact")
    assert r.exit_code == 0, r.stderr
    con = duckdb.connect(str(target), read_only=True)
    try:
        return {
            n: sorted(con.execute(f"SELECT * FROM aact_history.{n}").fetchall(), key=repr)
            for n in TABLES
        }
    finally:
        con.close()


def _same_as_export(cli, db_url: str, tmp_path: Path, tag: str) -> None:  # type: ignore[no-untyped-def]
    want = _export_rows(cli, tmp_path, tag)
    assert any(want.values())
    for name in TABLES:
        assert _live_rows(db_url, name) == want[name], (tag, name)


@PG
def test_a_sync_keeps_the_live_aact_tables_equal_to_an_export(
    cli, fake_ctgov, engine, db_url, tmp_path
):
    told = stories()
    multi = [n for n, caps in told.items() if len(caps) > 2][:3]
    single = [n for n, caps in told.items() if len(caps) == 1][:3]
    for nct in (*multi, *single):
        fake_ctgov.put(told[nct][0][1])
    assert cli("add", *multi, *single).exit_code == 0
    # Switched off (the default): a sync leaves them empty.
    assert cli("sync", "--full").exit_code == 0
    assert all(not _live_rows(db_url, n) for n in ("studies", "facilities"))
    # Switched on later: a refresh by hand catches up every study, then each sync its news.
    cli.write_config("[aact]\nlive = true\n")
    r = cli("db", "aact-refresh", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["studies"] == len(multi) + len(single)
    _same_as_export(cli, db_url, tmp_path, "first")
    for step in (1, 2):
        for nct in multi:
            fake_ctgov.put(told[nct][step][1])
        fake_ctgov.bump()
        assert cli("sync", "--full").exit_code == 0
        _same_as_export(cli, db_url, tmp_path, f"step{step}")
    with engine.connect() as conn:
        closed = conn.execute(
            sa.text("SELECT count(*) FROM aact_history.studies WHERE valid_to_version IS NOT NULL")
        ).scalar_one()
        assert closed > 0  # the later syncs closed spans, not only added rows
        behind = conn.execute(
            sa.text(
                "SELECT count(*) FROM trial t JOIN aact_history.refreshed r ON r.trial_id = t.id "
                "WHERE r.latest_version <> t.latest_version"
            )
        ).scalar_one()
        assert behind == 0
    # Nothing new: the next refresh has nothing to do.
    r = cli("db", "aact-refresh", "--json")
    assert r.exit_code == 0 and r.json()["studies"] == 0
    _read_only_role_and_published_queries(cli, engine, db_url)


def _read_only_role_and_published_queries(cli, engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    r = cli("db", "aact-reader", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["role"] == pgsql.READER
    told = stored_versions(engine)
    current = {n: v[-1][1] for n, v in told.items()}
    with psycopg.connect(_dsn(db_url), autocommit=True) as con:
        con.execute(f"SET ROLE {pgsql.READER}")
        # Published AACT SQL, unchanged: schema-qualified, and plain names on ctgov's path.
        rows = con.execute(published.SITE_FOOTPRINT_BY_PHASE).fetchall()
        assert {r[0]: (r[1], r[2], r[4]) for r in rows} == published.site_footprint(current)
        assert rows
        rows = con.execute(published.SITE_INVESTIGATORS).fetchall()
        assert sorted(rows, key=repr) == sorted(published.site_investigators(current), key=repr)
        con.execute("SET search_path = ctgov")
        rows = con.execute(published.PHASE2_STUDIES).fetchall()
        assert {r[0] for r in rows} == published.phase2_studies(current)
        rows = con.execute(published.LEAD_SPONSORS).fetchall()
        assert {(r[0], r[1]) for r in rows} == published.lead_sponsors(current)
        # The state on a day: the functions, and the as_of views of `SET aact.day`.
        for day in (date(2026, 2, 10), date(2026, 3, 1), date.today()):
            then = {n: s for n, s in ((n, in_force(v, day)) for n, v in told.items()) if s}
            got = con.execute("SELECT nct_id, agency_class FROM as_of.sponsors(%s) "
                              "WHERE lead_or_collaborator = 'lead'", [day]).fetchall()  # fmt: skip
            assert set(got) == published.lead_sponsors(then), day
            con.execute(f"SET aact.day = '{day}'")
            con.execute("SET search_path = as_of")
            rows = con.execute(published.PHASE2_STUDIES).fetchall()
            assert {r[0] for r in rows} == published.phase2_studies(then), day
            con.execute("SET search_path = ctgov")
        # Read-only: no writes, and nothing of trialwatch's own tables.
        for statement in (
            "INSERT INTO aact_history.studies (nct_id, valid_from_version) VALUES ('NCTX', 1)",
            "DELETE FROM aact_history.facilities",
            "UPDATE aact_history.refreshed SET latest_version = 0",
            "SELECT count(*) FROM public.trial",
            "CREATE TABLE ctgov.mine (x integer)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(statement)
        # The dictionary: every table, view and column of the three schemas is described.
        undescribed = con.execute(
            "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN pg_class k ON k.relname = c.table_name "
            "JOIN pg_namespace s ON s.oid = k.relnamespace AND s.nspname = c.table_schema "
            "WHERE c.table_schema IN ('aact_history', 'ctgov', 'as_of') "
            "AND col_description(k.oid, c.ordinal_position) IS NULL"
        ).fetchall()
        assert not undescribed
        (tables,) = con.execute(
            "SELECT count(*) FROM pg_class k JOIN pg_namespace s ON s.oid = k.relnamespace "
            "WHERE s.nspname IN ('aact_history', 'ctgov', 'as_of') AND k.relkind IN ('r', 'v') "
            "AND obj_description(k.oid, 'pg_class') IS NOT NULL"
        ).fetchone()
        assert tables == 3 * len(TABLES) + 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_live_tables_are_refused_in_one_line_and_a_sync_is_unchanged(
    cli, fake_ctgov, tmp_path
):
    for args in (("db", "aact-refresh"), ("db", "aact-reader")):
        r = cli(*args)
        assert r.exit_code == 2 and "PostgreSQL" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    cli.write_config("[aact]\nlive = true\n")
    nct = next(n for n, caps in stories().items() if len(caps) == 1)
    fake_ctgov.put(stories()[nct][0][1])
    assert cli("add", nct).exit_code == 0
    r = cli("sync")
    assert r.exit_code == 0, r.stderr
