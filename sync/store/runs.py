"""A run's record: open a SyncRun row, note an interruption, close it with an honest outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from models import SyncRun
from models.db import session_scope
from sync.core import errors
from sync.core.states import RunKind, RunOutcome
from sync.core.stops import Stopped, interruption
from sync.core.util import aware
from sync.store import snapshots as store
from sync.store import unrecorded


class Account(Protocol):
    """What a run reports as it goes: the outcome it reached and the errors met on the way."""

    outcome: str
    errors: list[str]


NEXT_RUN = {
    RunKind.SYNC: "the next sync fetches what was missed",
    RunKind.BACKFILL: "the next backfill fetches what is still missing",
    RunKind.WATCH: "the next watch run finds what was missed",
    RunKind.CHECK: "the next check tries again",
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
    close_stale: bool = False,
) -> Iterator[int]:
    """A SyncRun row for the block; yields its id.

    The block sets `account.outcome`. When the block is interrupted (Ctrl-C, SIGTERM, a bug)
    the run is recorded as failed with the reason, and the exception goes on: a run never reads
    as clean, or stays "running", because it was cut short. Either way `close(session, run)`
    then writes the rest of the run's figures, in the transaction that finishes it.
    `close_stale`: the caller holds the lock that runs of this kind take, so any run of this
    kind still "running" belongs to a process that ended mid-run; it is closed as failed.
    """
    noted = unrecorded.pending(engine) if close_stale else {}
    with session_scope(engine) as session:
        if close_stale:
            store.close_stale_runs(session, kind, noted)
        run = SyncRun(kind=kind, trigger=trigger, mode=mode)
        session.add(run)
        session.flush()
        assert run.id is not None
        run_id, started_at = run.id, aware(run.started_at)
    if noted:
        unrecorded.forget(engine, list(noted))
    try:
        yield run_id
    except BaseException as exc:
        account.outcome = RunOutcome.FAILED
        account.errors.append(database_error(exc) or interruption(exc))
        try:
            _close(engine, run_id, account, close)
        except sa.exc.DBAPIError as lost:
            if not database_lost(exc):
                raise
            # Still gone: the reason waits on disk for the next run of this kind (which closes
            # the runs left "running"), and the user hears of the first error, not the last.
            if close_stale:
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
        run.finished_at = datetime.now(UTC)
        # One entry per distinct error with its count: the summary says the same.
        account.errors = errors.counted(account.errors)
        run.errors = list(account.errors)
        close(session, run)
        session.add(run)
