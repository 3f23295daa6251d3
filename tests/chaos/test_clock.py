"""Clocks that are wrong: trialwatch run under libfaketime, its wall clock days behind or ahead
(the monotonic clocks left true, as a clock set wrong or one that jumps leaves them)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from models import Delivery, SyncRun
from models.db import session_scope
from sync.core.util import aware
from sync.store import snapshots as store
from sync.testing.factory import make_study, nct, with_last_update, with_status
from sync.testing.fakectgov import serve
from tests.support.clock import spawn_at, stop, tw_at
from tests.support.fixtures import registry_env
from tests.support.receivers import serve_webhook

KINDS = ("sqlite", "postgresql")
TRIALWATCH = Path(sys.executable).parent / "trialwatch"
pytestmark = pytest.mark.slow


def _env(engine: sa.Engine, base: dict[str, str], tmp: Path) -> dict[str, str]:
    config = tmp / "config.toml"
    config.write_text('[[watches]]\nname = "clock"\ntitles = "sleep"\n', encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    return {"TRIALWATCH_CONFIG": str(config), "TRIALWATCH_DATABASE_URL": url, **base}


@pytest.mark.parametrize("kind_engine", KINDS, indirect=True)
def test_export_since_of_a_sync_3_days_behind(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any
) -> None:
    """Added, synced and matched by a watch with the clock 3 days behind; exported since the
    day the database's clock said, with the true clock."""
    with serve() as fake:
        fake.put(make_study(nct(1)))
        fake.put(make_study(nct(2), title="A trial of a sleep drug"))
        env = _env(kind_engine, registry_env(fake), tmp_path)
        for args in (["add", nct(1)], ["sync"]):
            done = tw_at("-3d", *args, env=env)
            assert done.returncode == 0, done.stderr
    # PostgreSQL's clock is the server's: today. SQLite's is the writing process's.
    sqlite = kind_engine.dialect.name == "sqlite"
    day = (datetime.now(UTC) - timedelta(days=3 if sqlite else 0)).date()
    target = tmp_path / "since.duckdb"
    done = tw_at("+0", "export", str(target), "--since", day.isoformat(), env=env)
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(target), read_only=True) as con:
        trials = [r[0] for r in con.execute("SELECT nct_id FROM trials ORDER BY 1").fetchall()]
        events = con.execute("SELECT count(*) FROM watch_events").fetchone()
    assert trials == [nct(1), nct(2)], trials
    assert events is not None and events[0] >= 1, "the watch's matches are events since that day"
    record_property(
        "chaos",
        {
            "table": "clock",
            "attack": "add, sync, watch: clock 3 days behind; export --since",
            "db": kind_engine.dialect.name,
            "day (database's clock)": day.isoformat(),
            "exported": f"{len(trials)} of 2 trials, {events[0]} events",
        },
    )


DAEMON_CONFIG = """
[schedule]
check_minutes = 0.006         # a heartbeat every 0.36 s: stale after 3 of them and a minute
full_sync_cron = "0 0 1 1 *"
digest_cron = "0 0 1 1 *"
"""


