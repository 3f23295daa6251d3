"""Clocks that are wrong: trialwatch run under libfaketime, its wall clock days behind or ahead
(the monotonic clocks left true, as a clock set wrong or one that jumps leaves them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from sync.testing.factory import make_study, nct
from sync.testing.fakectgov import serve
from tests.support.clock import tw_at
from tests.support.fixtures import registry_env

KINDS = ("sqlite", "postgresql")
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
