"""The daemon's liveness when clocks are wrong: judged by the seconds since boot on its own
machine, by the database's clock elsewhere; a heartbeat stamped in the future is not
"running"."""

from __future__ import annotations

import signal
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from models.db import database_now, session_scope
from sync.daemon import liveness
from sync.daemon.status import META_DAEMON, status_info, status_lines
from sync.store import snapshots as store
from sync.testing.fakectgov import FakeRegistry
from tests.support.clock import spawn_at, stop
from tests.support.fixtures import Cli, registry_env

TRIALWATCH = Path(sys.executable).parent / "trialwatch"
CONFIG = """
[schedule]
check_minutes = 0.006         # a heartbeat every 0.36 s
full_sync_cron = "0 0 1 1 *"
digest_cron = "0 0 1 1 *"
"""


def _beat(engine: sa.Engine, **fields: Any) -> None:
    """A running daemon's heartbeat, as the daemon writes it, with `fields` changed."""
    with session_scope(engine) as session:
        now = database_now(session)
        info = {"pid": 1, "host": socket.gethostname(), "state": "running",
                "started": now.isoformat(), "heartbeat_seconds": 30, "next_runs": {},
                **liveness.stamp(now, now)}  # fmt: skip
        for key, value in fields.items():
            info[key] = value(info, now) if callable(value) else value
        store.set_meta(session, META_DAEMON, info)


def _status(engine: sa.Engine) -> tuple[dict[str, Any], list[str]]:
    with session_scope(engine) as session:
        info = status_info(session)
    return info.daemon.to_dict(), status_lines(info)


def test_a_daemon_3_days_behind_is_running(
    engine: sa.Engine, db_url: str, fake_ctgov: FakeRegistry, tmp_path: Path, cli: Cli
) -> None:
    cli.write_config(CONFIG)
    env = {**cli.env, "TRIALWATCH_CONFIG": str(cli.config_path), **registry_env(fake_ctgov)}
    proc = spawn_at("-3d", [str(TRIALWATCH), "daemon"], env, tmp_path / "daemon.log")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with session_scope(engine) as session:
                if store.get_meta(session, META_DAEMON):
                    break
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
            time.sleep(0.1)
        time.sleep(1)  # a few more beats
        data = cli("status", "--json").json()["daemon"]
        text = cli("status").stdout
    finally:
        stop(proc, signal.SIGTERM)
    assert data["state"] == "running", data
    assert data["heartbeat_age_seconds"] < 30, data
    assert "since boot" in data["reason"], data
    assert "daemon: running" in text, text


def test_a_killed_daemon_whose_clock_was_400_days_ahead_is_not_running(
    engine: sa.Engine,
) -> None:
    # Its last beat: 400 days ahead by its own clock, 10 minutes ago since boot.
    ahead = timedelta(days=400)
    _beat(
        engine,
        daemon_clock=lambda i, now: (now + ahead).isoformat(),
        since_boot=lambda i, now: i["since_boot"] - 600,
    )
    data, lines = _status(engine)
    assert data["state"] == "not_responding", data
    assert 590 <= data["heartbeat_age_seconds"] <= 700, data
    assert "since boot" in data["reason"]
    assert lines[0].startswith("daemon: NOT RESPONDING: last heartbeat 10 min ago"), lines


@pytest.mark.parametrize("legacy", [False, True])
def test_a_heartbeat_stamped_in_the_future_is_not_running(engine: sa.Engine, legacy: bool) -> None:
    """From another machine (no boot clock to share), 400 days ahead: by the database's
    clock, or (a heartbeat from before the boot clock) by the daemon's own."""
    fields: dict[str, Any] = {
        "host": "elsewhere",
        "heartbeat": lambda i, now: (now + timedelta(days=400)).isoformat(),
    }
    if legacy:
        fields |= {"heartbeat_clock": None, "boot_id": None, "since_boot": None}
    _beat(engine, **fields)
    data, lines = _status(engine)
    assert data["state"] == "not_responding", data
    assert "400 days in the future" in data["reason"], data
    assert lines[0].startswith("daemon: NOT RESPONDING (pid 1 on elsewhere): heartbeat stamped")


def test_another_machine_is_judged_by_the_databases_clock(engine: sa.Engine) -> None:
    # Its own clock 3 days behind; the database's says 5 s ago.
    _beat(
        engine,
        host="elsewhere",
        daemon_clock=lambda i, now: (now - timedelta(days=3)).isoformat(),
        heartbeat=lambda i, now: (now - timedelta(seconds=5)).isoformat(),
    )
    data, _ = _status(engine)
    assert data["state"] == "running", data
    assert "by the database's clock" in data["reason"], data
    assert orjson.loads(orjson.dumps(data))["reason"] == data["reason"]


def test_a_heartbeat_from_before_a_restart_is_not_running(engine: sa.Engine) -> None:
    _beat(engine, boot_id="00000000-0000-0000-0000-000000000000")
    data, lines = _status(engine)
    assert data["state"] == "not_responding", data
    assert "restarted since this heartbeat" in data["reason"], data
    assert "restarted" in lines[0], lines
