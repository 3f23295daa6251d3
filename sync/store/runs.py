"""A run's record: open a SyncRun row, note an interruption, close it with an honest outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models import SyncRun
from models.db import database_now, session_scope, timeouts_of
from sync.core import errors
from sync.core.states import RunKind, RunOutcome
from sync.core.stops import Stopped, interruption
from sync.core.util import aware
from sync.store import lease, process, unrecorded


class Account(Protocol):
    """What a run reports as it goes: the outcome it reached and the errors met on the way."""

    outcome: str
    errors: list[str]


NEXT_RUN = {
    RunKind.SYNC: "the next sync fetches what was missed",
    RunKind.BACKFILL: "the next backfill fetches what is still missing",
    RunKind.WATCH: "the next watch run finds what was missed",
    RunKind.CHECK: "the next check tries again",
    RunKind.EXPORT: "export again",
}


@contextmanager
def recorded_run(
    engine: Engine,
    account: Account,
    *,
    kind: RunKind,
    trigger: str,
    mode: str | None,
    close: Callable[[Session, SyncRun], None],
    lock: str | None = None,
) -> Iterator[int]:
    """A SyncRun row for the block; yields its id.

    The block sets `account.outcome`. When the block is interrupted (Ctrl-C, SIGTERM, a bug)
    the run is recorded as failed with the reason, and the exception goes on: a run never reads
    as clean, or stays "running", because it was cut short. Either way `close(session, run)`
    then writes the rest of the run's figures, in the transaction that finishes it.

    The row keeps its process's identity while it runs, and a heartbeat stamped as the block
    commits (sync.store.lease); first, the runs of every kind left "running" by a process that
    has ended, or by one of another host that stopped beating, are closed as failed
    (close_stale). `lock`: the lock
    the caller holds for this run ("sync", "backfill"), so that any run that held it and still
    reads "running" has ended too, on whatever machine it ran.
    """
    noted = unrecorded.pending(engine)
    with session_scope(engine) as session:
        settled = close_stale(session, kind, lock, noted)
        # Its times by the database's clock, as every stored time a window later reads: a
        # process whose clock is days off never files a run on another day (the digest's).
        now = database_now(session)
        run = SyncRun(kind=kind, trigger=trigger, mode=mode, started_at=now, heartbeat_at=now)
        run.details = {"process": process.identity(lock)}
        session.add(run)
        session.flush()
        assert run.id is not None
        run_id, started_at = run.id, aware(run.started_at)
    if settled:
        unrecorded.forget(engine, settled)
    try:
        with lease.held(engine, run_id):
            yield run_id
    except BaseException as exc:
        account.outcome = RunOutcome.FAILED
        account.errors.append(database_error(exc) or interruption(exc))
        try:
            _close(engine, run_id, account, close)
        except sa.exc.DBAPIError as lost:
            if not database_lost(exc):
                raise
            # Still gone: the reason waits on disk for the next run (which closes the runs
            # left "running"), and the user hears of the first error, not the last.
            unrecorded.note(engine, run_id, started_at, account.errors[-1])
            exc.add_note(f"run {run_id} failed; {NEXT_RUN[kind]}")
            raise exc from lost
        if database_lost(exc):
            exc.add_note(f"run {run_id} failed; {NEXT_RUN[kind]}")
        if isinstance(exc, Stopped | KeyboardInterrupt):
            # What the command's last line says (sync.cli.app): nothing was lost.
            exc.add_note(f"the run is recorded as failed; {NEXT_RUN[kind]}")
        raise
    _close(engine, run_id, account, close)


ENDED = "interrupted: the process ended mid-run"


def close_stale(
    session: Session,
    kind: str,
    lock: str | None,
    reasons: dict[int, tuple[str, str]] | None = None,
) -> list[int]:
    """Mark as failed the runs still "running" whose process has ended: one of this machine
    that is gone (process.ended), one that held `lock` (the caller holds it now), one of
    another host whose heartbeat is older than database.stale_run_seconds (lease.silent), and,
    of the rows that keep no process identity (written before they did), those of `kind` when
    the caller holds its lock. A row whose process is alive, or still beats, is left alone.

    `reasons`: why some ended, as they noted it when their database was lost (run id ->
    (started_at, why)). Returns the noted runs now settled (closed, or no longer running)."""
    reasons = reasons or {}
    running = session.exec(select(SyncRun).where(SyncRun.outcome == RunOutcome.RUNNING)).all()
    still: set[int] = set()
    now = database_now(session) if running else None
    for stale in running:
        ident = (stale.details or {}).get("process") if isinstance(stale.details, dict) else None
        silent = None
        if isinstance(ident, dict):
            held = lock is not None and ident.get("lock") == lock
            gone = held or (not process.is_self(ident) and process.ended(ident))
            if not gone and now is not None:
                bound = timeouts_of(session.get_bind()).stale_run  # type: ignore[arg-type]
                silent = lease.silent(stale, ident, now, bound)
                gone = silent is not None
        else:
            gone = lock is not None and stale.kind == kind
        if not gone:
            still.add(stale.id or 0)
            continue
        noted = reasons.get(stale.id or 0)
        why = silent or ENDED
        if noted is not None and noted[0] == aware(stale.started_at).isoformat():
            why = noted[1]
        stale.outcome = RunOutcome.FAILED
        stale.finished_at = stale.finished_at or now
        stale.errors = [*(stale.errors or []), why]
        session.add(stale)
    return [run_id for run_id in reasons if run_id not in still]


def counts(
    session: Session,
    run_id: int | None,
    *,
    fetched: int = 0,
    new_versions: int = 0,
    changes: int = 0,
) -> None:
    """Add a page's figures to its run's row, in the transaction that stores the page.

    The row then claims what was committed: a page rolled back (a full disk, a connection cut
    mid-transaction) takes its figures with it, and a run that ends anywhere reads true."""
    if run_id is None or not (fetched or new_versions or changes):
        return
    session.execute(
        sa.update(SyncRun)
        .where(col(SyncRun.id) == run_id)
        .values(
            fetched=col(SyncRun.fetched) + fetched,
            new_versions=col(SyncRun.new_versions) + new_versions,
            changes=col(SyncRun.changes) + changes,
        ),
        execution_options={"synchronize_session": False},
    )


def database_lost(exc: BaseException) -> str | None:
    """What a run cut short by a database that failed under it stores, in words (the driver's
    own first line, not the ORM's wrapper); None for another kind of stop."""
    if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return None
    return database_error(exc)


def database_error(exc: BaseException) -> str | None:
    """Any error the database raised, in words, the cause first: "database error: " and the
    driver's own first line ("database or disk is full"), not the ORM's wrapper (its
    "autoflush" advice, the statement, a link); None when `exc` is not the database's."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    first = (str(exc.orig or exc).strip().splitlines() or ["unknown error"])[0]
    return f"{errors.DATABASE_ERROR}{first}"


def _close(
    engine: Engine, run_id: int, account: Account, close: Callable[[Session, SyncRun], None]
) -> None:
    with session_scope(engine) as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        run.outcome = account.outcome
        run.finished_at = database_now(session)
        # One entry per distinct error with its count: the summary says the same.
        account.errors = errors.counted(account.errors)
        run.errors = list(account.errors)
        close(session, run)
        session.add(run)
