"""An export recorded as a run (kind "export"): when it started and ended, what it wrote or
why it did not, shown by `status` beside the syncs; one killed is closed by the next run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from models import SyncRun
from models.db import read_only_reason
from sync.core.states import RunKind, RunOutcome
from sync.core.util import Progress
from sync.report.export import ExportSummary
from sync.report.export_rows import ExportError
from sync.store import lease
from sync.store.runs import recorded_run

Summary = TypeVar("Summary", bound=ExportSummary)


@dataclass
class _Account:
    outcome: str = RunOutcome.RUNNING
    errors: list[str] = field(default_factory=list)


def recorded(
    engine: Engine,
    mode: str,
    work: Callable[[Progress], Summary],
    progress: Progress | None = None,
    *,
    trigger: str = "cli",
) -> Summary:
    """Run `work` (an export, given the progress to report to) as a recorded run: ok with the
    studies it wrote (`fetched`) and every table's rows (details), or failed with the reason
    (an ExportError, raised again once recorded; a kill is closed by the next run). From a
    database this process may only read, the export runs unrecorded."""
    if read_only_reason(engine):
        return work(progress or (lambda *_: None))
    account = _Account()
    done: list[Summary] = []
    refused: ExportError | None = None

    def close(_session: Session, run: SyncRun) -> None:
        if done:
            s = done[0]
            run.fetched = s.tables.get("trials", s.tables.get("studies", 0))
            run.details = {"target": s.target, "format": s.format, "since": s.since,
                           "merged": s.merged, "tables": s.tables}  # fmt: skip

    with recorded_run(
        engine, account, kind=RunKind.EXPORT, trigger=trigger, mode=mode[:20], close=close
    ):
        try:
            done.append(work(lease.beating(engine, progress)))
            account.outcome = RunOutcome.OK
        except ExportError as exc:
            account.outcome = RunOutcome.FAILED
            account.errors.append(str(exc))
            refused = exc
    if refused is not None:
        raise refused
    return done[0]
