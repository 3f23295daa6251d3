"""Two `watch run`s of one watch at once: at most one open membership per (watch, study), in
the schema itself (a partial unique index) and in what the runs record."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from models import Watch, WatchEvent, WatchMatch
from models.db import session_scope
from sync.config import WatchConfig
from sync.registry.client import CtgovClient
from sync.watches import definitions as watches
from sync.watches import runner as discover
from tests.support.studies import cd19_lupus, neuk203_13

CAR_NK = WatchConfig(name="any-car-nk", term='"CAR-NK" OR "CAR NK"', track=False)


def _watch_id(engine) -> int:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        watches.sync_config_watches(s, [CAR_NK])
        w = s.exec(select(Watch).where(Watch.name == CAR_NK.name)).one()
        assert w.id is not None
        return w.id


def test_the_schema_refuses_a_second_open_membership(engine) -> None:  # type: ignore[no-untyped-def]
    watch_id = _watch_id(engine)
    with session_scope(engine) as s:
        s.add(WatchMatch(watch_id=watch_id, nct_id="NCT00000001"))
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        s.add(WatchMatch(watch_id=watch_id, nct_id="NCT00000001"))
    # A closed stay does not count: a study may leave and come back.
    with session_scope(engine) as s:
        row = s.exec(select(WatchMatch)).one()
        row.left_at = row.first_seen
        s.add(row)
    with session_scope(engine) as s:
        s.add(WatchMatch(watch_id=watch_id, nct_id="NCT00000001"))
    with session_scope(engine) as s:
        assert len(s.exec(select(WatchMatch)).all()) == 2


def test_two_concurrent_runs_open_one_membership_each(
    engine, fake_ctgov, api_settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    fake_ctgov.put(neuk203_13())
    fake_ctgov.put(cd19_lupus())
    watch_id = _watch_id(engine)
    # Both runs read "no open membership" before either writes: the race, made certain.
    barrier = threading.Barrier(2, timeout=3)
    seen = threading.local()
    real_open_rows = discover._open_rows

    def open_rows(session: Any, wid: int) -> dict[str, WatchMatch]:
        rows = real_open_rows(session, wid)
        seen.calls = getattr(seen, "calls", 0) + 1
        if seen.calls == 2:  # the read inside the writing transaction
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass  # SQLite serialises writers: the other run waits for this one
        return rows

    monkeypatch.setattr(discover, "_open_rows", open_rows)
    results: list[discover.WatchResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        client = CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, api_settings)
        try:
            results.append(discover.run_watch(engine, client, CAR_NK.name))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [r.outcome for r in results] == ["ok", "ok"]
    with session_scope(engine) as s:
        open_rows_now = s.exec(
            select(WatchMatch.nct_id).where(
                WatchMatch.watch_id == watch_id, col(WatchMatch.left_at).is_(None)
            )
        ).all()
        entered = s.exec(select(WatchEvent.nct_id).where(WatchEvent.event == "entered")).all()
    assert sorted(open_rows_now) == sorted(set(open_rows_now)) and len(open_rows_now) == 2
    # Each study entered once, reported by exactly one of the two runs.
    assert sorted(entered) == sorted(set(entered)) and len(entered) == 2
    assert sorted(n for r in results for n in r.entered) == sorted(entered)


def test_the_migration_keeps_the_oldest_of_duplicates_left_by_earlier_races(db_url: str) -> None:
    import sqlalchemy as sa

    from models import db

    eng = db.make_engine(db_url)
    db.upgrade(eng, "0001")
    with eng.begin() as conn:
        conn.execute(sa.text("INSERT INTO watch (id, name, source, params, track, active, "
                             "created_at) VALUES (1, 'w', 'cli', '{}', false, true, "
                             "CURRENT_TIMESTAMP)"))
        for _ in range(3):
            conn.execute(sa.text("INSERT INTO watchmatch (watch_id, nct_id, first_seen, "
                                 "last_seen) VALUES (1, 'NCT00000001', CURRENT_TIMESTAMP, "
                                 "CURRENT_TIMESTAMP)"))
    db.upgrade(eng)
    with eng.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM watchmatch ORDER BY id")).scalars().all()
    assert ids == [1]
    db.downgrade(eng, "0001")
    db.upgrade(eng)
    eng.dispose()
