"""Run records that are true: what a run's row claims after a full disk, repeated PostgreSQL
cuts, a killed mirror `watch run`, a killed backfill and a registry repeating one fault,
against what was kept."""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from models import Snapshot, SyncRun
from models import db as dbm
from models.db import session_scope
from sync.ingest.run import run_sync
from sync.store.runs import ENDED
from sync.testing.dbproxy import DbProxy
from sync.testing.factory import with_last_update, with_status
from sync.testing.fakectgov import FakeRegistry, Fault, Response
from tests.chaos import dbwait as dw
from tests.chaos import mirror_crash as mc
from tests.chaos import test_dbwait as dbwait_tests
from tests.chaos.export import fill_up, small_disk
from tests.chaos.harness import ChaosRegistry, HistoryScenario, make_client
from tests.chaos.procs import cli_env, finish, run, spawn
from tests.chaos.test_dbwait import _at_nth_snapshot
from tests.support.fixtures import reset_pg

pytestmark = pytest.mark.slow


def _row(attack: str, db: str, claimed: int, kept: int, **more: Any) -> dict[str, Any]:
    return {"table": "records", "attack": attack, "database": db, "claimed": claimed,
            "kept": kept, **more}  # fmt: skip


def kept(engine: sa.Engine, run_id: int | None) -> int:
    with session_scope(engine) as s:
        q = select(func.count()).select_from(Snapshot).where(col(Snapshot.run_id) == run_id)
        return int(s.exec(q).one())


def big_stage2(fake: FakeRegistry) -> None:
    """A new, larger version of every trial: more than the full disk can take."""
    for n in dw.TRIALS:
        study = fake.get(n)
        assert study is not None
        study = with_status(study, "ACTIVE_NOT_RECRUITING")
        study["protocolSection"]["descriptionModule"] = {"briefSummary": "x" * 20000 + n}
        fake.put(with_last_update(study, "2026-11-21"))
    fake.set_data_timestamp("2026-11-21T09:00:03")


def test_full_disk_under_a_sync(tmp_path: Path, record_property: Any) -> None:
    with dw.HookedRegistry() as fake, small_disk(tmp_path / "disk", "4m") as disk:
        url = f"sqlite:///{disk}/trialwatch.db"
        engine = dbm.make_engine(url)
        dbm.upgrade(engine)
        dw.stage1(fake, engine)
        (tmp_path / "config.toml").write_text("", encoding="utf-8")
        env = cli_env(fake, url, tmp_path, XDG_STATE_HOME=str(tmp_path / "state"))
        assert run(["sync"], env).code == 0
        big_stage2(fake)
        filler = fill_up(disk, 20000)
        full = run(["sync"], env)
        assert full.code == 1 and not full.forbidden(), full.stderr
        # The disk still full: the run's end may not fit beside the file (its reason then
        # waits in the state folder), and `status` tells it as it was, at once.
        status = run(["status"], env)
        shown = json.loads(run(["status", "--json"], env).stdout)["runs"][0]
        filler.unlink()
        failed_id = dw.runs(engine)[-1].id
        assert f"run {failed_id} failed: database error: database or disk is full" in status.stdout
        assert (shown["id"], shown["outcome"]) == (failed_id, "failed"), shown
        assert run(["sync"], env).code == 0
        # With room again, the next run has written the end on the failed run's row.
        last = next(r for r in dw.runs(engine) if r.id == failed_id)
        claimed, got = last.new_versions, kept(engine, last.id)
        assert last.outcome == "failed"
        assert claimed == got, f"claims {claimed} new versions, {got} kept"
        assert last.errors == ["database error: database or disk is full"], last.errors
        engine.dispose()
    record_property("chaos", _row("full disk under a sync", "sqlite", claimed, got,
                                  reason=last.errors[0]))  # fmt: skip


pg = dbwait_tests.pg  # the fixture: a fresh, upgraded PostgreSQL database


