"""`export --format aact --since`: an earlier AACT export (DuckDB, Parquet, flat files)
updated with the studies that have new versions equals a whole export of the same state."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import sqlalchemy as sa

from sync.aact.catalog import TABLES
from tests.support.aact_samples import stories

TARGETS = (("aact.duckdb", "aact"), ("parquet", "aact"), ("flat", "aact-txt"))


def _rows(target: Path, name: str) -> list[tuple[object, ...]]:
    if target.suffix == ".duckdb":
        con = duckdb.connect(str(target), read_only=True)
        try:
            return sorted(con.execute(f"SELECT * FROM aact_history.{name}").fetchall(), key=repr)
        finally:
            con.close()
    if (target / f"{name}.parquet").exists():
        return sorted(duckdb.sql(f"SELECT * FROM '{target / name}.parquet'").fetchall(), key=repr)
    lines = (target / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return [(lines[0],), *sorted((line,) for line in lines[1:])]


def _age(engine: sa.Engine, days: int) -> None:
    """Everything stored so far, as if it had been fetched and checked `days` ago."""
    then = datetime.now(UTC) - timedelta(days=days)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE snapshot SET fetched_at = :t"), {"t": then})
        conn.execute(sa.text("UPDATE trial SET added_at = :t, last_checked_at = :t"), {"t": then})


def _export(cli, target: Path, fmt: str, *more: str) -> None:  # type: ignore[no-untyped-def]
    r = cli("export", str(target), "--format", fmt, *more)
    assert r.exit_code == 0, r.stderr


def test_an_update_since_equals_a_whole_export_of_the_same_state(cli, fake_ctgov, engine, tmp_path):
    told = stories()
    multi = [n for n, caps in told.items() if len(caps) > 2][:3]
    steady = [n for n, caps in told.items() if len(caps) == 1][:3]
    later = [n for n, caps in told.items() if len(caps) == 1][3]
    assert len(multi) == 3 and len(steady) == 3
    for nct in (*multi, *steady):
        fake_ctgov.put(told[nct][0][1])
    assert cli("add", *multi, *steady).exit_code == 0
    assert cli("sync", "--full").exit_code == 0
    for name, fmt in TARGETS:
        _export(cli, tmp_path / "old" / name, fmt)
    _age(engine, 30)
    # New versions of the multi-version studies, one new study; then the steady ones (not
    # in the update) are as if they had been left alone since.
    for nct in multi:
        fake_ctgov.put(told[nct][1][1])
    fake_ctgov.bump()
    assert cli("sync", "--full").exit_code == 0
    for nct in multi:
        fake_ctgov.put(told[nct][2][1])
    fake_ctgov.put(told[later][0][1])
    fake_ctgov.bump()
    assert cli("add", later).exit_code == 0
    assert cli("sync", "--full").exit_code == 0
    then = datetime.now(UTC) - timedelta(days=30)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE trial SET last_checked_at = :t WHERE nct_id <> :n"),
            {"t": then, "n": later},
        )
    today = date.today().isoformat()
    for name, fmt in TARGETS:
        old, whole = tmp_path / "old" / name, tmp_path / "whole" / name
        r = cli("export", str(old), "--format", fmt, "--since", today, "--json")
        assert r.exit_code == 0, r.stderr
        assert r.json()["merged"] is True
        _export(cli, whole, fmt)
        for table in TABLES:
            assert _rows(old, table) == _rows(whole, table), (name, table)
    # The new study is in it; the studies' later versions are.
    con = duckdb.connect(str(tmp_path / "old" / "aact.duckdb"), read_only=True)
    (n,) = con.execute("SELECT count(*) FROM studies WHERE nct_id = ?", [later]).fetchone()
    assert n == 1
    with engine.connect() as conn:
        latest = dict(conn.execute(sa.text("SELECT nct_id, latest_version FROM trial")).all())
    assert all(latest[n] > 1 for n in multi)
    (n,) = con.execute(
        "SELECT count(*) FROM aact_history.studies WHERE valid_from_version > 1"
    ).fetchone()
    assert n > 0
    con.close()


def test_an_update_without_an_earlier_aact_export_is_refused_in_one_line(cli, tmp_path):
    since = ("--since", "2026-01-01")
    report = tmp_path / "report.duckdb"
    assert cli("export", str(report)).exit_code == 0  # a trialwatch export, not an AACT one
    parquet = tmp_path / "parquet"
    assert cli("export", str(parquet), "--format", "aact").exit_code == 0
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE mine (x INTEGER)").close()
    for target, fmt, says in (
        (tmp_path / "none.duckdb", "aact", "there is none"),
        (tmp_path / "none", "aact-txt", "there is none"),
        (report, "aact", "no AACT tables"),
        (parquet, "aact-txt", "not aact-txt"),
        (other, "aact", "not a trialwatch export"),
    ):
        r = cli("export", str(target), "--format", fmt, *since, "--force")
        assert r.exit_code == 2, (target, r.stdout, r.stderr)
        assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "none.duckdb").exists() and not (tmp_path / "none").exists()
    con = duckdb.connect(str(other), read_only=True)
    assert con.execute("SELECT count(*) FROM mine").fetchone() == (0,)
    con.close()
