"""Days by one clock: what a process with its wall clock off stores is dated by the database.

`export --since DAY` selects by what was stored since that day by the database's clock:
PostgreSQL's own (the server's CURRENT_TIMESTAMP), whatever the writing process's clock said.
SQLite has no server: its clock is the writing process's, and every stored time of a run is
read from it alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import sqlalchemy as sa
from sqlmodel import select

from models import Snapshot, Trial, WatchEvent
from models.db import database_now, session_scope
from sync.report import export
from sync.testing.factory import make_study, nct
from sync.testing.fakectgov import FakeRegistry
from tests.support.clock import tw_at
from tests.support.fixtures import registry_env


def _env(db_url: str, fake: FakeRegistry, tmp: Path, config: str = "") -> dict[str, str]:
    path = tmp / "config.toml"
    path.write_text(config, encoding="utf-8")
    return {"TRIALWATCH_CONFIG": str(path), "TRIALWATCH_DATABASE_URL": db_url,
            **registry_env(fake)}  # fmt: skip


def _exported(engine: sa.Engine, tmp: Path, since: datetime) -> list[str]:
    target = tmp / f"since-{since.date()}.duckdb"
    export.export(engine, target, sel=export.Selection(since=since.date()))
    with duckdb.connect(str(target), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT nct_id FROM trials ORDER BY nct_id").fetchall()]


def test_database_now_is_the_databases_clock(engine: sa.Engine) -> None:
    with session_scope(engine) as session:
        now = database_now(session)
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs((now - datetime.now(UTC)).total_seconds()) < 60


def test_a_trial_stored_with_the_clock_3_days_behind_is_in_export_since_of_its_day(
    engine: sa.Engine, db_url: str, fake_ctgov: FakeRegistry, tmp_path: Path
) -> None:
    fake_ctgov.put(make_study(nct(1)))
    env = _env(db_url, fake_ctgov, tmp_path)
    for args in (["add", nct(1)], ["sync"]):
        done = tw_at("-3d", *args, env=env)
        assert done.returncode == 0, done.stderr
    real_today = datetime.now(UTC)
    # The day the database's clock said: PostgreSQL's is the server's (today); SQLite's is the
    # writing process's (3 days ago).
    behind = engine.dialect.name == "sqlite"
    stored_day = (real_today - timedelta(days=3) if behind else real_today).date()
    with session_scope(engine) as session:
        trial = session.exec(select(Trial)).one()
        snap = session.exec(select(Snapshot)).one()
        stamps = [trial.added_at, trial.last_checked_at, snap.fetched_at]
    assert [s.date() if s else None for s in stamps] == [stored_day] * 3, stamps
    at = datetime.combine(stored_day, datetime.min.time(), tzinfo=UTC)
    assert _exported(engine, tmp_path, at) == [nct(1)]


def test_watch_events_of_a_process_3_days_behind_are_dated_by_the_database(
    engine: sa.Engine, db_url: str, fake_ctgov: FakeRegistry, tmp_path: Path
) -> None:
    fake_ctgov.put(make_study(nct(2), title="Clockwork trial of a sleep drug"))
    config = '[[watches]]\nname = "clock"\ntitles = "sleep"\n'
    env = _env(db_url, fake_ctgov, tmp_path, config)
    done = tw_at("-3d", "watch", "run", "clock", env=env)
    assert done.returncode == 0, done.stderr
    with session_scope(engine) as session:
        events = list(session.exec(select(WatchEvent)))
        now = database_now(session)
    assert events, "the watch's first run reports its matches"
    offset = timedelta(days=3) if engine.dialect.name == "sqlite" else timedelta(0)
    for e in events:
        assert abs((now - offset - e.at.replace(tzinfo=UTC)).total_seconds()) < 120, e.at