def test_repeated_postgresql_cuts_mid_sync(
    pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property: Any
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    direct = dbm.make_engine(pg)
    claims: list[tuple[int, int]] = []
    with dw.HookedRegistry() as fake, DbProxy() as proxy:
        dw.stage1(fake, direct)
        engine = dbm.make_engine(proxy.url_for(pg), timeouts=dw.small_timeouts())
        with make_client(fake) as client:
            assert run_sync(engine, client, batch_size=4).outcome == "ok"
            dw.stage2(fake)
            for _ in range(3):
                # Cut as the second page of new versions is written (the first kept), each run.
                _at_nth_snapshot(engine, 4, proxy.cut)
                with pytest.raises(sa.exc.OperationalError):
                    run_sync(engine, client, batch_size=4)
                last = dw.runs(direct)[-1]
                claims.append((last.new_versions, kept(direct, last.id)))
                proxy.resume()
        engine.dispose()
    direct.dispose()
    assert all(claimed == got for claimed, got in claims), claims
    assert sum(got for _, got in claims) > 0, "no page was kept: nothing tested"
    claimed, got = sum(c for c, _ in claims), sum(k for _, k in claims)
    record_property("chaos", _row("3 cuts mid-sync", "postgresql", claimed, got))


def test_a_killed_mirror_watch_run_is_closed_by_the_next(
    tmp_path: Path, record_property: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'trialwatch.db'}"
    engine = dbm.make_engine(url)
    dbm.upgrade(engine)
    with FakeRegistry(lean=True) as fake:
        mc.build(fake)
        (tmp_path / "config.toml").write_text(mc.CONFIG, encoding="utf-8")
        env = cli_env(fake, url, tmp_path, TRIALWATCH_API__MIRROR_PAGE_SIZE=str(mc.PAGE))
        proc = spawn(["watch", "run"], env)
        deadline = time.monotonic() + 60
        while kept(engine, 1) < 2 * mc.PAGE and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        assert finish(proc).code == -signal.SIGKILL
        (killed,) = dw.runs(engine)
        assert killed.outcome == "running"
        again = run(["watch", "run"], env, timeout=600)
        assert again.code == 0, again.stderr
        first, second = dw.runs(engine)
    assert first.outcome == "failed" and first.errors == ["interrupted: the process ended mid-run"]
    assert second.outcome == "ok"
    # Each run claims what it kept (the killed one: its pages committed before the kill).
    assert (first.new_versions, second.new_versions) == (kept(engine, 1), kept(engine, 2))
    assert first.new_versions + second.new_versions == mc.STUDIES
    engine.dispose()
    record_property("chaos", _row("SIGKILL of a mirror watch run", "sqlite",
                                  first.new_versions + second.new_versions,
                                  kept(engine, 1) + kept(engine, 2),
                                  reason="closed by the next run"))  # fmt: skip


class Repeating(FakeRegistry):
    """Every page of studies by ID also holds three entries that are not studies."""

    def answer(self, path: str, params: dict[str, str], fault: Fault | None) -> Response:
        response = super().answer(path, params, fault)
        if path.endswith("/studies") and "filter.ids" in params and response.status == 200:
            page = json.loads(response.body)
            page["studies"] = [*page.get("studies", []), 1, "x", None]
            return Response(200, json.dumps(page).encode())
        return response


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_same_error_again_and_again_is_one_entry_with_its_count(
    kind: str, tmp_path: Path, pg_database: str, record_property: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'trialwatch.db'}" if kind == "sqlite" else pg_database
    if kind == "postgresql":
        reset_pg(url)
    engine = dbm.make_engine(url)
    dbm.upgrade(engine)
    with Repeating() as fake, make_client(fake) as client:
        dw.stage1(fake, engine)
        summary = run_sync(engine, client, batch_size=4)
        pages = sum("filter.ids" in r.params for r in fake.requests)
    want = [f"the registry sent a study that is not an object ({3 * pages} times)"]
    row = dw.runs(engine)[-1]
    assert summary.outcome == "partial" and row.errors == want == summary.errors, row.errors
    assert row.new_versions == kept(engine, row.id) == len(dw.TRIALS)
    engine.dispose()
    record_property("chaos", _row("one fault in every page", kind, row.new_versions,
                                  kept(engine, row.id), errors=len(row.errors)))  # fmt: skip


@pytest.mark.parametrize("kind_engine", ["sqlite", "postgresql"], indirect=True)
def test_a_backfill_killed_mid_way_claims_what_it_kept(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any
) -> None:
    """SIGKILLed as it asks for the second trial's history (the first trial's past versions
    committed, one by one): the killed run's row claims those, and the next backfill, which
    closes it, claims the rest."""
    url = kind_engine.url.render_as_string(hide_password=False)
    with ChaosRegistry() as fake, make_client(fake) as client:
        history = HistoryScenario(fake)
        history.prepare(kind_engine, client)  # run 1: the sync that polls the current records
        env = cli_env(fake, url, tmp_path, TW_KILL_AT="request:5")
        killed_run = run(["backfill", "--all"], env)
        assert killed_run.code == -signal.SIGKILL, killed_run.stderr
        again = run(["backfill", "--all"], {**env, "TW_KILL_AT": ""})
        assert again.code == 0, again.stderr
    _sync, killed, second = dw.runs(kind_engine)
    assert killed.kind == second.kind == "backfill"
    assert killed.outcome == "failed" and killed.errors == [ENDED], killed.errors
    claims = [(r.new_versions, kept(kind_engine, r.id)) for r in (killed, second)]
    assert all(claimed == got for claimed, got in claims), claims
    assert claims[0][1] > 0, "the kill came before any version was kept: nothing tested"
    # Fetched: the versions placed (some join a version already kept, and add none).
    assert killed.fetched >= killed.new_versions
    record_property("chaos", _row("SIGKILL of a backfill mid-way", kind_engine.dialect.name,
                                  killed.new_versions, claims[0][1],
                                  reason="closed by the next run"))  # fmt: skip


def _elsewhere(engine: sa.Engine, kind: str, beat_age: timedelta) -> int:
    """A running row written as another host's process (a plain-search watch run holds no
    lock) whose last heartbeat was `beat_age` ago by the database's clock."""
    with session_scope(engine) as s:
        now = dbm.database_now(s)
        row = SyncRun(kind=kind, trigger="cli", started_at=now - beat_age - timedelta(hours=1),
                      heartbeat_at=now - beat_age, mode="watches",
                      details={"process": {"host": "tw-elsewhere", "boot": "b", "pid": 4242,
                                           "start": 1, "lock": None}})  # fmt: skip
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id


def test_a_run_of_another_host_that_stopped_beating_is_closed(
    pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property: Any
) -> None:
    """A shared PostgreSQL: a watch run killed on another host (its heartbeat 20 minutes old)
    is closed by the next run here; one of another host still beating is left running; and a
    run here stamps its heartbeat as it commits."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    direct = dbm.make_engine(pg)
    dead = _elsewhere(direct, "watch", timedelta(minutes=20))
    alive = _elsewhere(direct, "export", timedelta(seconds=5))
    # Beats every 0.1 s; the rows above are judged by the default bound (900 s).
    beating = dbm.make_engine(pg, timeouts=dbm.Timeouts(stale_run=1))
    with dw.HookedRegistry() as fake, make_client(fake) as client:
        dw.stage1(fake, direct)
        summary = run_sync(direct, client, batch_size=4)
        assert summary.outcome == "ok", summary.errors
        rows = {r.id: r for r in dw.runs(direct)}
        dw.stage2(fake)
        fake.add_fault("drip", times=10_000, delay=0.02)  # each page takes a while
        later = run_sync(beating, client, batch_size=4)
        assert later.outcome == "ok", later.errors
    closed, left = rows[dead], rows[alive]
    mine = next(r for r in dw.runs(direct) if r.id == later.run_id)
    beating.dispose()
    direct.dispose()
    assert closed.outcome == "failed" and closed.finished_at is not None
    assert closed.errors == ["interrupted: the process stopped responding (host tw-elsewhere; "
                             "no heartbeat for 20 min)"], closed.errors  # fmt: skip
    assert left.outcome == "running", "a run still beating was closed"
    assert mine.heartbeat_at is not None and mine.heartbeat_at > mine.started_at, (
        "the heartbeat never moved while the run committed its pages"
    )
    record_property("chaos", _row("watch run killed on another host (PostgreSQL)",
                                  "postgresql", 0, 0,
                                  reason=closed.errors[0]))  # fmt: skip
