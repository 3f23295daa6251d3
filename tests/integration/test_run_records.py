"""Run records that are true (SQLite and PostgreSQL): a run's figures are those its pages
committed, whatever was rolled back; a watch run of a mirror counts what it stored."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from models import Snapshot, SyncRun
from models.db import session_scope
from sync.config import ApiSettings, Settings, WatchConfig
from sync.core.states import RunKind, RunOutcome
from sync.ingest import run as sync_engine
from sync.registry.client import CtgovClient
from sync.store.runs import recorded_run
from sync.testing.factory import make_study, nct, registry_study, with_last_update, with_status
from sync.testing.fakectgov import FakeRegistry
from sync.watches import runner as discover
from tests.support.fixtures import Cli

TRIALS = [nct(i) for i in range(301, 309)]
REFUSED = "refused by the test"


def refuse_snapshots_from(engine: sa.Engine, count: int) -> None:
    """The database itself refuses every new version once `count` are stored: the page being
    written fails and is rolled back, as under a full disk or a cut connection."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON snapshot "
                f"WHEN (SELECT count(*) FROM snapshot) >= {count} "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                f"IF (SELECT count(*) FROM snapshot) >= {count} THEN "
                f"RAISE EXCEPTION '{REFUSED}'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON snapshot "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


def kept(engine: sa.Engine, run_id: int) -> int:
    with session_scope(engine) as s:
        return int(
            s.exec(
                select(func.count()).select_from(Snapshot).where(col(Snapshot.run_id) == run_id)
            ).one()
        )


def run_row(engine: sa.Engine, run_id: int) -> SyncRun:
    with session_scope(engine) as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        return run


def last_run_id(engine: sa.Engine) -> int:
    with session_scope(engine) as s:
        found = s.exec(select(func.max(col(SyncRun.id)))).one()
        assert found is not None
        return int(found)


@pytest.fixture
def small_pages(fake_ctgov: FakeRegistry, api_settings: ApiSettings) -> Iterator[CtgovClient]:
    settings = api_settings.model_copy(update={"mirror_page_size": 20})
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as c:
        yield c


def test_a_sync_cut_short_by_the_database_claims_only_what_it_kept(
    engine: sa.Engine, fake_ctgov: FakeRegistry, client: CtgovClient
) -> None:
    for n in TRIALS:
        fake_ctgov.put(make_study(n, title=f"Study {n}", last_update="2026-10-01"))
    with session_scope(engine) as s:
        sync_engine.track(s, TRIALS)
    assert sync_engine.run_sync(engine, client, batch_size=4).outcome == "ok"
    for n in TRIALS:
        study = fake_ctgov.get(n)
        assert study is not None
        fake_ctgov.put(with_last_update(with_status(study, "COMPLETED"), "2026-11-21"))
    fake_ctgov.set_data_timestamp("2026-11-21T09:00:03")
    # The first batch's 4 new versions are stored; the second batch's page is refused.
    refuse_snapshots_from(engine, len(TRIALS) + 4)
    with pytest.raises(sa.exc.DBAPIError):
        sync_engine.run_sync(engine, client, batch_size=4)
    run_id = last_run_id(engine)
    run = run_row(engine, run_id)
    assert run.outcome == "failed"
    assert kept(engine, run_id) == 4
    assert (run.fetched, run.new_versions) == (4, 4), "the row claims what was rolled back"
    assert run.changes > 0
    # The driver's own words, not the ORM's wrapper (its statement, "autoflush", a link).
    assert run.errors == [f"database error: {REFUSED}"], run.errors


def mirror_settings(name: str = "everything") -> Settings:
    return Settings(watches=[WatchConfig.model_validate({"name": name, "mirror": True})])


def fill(fake: FakeRegistry, n: int) -> None:
    for i in range(1, n + 1):
        fake.put(registry_study(i, f"2026-06-{1 + i // 10:02d}"))


def test_a_watch_run_of_a_mirror_counts_what_it_stored(
    engine: sa.Engine, fake_ctgov: FakeRegistry, small_pages: CtgovClient
) -> None:
    fill(fake_ctgov, 100)
    done = discover.run_recorded(engine, small_pages, mirror_settings())
    run_id, results = done.run_id, done.results
    assert [r.outcome for r in results] == ["ok"]
    run = run_row(engine, run_id)
    assert kept(engine, run_id) == 100
    assert (run.kind, run.fetched, run.new_versions) == ("watch", 100, 100)


def test_a_watch_run_of_a_mirror_cut_short_claims_only_what_it_kept(
    engine: sa.Engine, fake_ctgov: FakeRegistry, small_pages: CtgovClient
) -> None:
    fill(fake_ctgov, 100)
    refuse_snapshots_from(engine, 50)  # the third page of 20 is refused
    done = discover.run_recorded(engine, small_pages, mirror_settings())
    run_id, results = done.run_id, done.results
    assert [r.outcome for r in results] == ["failed"]
    run = run_row(engine, run_id)
    assert kept(engine, run_id) == 40
    assert (run.fetched, run.new_versions) == (40, 40)
    result: Any = results[0]
    assert (result.fetched, result.new_versions) == (40, 40)
    assert result.error == f"database error: {REFUSED}"
    assert run.errors == [f"watch everything: database error: {REFUSED}"], run.errors


@dataclass
class Account:
    outcome: str = RunOutcome.RUNNING
    errors: list[str] = field(default_factory=list)


def _nothing(_session: Any, _run: SyncRun) -> None:
    return None


def test_the_same_error_is_recorded_once_with_its_count(engine: sa.Engine) -> None:
    account = Account()
    with recorded_run(engine, account, kind=RunKind.SYNC, trigger="cli", mode=None,
                      close=_nothing) as run_id:  # fmt: skip
        account.errors += ["the registry sent a study that is not an object"] * 4
        account.errors.append("NCT00000001: timed out")
        account.outcome = RunOutcome.PARTIAL
    want = ["the registry sent a study that is not an object (4 times)", "NCT00000001: timed out"]
    assert run_row(engine, run_id).errors == want
    assert account.errors == want  # what the command prints says the same


def test_status_shows_the_cause_of_a_failed_run(engine: sa.Engine, cli: Cli) -> None:
    account = Account()
    with pytest.raises(sa.exc.OperationalError):
        with recorded_run(engine, account, kind=RunKind.SYNC, trigger="cli", mode=None,
                          close=_nothing):  # fmt: skip
            account.errors.append("NCT00000001: record with fields of the wrong type")
            raise sa.exc.OperationalError(
                "INSERT INTO snapshot ...", {}, Exception("database or disk is full")
            )
    out = cli("status")
    assert out.exit_code == 0, out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("run 1 ")]
    assert line == ["run 1 failed: database error: database or disk is full (+1 more)"], line
