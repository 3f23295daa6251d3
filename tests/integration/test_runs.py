"""The one run lifecycle (sync.store.runs): a run cut short never reads as clean."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import SyncRun
from models.db import session_scope
from sync.core.states import RunKind, RunOutcome
from sync.core.stops import Stopped
from sync.daemon.service import DaemonStop
from sync.store.runs import recorded_run


@dataclass
class Account:
    outcome: str = RunOutcome.RUNNING
    errors: list[str] = field(default_factory=list)


def _runs(engine: sa.Engine) -> list[SyncRun]:
    with session_scope(engine) as s:
        return list(s.exec(select(SyncRun).order_by(SyncRun.id)))  # type: ignore[arg-type]


def _fetched(_session: Session, run: SyncRun) -> None:
    run.fetched = 7


def test_a_finished_run_is_closed_with_its_outcome_and_figures(engine: sa.Engine) -> None:
    account = Account()
    with recorded_run(engine, account, kind=RunKind.SYNC, trigger="cli", mode="full",
                      close=_fetched) as run_id:  # fmt: skip
        (during,) = _runs(engine)
        assert (during.id, during.outcome, during.finished_at) == (run_id, "running", None)
        account.outcome = RunOutcome.PARTIAL
        account.errors.append("NCT00000001: timed out")
    (run,) = _runs(engine)
    assert (run.kind, run.trigger, run.mode, run.outcome, run.fetched) == (
        "sync", "cli", "full", "partial", 7
    )
    assert run.errors == ["NCT00000001: timed out"] and run.finished_at is not None


def test_an_interrupted_run_is_failed_with_the_reason_and_the_interruption_goes_on(
    engine: sa.Engine,
) -> None:
    account = Account(outcome=RunOutcome.OK)
    with pytest.raises(KeyboardInterrupt):
        with recorded_run(engine, account, kind=RunKind.BACKFILL, trigger="cli", mode=None,
                          close=_fetched):  # fmt: skip
            raise KeyboardInterrupt("Ctrl-C")
    (run,) = _runs(engine)
    assert (run.outcome, run.fetched) == ("failed", 7) and run.finished_at is not None
    assert run.errors == ["interrupted by Ctrl-C (SIGINT)"]
    assert account.outcome == "failed"


@pytest.mark.parametrize(
    ("exc", "stored"),
    [(Stopped("SIGTERM"), "interrupted: stopped by SIGTERM"),
     (Stopped("SIGINT"), "interrupted by Ctrl-C (SIGINT)"),
     (DaemonStop("SIGTERM"), "interrupted: the daemon was stopped (SIGTERM)"),
     (RuntimeError("boom"), "interrupted: RuntimeError: boom")],
)  # fmt: skip
def test_a_run_stores_why_it_was_cut_short_in_words(
    engine: sa.Engine, exc: BaseException, stored: str
) -> None:
    account = Account(outcome=RunOutcome.OK)
    with pytest.raises(type(exc)):
        with recorded_run(engine, account, kind=RunKind.SYNC, trigger="cli", mode=None,
                          close=_fetched):  # fmt: skip
            raise exc
    assert _runs(engine)[0].errors == [stored]


def test_rows_without_a_process_identity_are_closed_by_their_kinds_lock(engine: sa.Engine) -> None:
    with session_scope(engine) as s:
        s.add(SyncRun(kind="sync", outcome="running"))
        s.add(SyncRun(kind="watch", outcome="running"))
    account = Account(outcome=RunOutcome.OK)
    with recorded_run(engine, account, kind=RunKind.SYNC, trigger="daemon", mode=None,
                      close=_fetched, lock="sync"):  # fmt: skip
        pass
    stale_sync, other_kind, mine = _runs(engine)
    assert stale_sync.outcome == "failed"
    assert stale_sync.errors == ["interrupted: the process ended mid-run"]
    assert other_kind.outcome == "running"  # not this caller's lock: may still be running
    assert mine.outcome == "ok"
