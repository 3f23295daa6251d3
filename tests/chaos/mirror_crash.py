"""Crash attacks on a mirror's first load: the CLI SIGKILLed mid-load, then a resumed load
stores every study exactly once and asks again only for the mark's day."""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from models import Meta, Snapshot, Trial, WatchMatch
from models.db import session_scope
from sync.config import Settings
from sync.core import record
from sync.ingest import run as sync_engine
from sync.testing.factory import registry_study
from sync.testing.fakectgov import FakeRegistry
from sync.watches import runner as discover
from tests.chaos import harness, procs
from tests.chaos.crash import CrashResult, _url

STUDIES = 2000
PAGE = 100
PER_DAY = 45  # fewer than a page: a resumed load asks again for at most one page's worth
CONFIG = """
[[watches]]
name = "everything"
mirror = true
"""


def build(fake: FakeRegistry) -> dict[str, str]:
    """The registry: STUDIES real records under new IDs; the hash each first version is stored
    with (its received form), by NCT ID."""
    hashes = {}
    for i in range(1, STUDIES + 1):
        day = f"2026-{1 + i // (PER_DAY * 28):02d}-{1 + (i // PER_DAY) % 28:02d}"
        study = registry_study(i, day)
        fake.put(study)
        hashes[record.nct_id_of(study)] = record.received_hash(study)
    return hashes


def stored(engine: Engine) -> dict[str, list[str]]:
    """Each stored trial's version hashes, by NCT ID."""
    out: dict[str, list[str]] = {}
    with session_scope(engine) as s:
        rows = s.exec(
            select(Trial.nct_id, Snapshot.content_hash)
            .join(Snapshot, col(Snapshot.trial_id) == col(Trial.id))
            .order_by(col(Snapshot.version))
        )
        for nct, digest in rows:
            out.setdefault(nct, []).append(digest)
    return out


def sync_killed(
    engine: Engine, env: dict[str, str], kill_after: float | None
) -> tuple[bool, float]:
    """`trialwatch sync` in a child, SIGKILLed after `kill_after` seconds (or at its
    TW_KILL_AT point); (killed, seconds), the database checked whole after it."""
    start = time.monotonic()
    proc = procs.spawn(["sync"], env)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except Exception:  # noqa: BLE001  (still running: the moment has come)
            proc.send_signal(signal.SIGKILL)
    done = procs.finish(proc, timeout=600)
    seconds = harness.elapsed_since(start)
    killed = done.code == -signal.SIGKILL
    assert killed or done.code == 0, (done.code, done.stderr[-3000:])
    assert not done.forbidden(), done.stderr[-3000:]
    assert harness.integrity_problems(engine) == []
    return killed, seconds


def assert_loaded(engine: Engine) -> None:
    """The database whole, the mirror's STUDIES members current, its first load complete."""
    assert harness.integrity_problems(engine) == []
    with session_scope(engine) as s:
        members = s.execute(
            sa.select(sa.func.count())
            .select_from(WatchMatch)
            .where(col(WatchMatch.left_at).is_(None))
        ).scalar_one()
        state = s.exec(select(Meta.value).where(col(Meta.key).startswith("mirror_state:")))
        complete = [v.get("complete") for v in state.all()]
    assert members == STUDIES and complete == [True]


def crash_mirror_load(
    engine: Engine, tmp: Path, *, kill_at: str | None = None, kill_after: float | None = None
) -> CrashResult:
    with FakeRegistry(lean=True) as fake:
        hashes = build(fake)
        (tmp / "config.toml").write_text(CONFIG, encoding="utf-8")
        env = procs.cli_env(
            fake,
            _url(engine),
            tmp,
            TW_KILL_AT=kill_at or "",
            TRIALWATCH_API__MIRROR_PAGE_SIZE=str(PAGE),
        )
        killed, seconds = sync_killed(engine, env, kill_after)
        before = stored(engine)
        wrong = {n: h for n, h in before.items() if h != [hashes[n]]}
        assert not wrong, f"studies not stored exactly once as served: {list(wrong)[:5]}"

        fake.reset_requests()
        # The config's mirror, as the killed CLI read it.
        settings = Settings.model_validate({"watches": [{"name": "everything", "mirror": True}]})
        with harness.make_client(fake, mirror_page_size=PAGE) as client:
            hook = discover.sync_hook(engine, settings, client)
            again = sync_engine.run_sync(engine, client, before_fetch=hook)
        assert again.outcome == "ok", again.errors
        pages = [r for r in fake.requests if r.path.endswith("/studies")]
        left = STUDIES - len(before)
        # What was stored is not asked again, except the mark's day (fewer than a page).
        assert len(pages) <= math.ceil(left / PAGE) + 1, (len(pages), left)
        after = stored(engine)
        assert after == {n: [h] for n, h in hashes.items()}, "lost or duplicated studies"
        assert_loaded(engine)
    row: dict[str, Any] = {
        "table": "crash",
        "what": f"mirror load of {STUDIES}",
        "kill": kill_at or f"after {kill_after}s",
        "stage": 1,
        "db": engine.dialect.name,
        "killed": "yes" if killed else "finished first",
        "integrity": "ok",
        "rerun": f"converged ({len(before)} kept, {len(pages)} pages asked)",
        "versions lost": 0,
        "duplicates": 0,
    }
    return CrashResult(killed, seconds, row)