def _daemon_status(env: dict[str, str]) -> dict[str, Any]:
    done = tw_at("+0", "status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    daemon: dict[str, Any] = json.loads(done.stdout)["daemon"]
    return daemon


def _first_beat(env: dict[str, str], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while _daemon_status(env)["state"] == "never_started":
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    time.sleep(1)


@pytest.mark.parametrize("kind_engine", KINDS, indirect=True)
@pytest.mark.parametrize("offset", ["-3d", "+400d"])
def test_daemon_with_its_clock_off(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any, offset: str
) -> None:
    """A daemon days behind is running; one 400 days ahead, killed, is not running once its
    heartbeat is stale by the clock since boot (it showed "heartbeat 0 s ago" for 400 days)."""
    with serve() as fake:
        env = _env(kind_engine, registry_env(fake), tmp_path)
        (tmp_path / "config.toml").write_text(DAEMON_CONFIG, encoding="utf-8")
        log = tmp_path / "daemon.log"
        proc = spawn_at(offset, [str(TRIALWATCH), "daemon"], env, log)
        try:
            _first_beat(env, proc, log)
            alive = _daemon_status(env)
        finally:
            stop(proc, signal.SIGKILL)
        assert alive["state"] == "running", alive
        killed = alive
        if offset.startswith("+"):
            deadline = time.monotonic() + 120
            while killed["state"] == "running" and time.monotonic() < deadline:
                time.sleep(2)
                killed = _daemon_status(env)
            assert killed["state"] == "not_responding", killed
    record_property(
        "chaos",
        {
            "table": "clock",
            "attack": f"daemon clock {offset}" + (", then SIGKILL" if offset[0] == "+" else ""),
            "db": kind_engine.dialect.name,
            "status": killed["state"] + f" ({killed['reason']})",
        },
    )


@pytest.mark.parametrize("kind_engine", KINDS, indirect=True)
def test_registry_data_timestamp_going_back(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any
) -> None:
    """The registry answers from an older release than one already synced (a stale cache),
    with a record that differs: nothing is stored from it, the run and status warn."""
    with serve() as fake:
        fake.put(make_study(nct(1)))
        fake.data_timestamp = "2026-12-01T09:00:00"
        env = _env(kind_engine, registry_env(fake), tmp_path)
        for args in (["add", nct(1)], ["sync"]):
            assert tw_at("+0", *args, env=env).returncode == 0
        fake.put(with_last_update(with_status(make_study(nct(1)), "COMPLETED"), "2099-01-01"))
        fake.data_timestamp = "2026-11-20T09:00:00"
        done = tw_at("+0", "sync", env=env)
        status = tw_at("+0", "status", "--json", env=env)
    assert done.returncode == 0 and "dataTimestamp went back" in done.stdout, done
    run = json.loads(status.stdout)["runs"][0]
    assert run["warnings"] and run["new_versions"] == 0, run
    with kind_engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT count(*) FROM snapshot")).scalar()
    assert versions == 1, versions
    record_property(
        "chaos",
        {
            "table": "clock",
            "attack": "registry dataTimestamp goes back, record differs",
            "db": kind_engine.dialect.name,
            "status": f"{run['outcome']} {run['mode']}, {versions} version, warning in status",
        },
    )


def _server_now(engine: sa.Engine) -> datetime:
    with engine.connect() as conn:
        value = conn.execute(sa.text("SELECT CURRENT_TIMESTAMP")).scalar_one()
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def _off_by(stamp: datetime | None, now: datetime) -> float:
    """Hours between a stored time and the database's clock now."""
    assert stamp is not None
    return abs((now - aware(stamp)).total_seconds()) / 3600


@pytest.mark.parametrize("kind_engine", ["postgresql"], indirect=True)
def test_runs_digests_and_deliveries_by_the_databases_clock(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any
) -> None:
    """Runs, `digest --since 24h` and a delivery made with the clock 3 days behind: the runs'
    start and end, the window and the send time are the database's (PostgreSQL's clock is the
    server's; SQLite's is the writing process's, so there the two are one clock)."""
    with serve() as fake, serve_webhook() as hook:
        fake.put(make_study(nct(1)))
        env = _env(kind_engine, registry_env(fake), tmp_path)
        notify = f'[notify]\nurls = ["{hook.url}"]\n[digest]\n'
        (tmp_path / "config.toml").write_text(notify, encoding="utf-8")
        for args in (["add", nct(1)], ["sync"]):
            done = tw_at("-3d", *args, env=env)
            assert done.returncode == 0, done.stderr
        fake.put(with_last_update(with_status(make_study(nct(1)), "COMPLETED"), "2026-11-21"))
        fake.data_timestamp = "2026-12-02T09:00:00"
        assert tw_at("-3d", "sync", env=env).returncode == 0
        digest = tw_at("-3d", "digest", "--since", "24h", "--json", env=env)
        assert digest.returncode == 0, digest.stderr
        with session_scope(kind_engine) as s:
            # The digest job is overdue: `daemon --once` sends it.
            store.set_meta(s, "daemon.last_digest", "2000-01-01T00:00:00+00:00")
        (tmp_path / "config.toml").write_text(notify + DAEMON_CONFIG, encoding="utf-8")
        once = tw_at("-3d", "daemon", "--once", env=env)
        assert once.returncode == 0, once.stdout + once.stderr
        received = list(hook.received)
    now = _server_now(kind_engine)
    with session_scope(kind_engine) as s:
        runs = list(s.exec(select(SyncRun).order_by(col(SyncRun.id))))
        deliveries = list(s.exec(select(Delivery)))
    trials = json.loads(digest.stdout)["trials"]
    assert [t["nct_id"] for t in trials] == [nct(1)], "today's change is not in the last 24 h"
    stamps = [t for r in runs for t in (r.started_at, r.finished_at)]
    assert runs and max(_off_by(t, now) for t in stamps) < 1, [(r.started_at, r.finished_at)
                                                                for r in runs]
    assert [d.status for d in deliveries] == ["sent"], deliveries
    assert received and nct(1) in received[0]["message"], received
    sent = deliveries[0]
    assert max(_off_by(t, now) for t in (sent.sent_at, sent.window_until)) < 1, sent
    record_property(
        "chaos",
        {
            "table": "clock",
            "attack": "sync, digest --since 24h, daemon digest: clock 3 days behind",
            "db": kind_engine.dialect.name,
            "status": f"{len(runs)} runs and the delivery stamped by the database's clock; "
            f"digest {len(trials)} trial, webhook {len(received)} message",
        },
    )
