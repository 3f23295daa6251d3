"""Database faults under a sync: a proxy in front of PostgreSQL goes silent or cuts mid-run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from models import Snapshot, SyncRun, Trial
from models.db import session_scope
from sync.core import record
from sync.ingest.run import track
from sync.store import snapshots as store
from sync.testing.factory import make_study, nct, with_last_update, with_status
from sync.testing.fakectgov import FakeRegistry, Fault, Request
from tests.chaos.harness import integrity_problems

TRIALS = [nct(i) for i in range(201, 209)]  # two batches of 4, each two pages (3 + 1)
STUDIES_PATH = "/api/v2/studies"

# Small timeouts for the attacks (seconds), as TRIALWATCH_DATABASE__* variables and Timeouts.
SMALL = {
    "connect_timeout_seconds": 2,
    "statement_timeout_seconds": 1,
    "reply_timeout_seconds": 2,
    "keepalive_idle_seconds": 1,
    "keepalive_interval_seconds": 1,
    "keepalive_count": 2,
    "tcp_user_timeout_seconds": 2,
    "busy_timeout_seconds": 1,
}


def small_env() -> dict[str, str]:
    return {f"TRIALWATCH_DATABASE__{k.upper()}": str(v) for k, v in SMALL.items()}


def small_timeouts() -> Any:
    from sync.config import DatabaseSettings
    from sync.store import database as db

    return db.timeouts(DatabaseSettings(**SMALL))


class HookedRegistry(FakeRegistry):
    """The fake registry that calls `hook` when the n-th request for studies arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: Callable[[], None] | None = None
        self.at = 0
        self._asked = 0

    def arm(self, at: int, hook: Callable[[], None]) -> None:
        self._asked, self.at, self.hook = 0, at, hook

    def _log(
        self, method: str, path: str, params: dict[str, str], *, consume: bool = True
    ) -> tuple[Request, Fault | None]:
        if path == STUDIES_PATH and "filter.ids" in params and consume and self.hook:
            self._asked += 1
            if self._asked == self.at:
                hook, self.hook = self.hook, None
                hook()
        return super()._log(method, path, params, consume=consume)


def stage1(fake: FakeRegistry, engine: Engine) -> None:
    for n in TRIALS:
        fake.put(make_study(n, title=f"Study {n}", last_update="2026-10-01"))
    with session_scope(engine) as s:
        track(s, TRIALS)


def stage2(fake: FakeRegistry) -> None:
    """A new version of every trial."""
    for n in TRIALS:
        study = fake.get(n)
        assert study is not None
        fake.put(with_last_update(with_status(study, "ACTIVE_NOT_RECRUITING"), "2026-11-21"))
    fake.set_data_timestamp("2026-11-21T09:00:03")


@dataclass
class Stored:
    versions: dict[str, list[int]]  # NCT ID -> its version numbers
    current: int  # trials whose latest version is the registry's current record
    problems: list[str]

    def lost(self, expected: int) -> int:
        return sum(max(0, expected - len(v)) for v in self.versions.values())

    def duplicated(self, expected: int) -> int:
        return sum(max(0, len(v) - expected) for v in self.versions.values())


def stored(engine: Engine, fake: FakeRegistry) -> Stored:
    versions: dict[str, list[int]] = {}
    current = 0
    with session_scope(engine) as s:
        for trial in s.exec(select(Trial).where(col(Trial.nct_id).in_(TRIALS))):
            assert trial.id is not None
            snaps = store.snapshots(s, trial.id)
            versions[trial.nct_id] = [x.version for x in snaps]
            served = fake.get(trial.nct_id)
            if snaps and served is not None:
                if store.hash_of(s, snaps[-1]) == record.content_hash(served):
                    current += 1
    return Stored(versions, current, integrity_problems(engine))


def runs(engine: Engine) -> list[SyncRun]:
    with session_scope(engine) as s:
        return list(s.exec(select(SyncRun).order_by(col(SyncRun.id))))


def versions_count(engine: Engine) -> int:
    with session_scope(engine) as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(Snapshot)).scalar_one())


def wait_for_lock_free(engine: Engine, bound: float = 20.0) -> None:
    """Until no other session holds an advisory lock (a dead client's session, ended by the
    server once the proxy passes its close on)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            held = conn.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            ).scalar()
        if not held:
            return
        time.sleep(0.1)
    raise AssertionError(f"an advisory lock was still held after {bound} s")
