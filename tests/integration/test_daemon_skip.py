"""The daemon meeting a sync it did not start (a CLI `trialwatch sync`): a skip, logged as one,
with no failed run for digests to warn about."""

from __future__ import annotations

import logging

from sqlmodel import select

from models import SyncRun
from models.db import session_scope
from sync.config import Settings
from sync.ingest import run as sync_engine
from sync.store.locks import exclusive
from sync.testing.factory import make_study, nct


def test_check_while_a_cli_sync_runs_is_a_skip(engine, fake_ctgov, api_settings, caplog) -> None:
    from sync.daemon.service import Daemon

    fake_ctgov.put(make_study(nct(1)))
    with session_scope(engine) as s:
        sync_engine.track(s, [nct(1)], source="manual")
    settings = Settings(
        api_url=fake_ctgov.base_url, history_url=fake_ctgov.history_url, api=api_settings
    )
    d = Daemon(settings, engine)
    caplog.set_level(logging.INFO, logger="trialwatch.daemon")
    with exclusive(engine, "sync"):  # what a running `trialwatch sync` holds
        d.check()
        d.full_sync()
    lines = [r.getMessage() for r in caplog.records if r.name == "trialwatch.daemon"]
    assert any(
        line.startswith("check: ")
        and line.endswith(": skipped, another sync is running on this database")
        for line in lines
    ), lines
    assert "full sync: skipped, another sync is running on this database" in lines
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    with session_scope(engine) as s:
        assert s.exec(select(SyncRun)).all() == []
    # Once the other sync is done, the next check syncs as usual.
    d.check()
    with session_scope(engine) as s:
        runs = s.exec(select(SyncRun)).all()
    assert [(r.kind, r.outcome) for r in runs] == [("sync", "ok")]
