"""A running run's heartbeat: the lease that tells a run of another host that stopped (killed,
its machine gone) from one still at work.

On its own machine a run's process can be asked (sync.store.process); on another host of a
shared PostgreSQL it cannot. So a running row is stamped (syncrun.heartbeat_at, by the
database's clock) in every transaction that commits the run's work, at most once every
`beat_every` seconds, and by `keep_alive` through long stretches that commit nothing (a
download, an export); a row of another host whose stamp is older than
database.stale_run_seconds is taken for dead by the next run (runs.close_stale).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.engine import Engine

from models import SyncRun
from models.db import database_now, session_scope, timeouts_of
from sync.core.states import RunOutcome
from sync.core.util import Progress, aware


def beat_every(engine: Engine) -> float:
    """Seconds between two heartbeats: a tenth of the bound, and at least once a minute."""
    return min(60.0, timeouts_of(engine).stale_run / 10)


@dataclass
class _Lease:
    run_id: int
    engine: Engine
    every: float
    last: float  # time.monotonic() of the last beat

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every


# The runs this thread (or task) is running, innermost last.
_LEASES: ContextVar[tuple[_Lease, ...]] = ContextVar("trialwatch_run_leases", default=())


@contextmanager
def held(engine: Engine, run_id: int) -> Iterator[None]:
    """While the block runs, the commits of this thread on `engine` stamp run_id's heartbeat."""
    lease = _Lease(run_id, engine, beat_every(engine), time.monotonic())
    token = _LEASES.set((*_LEASES.get(), lease))
    try:
        yield
    finally:
        _LEASES.reset(token)


def _beat(session: orm.Session, lease: _Lease) -> None:
    lease.last = time.monotonic()
    table: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]  # Core: no autoflush
    now = database_now(session.connection())
    session.execute(
        sa.update(table)
        .where(table.c.id == lease.run_id, table.c.outcome == RunOutcome.RUNNING)
        .values(heartbeat_at=now)
    )


def _due(bind: Any) -> list[_Lease]:
    engine = getattr(bind, "engine", bind)
    return [lease for lease in _LEASES.get() if lease.engine is engine and lease.due()]


@sa.event.listens_for(orm.Session, "before_commit")
def _beat_on_commit(session: orm.Session) -> None:
    leases = _LEASES.get()
    if not leases:
        return
    try:
        bind = session.get_bind()
    except sa.exc.UnboundExecutionError:
        return
    for lease in _due(bind):
        _beat(session, lease)


def keep_alive(engine: Engine) -> None:
    """A heartbeat now, in a transaction of its own, when one is due: for work that commits
    nothing for long (downloading the registry's archive, writing an export)."""
    due = _due(engine)
    if due:
        with session_scope(engine) as session:
            for lease in due:
                _beat(session, lease)


def beating(engine: Engine, progress: Progress | None) -> Progress:
    """`progress`, which also keeps the heartbeat of the runs under way (keep_alive)."""

    def tick(done: int, total: int, label: str) -> None:
        keep_alive(engine)
        if progress is not None:
            progress(done, total, label)

    return tick


def silent(run: SyncRun, ident: dict[str, Any], now: datetime, bound: float) -> str | None:
    """Why a running row of another host is taken for dead: its heartbeat (its start, for a
    row written before heartbeats) is older than `bound` seconds by the database's clock.
    None for a row of this host (its process is asked instead) or one still beating."""
    host = ident.get("host")
    if not host or host == socket.gethostname():
        return None
    last = aware(run.heartbeat_at or run.started_at)
    age = (now - last).total_seconds()
    if age <= bound:
        return None
    return (
        f"interrupted: the process stopped responding (host {host}; "
        f"no heartbeat for {round(age / 60)} min)"
    )
