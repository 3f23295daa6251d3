"""`status` shows the daemon's next runs with their weekday, so that a cron line can be checked
at a glance (the shipped weekly full sync is on a Sunday)."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from models.db import session_scope
from sync.config import ScheduleSettings
from sync.daemon.schedule import cron_trigger
from sync.daemon.status import META_DAEMON
from sync.store import snapshots as store


def test_status_shows_next_runs_with_their_weekday(cli, engine) -> None:
    tz = ZoneInfo("Europe/Paris")
    s = ScheduleSettings()
    monday = datetime(2026, 12, 7, 9, 0, tzinfo=tz)
    full = cron_trigger(s.full_sync_cron, tz, "full_sync_cron").get_next_fire_time(None, monday)
    digest = cron_trigger("0 9 * * 1-5", tz, "digest_cron").get_next_fire_time(None, monday)
    now = datetime.now(UTC).isoformat()
    next_runs = {"full_sync": full.isoformat(), "digest": digest.isoformat()}
    heartbeat = {"pid": os.getpid(), "host": socket.gethostname(), "state": "running",
                 "started": now, "heartbeat": now, "heartbeat_seconds": 30,
                 "timezone": "Europe/Paris", "next_runs": next_runs}  # fmt: skip
    with session_scope(engine) as session:
        store.set_meta(session, META_DAEMON, heartbeat)

    text = cli("status")
    assert text.exit_code == 0, text.stderr
    assert "next runs: full sync Sun 2026-12-13 03:00 +0100, digest Mon 2026-12-07 09:00 +0100" in (
        " ".join(text.stdout.split())  # wrapped to the width
    )
    data = cli("status", "--json").json()
    assert data["next_runs"] == {"full_sync": "2026-12-13T03:00:00+01:00",
                                 "digest": "2026-12-07T09:00:00+01:00"}  # fmt: skip
    assert data["next_run_weekdays"] == {"full_sync": "Sunday", "digest": "Monday"}
