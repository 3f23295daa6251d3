"""Backfill: import each trial's past versions from the registry's own record history."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models import RegistryVersion, Snapshot, SyncRun, Trial
from models.db import session_scope
from sync.core import record
from sync.core.diff import walk as differ
from sync.core.states import Origin, RegistryState, RunKind, RunOutcome
from sync.core.util import Progress
from sync.ingest.backfill_plan import (
    HistoryShapeError,
    ListedVersion,
    Plan,
    parse_history_list,
    parse_version_doc,
    plan,
    stands_for,
)
from sync.registry.client import ApiError, CtgovClient, Moved, NotFound
from sync.store import runs
from sync.store import snapshots as store
from sync.store.locks import Busy, exclusive
from sync.store.runs import recorded_run

log = logging.getLogger(__name__)


NO_HISTORY = "no_history"


@dataclass
class TrialBackfill:
    nct_id: str
    # ok, partial, failed, or no_history: the registry publishes no history for it (an
    # outcome, not a failure: nothing was missed, there is nothing to import).
    outcome: str = RunOutcome.OK
    listed: int = 0
    planned: int = 0
    fetched: int = 0
    imported: int = 0  # new versions in the timeline
    unchanged: int = 0  # same content as the version before: no version of their own
    merged: int = 0  # same content as the version after (e.g. the first polled one)
    not_fetched: int = 0  # known from the list only (--only-modules)
    changes: int = 0
    errors: list[str] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BackfillSummary:
    run_id: int | None = None
    outcome: str = RunOutcome.RUNNING
    requests: int = 0
    only_modules: list[str] | None = None
    trials: list[TrialBackfill] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return sum(t.imported for t in self.trials)

    @property
    def fetched(self) -> int:
        return sum(t.fetched for t in self.trials)

    @property
    def changes(self) -> int:
        return sum(t.changes for t in self.trials)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(imported=self.imported, fetched=self.fetched, changes=self.changes)
        return out


def targets(session: Session) -> list[str]:
    """What `backfill --all` covers: active trials the registry may know (not aliases or
    IDs it answered 404 for)."""
    rows = session.exec(
        select(Trial).where(col(Trial.active).is_(True)).order_by(col(Trial.nct_id))
    ).all()
    unknown_there = (RegistryState.NOT_FOUND, RegistryState.ALIAS)
    return [t.nct_id for t in rows if t.registry_state not in unknown_there]


def _when(date: str | None) -> datetime:
    if date:
        parts = [int(p) for p in date.split("-")] + [1]
        return datetime(parts[0], parts[1], parts[2], tzinfo=UTC)
    return datetime.now(UTC)


def _register(
    session: Session, trial: Trial, listed: list[ListedVersion], wanted: frozenset[str] | None
) -> Plan:
    """Record every listed version (RegistryVersion), link the ones the polled versions already
    stand for, and plan what to fetch."""
    assert trial.id is not None
    rows = {
        r.registry_version: r
        for r in session.exec(select(RegistryVersion).where(RegistryVersion.trial_id == trial.id))
    }
    for lv in listed:
        row = rows.get(lv.version)
        if row is None:
            row = RegistryVersion(trial_id=trial.id, registry_version=lv.version)
        row.date, row.overall_status, row.module_labels = lv.date, lv.status, list(lv.labels)
        session.add(row)
        rows[lv.version] = row
    snaps = store.snapshots(session, trial.id)
    polled = [s for s in snaps if s.origin != Origin.HISTORY]
    first = polled[0] if polled else None
    seam = (
        stands_for(listed, first.last_update_submitted, first.last_update_posted)
        if first is not None
        else None
    )
    if first is not None:
        # Later registry versions were polled: link them by date, never fetch them.
        for snap in polled[1:]:
            v = stands_for(
                listed, snap.last_update_submitted, snap.last_update_posted, exact=True
            )
            row = rows.get(v) if v is not None and (seam is None or v > seam) else None
            if row is not None and row.snapshot_version is None:
                row.snapshot_version = snap.version
    done = {v for v, r in rows.items() if r.snapshot_version is not None}
    return plan(listed, done, seam, first is not None, wanted)


def _may_merge(
    version: int, after: Snapshot, seam: int | None, rows: dict[int, RegistryVersion]
) -> bool:
    """Whether `version` may join the version after it (same content): only when no registry
    version in between is unknown, or the timeline would claim a content it cannot vouch for."""
    if after.registry_version is not None:
        upper = after.registry_version - 1
    elif seam is not None and version <= seam:
        upper = seam  # the first polled version stands for the seam version
    else:
        return False
    return all(
        rows[u].snapshot_version is not None for u in range(version + 1, upper + 1) if u in rows
    )


def import_version(
    session: Session,
    nct_id: str,
    lv: ListedVersion,
    study: dict[str, Any],
    seam: int | None,
    run_id: int | None = None,
) -> tuple[str, int]:
    """Put one fetched registry version in its place in the timeline, in the caller's
    transaction. Returns (what happened, changes written): "inserted" as a new version,
    "unchanged" (same content as the version before it) or "merged" (same content as the
    version after it, which now starts at this registry version)."""
    trial = session.exec(select(Trial).where(Trial.nct_id == nct_id).with_for_update()).one()
    assert trial.id is not None
    rows = {
        r.registry_version: r
        for r in session.exec(select(RegistryVersion).where(RegistryVersion.trial_id == trial.id))
    }
    snaps = {s.version: s for s in store.snapshots(session, trial.id)}
    # Its place: right after the last version that stands for an earlier registry version.
    earlier = [
        s.version
        for s in snaps.values()
        if s.registry_version is not None and s.registry_version < lv.version
    ]
    pos = max(earlier, default=0) + 1
    before, after = snaps.get(pos - 1), snaps.get(pos)
    digest = record.content_hash(study)
    row = rows[lv.version]
    if before is not None and store.hash_of(session, before) == digest:
        row.snapshot_version = before.version
        session.add(row)
        return "unchanged", 0
    if (
        after is not None
        and store.hash_of(session, after) == digest
        and _may_merge(lv.version, after, seam, rows)
    ):
        after.registry_version, after.registry_date = lv.version, lv.date
        row.snapshot_version = after.version
        session.add_all([after, row])
        # The changes into it happened at this registry version, whenever it was polled.
        for change in store.changes_between(session, trial.id, after.version - 1, after.version):
            change.detected_at = _when(lv.date)
            session.add(change)
        return "merged", 0
    stored = store.insert_version(
        session,
        trial,
        pos,
        study,
        origin=Origin.HISTORY,
        run_id=run_id,
        registry_version=lv.version,
        registry_date=lv.date,
    )
    row.snapshot_version = pos
    session.add(row)
    written = 0
    if stored.previous is not None:
        # What was one step (before -> after) is two now (before -> new -> after).
        store.delete_changes_between(session, trial.id, pos - 1, pos + 1)
        when = _when(lv.date)
        written += _add_changes(session, trial, pos - 1, stored.previous, study, run_id, when)
    nxt = store.get_snapshot(session, trial.id, pos + 1)
    if nxt is not None:
        when = _when(nxt.registry_date) if nxt.registry_date else nxt.fetched_at
        newer = store.record_of(session, nxt)
        written += _add_changes(session, trial, pos, study, newer, run_id, when)
    return "inserted", written


def _add_changes(
    session: Session,
    trial: Trial,
    from_v: int,
    old: dict[str, Any],
    new: dict[str, Any],
    run_id: int | None,
    when: datetime,
) -> int:
    found = differ.diff_records(old, new)
    rows = store.add_changes(session, trial, from_v, from_v + 1, found, run_id)
    # Dated when they happened, so a digest never reports a years-old change as news.
    for r in rows:
        r.detected_at = when
    return len(rows)


class _Backfill:
    """One backfill run; the public entry point is backfill()."""

    def __init__(
        self,
        engine: Engine,
        client: CtgovClient,
        wanted: frozenset[str] | None,
        summary: BackfillSummary,
        progress: Progress | None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.wanted = wanted
        self.s = summary
        self.progress = progress
        self.done = 0
        self.total = 0

    def tick(self, label: str, planned: int = 0, done: int = 0) -> None:
        self.total += planned
        self.done += done
        if self.progress:
            self.progress(self.done, max(self.total, self.done), label)

    def trial(self, nct_id: str) -> TrialBackfill:
        t = TrialBackfill(nct_id)
        with session_scope(self.engine) as session:
            if store.get_trial(session, nct_id) is None:
                return self.fail(t, f"not tracked (add it with: trialwatch add {nct_id})")
        try:
            listed = parse_history_list(self.client.history_list(nct_id), nct_id)
        except NotFound:
            t.outcome = NO_HISTORY
            return t
        except Moved as moved:
            return self.fail(t, f"it is an alias of {moved.new_id}: backfill {moved.new_id}")
        except (ApiError, HistoryShapeError) as exc:
            return self.fail(t, f"the history list failed: {exc}")
        t.listed = len(listed)
        with session_scope(self.engine) as session:
            trial = store.get_trial(session, nct_id)
            assert trial is not None
            p = _register(session, trial, listed, self.wanted)
        t.planned, t.not_fetched = len(p.fetch), len(p.not_fetched)
        self.tick(nct_id, planned=len(p.fetch))
        by_version = {lv.version: lv for lv in listed}
        for v in p.fetch:
            try:
                doc = self.client.history_version(nct_id, v)
                study = parse_version_doc(doc, nct_id, v)
            except (ApiError, HistoryShapeError) as exc:
                # Stop here: versions are imported in order, so a re-run resumes at v.
                t.errors.append(f"{nct_id}: registry version {v}: {exc}")
                break
            try:
                with session_scope(self.engine) as session:
                    lv = by_version[v]
                    what, n = import_version(session, nct_id, lv, study, p.seam, self.s.run_id)
                    # The run's row claims what is committed, in the transaction that stores
                    # it: a backfill killed or cut anywhere reads true (as a sync's pages do).
                    runs.counts(
                        session,
                        self.s.run_id,
                        fetched=1,
                        new_versions=int(what == "inserted"),
                        changes=n,
                    )
            except IntegrityError:
                t.errors.append(
                    f"{nct_id}: registry version {v}: another process wrote this trial's "
                    "versions meanwhile; run backfill again"
                )
                break
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                # A record odd enough to break hashing or diffing: nothing of it was written.
                t.errors.append(f"{nct_id}: registry version {v} could not be imported: {exc}")
                break
            t.fetched += 1
            t.changes += n
            if what == "inserted":
                t.imported += 1
            elif what == "merged":
                t.merged += 1
            else:
                t.unchanged += 1
            self.tick(nct_id, done=1)
        t.versions = self.versions(nct_id)
        # What `history` lists as known but not fetched: skipped by --only-modules, or
        # submitted between two polls.
        t.not_fetched = sum(v["snapshot_version"] is None for v in t.versions)
        if t.errors:
            # Partial when this run moved the timeline on, failed when it could not.
            progressed = t.imported + t.merged + t.unchanged
            t.outcome = RunOutcome.PARTIAL if progressed else RunOutcome.FAILED
        return t

    def fail(self, t: TrialBackfill, message: str) -> TrialBackfill:
        t.errors.append(f"{t.nct_id}: {message}")
        t.outcome = RunOutcome.FAILED
        return t

    def versions(self, nct_id: str) -> list[dict[str, Any]]:
        with session_scope(self.engine) as session:
            trial = store.get_trial(session, nct_id)
            assert trial is not None
            rows = session.exec(
                select(RegistryVersion)
                .where(RegistryVersion.trial_id == trial.id)
                .order_by(col(RegistryVersion.registry_version))
            ).all()
            return [
                {
                    "registry_version": r.registry_version,
                    "date": r.date,
                    "status": r.overall_status,
                    "module_labels": r.module_labels or [],
                    "snapshot_version": r.snapshot_version,
                }
                for r in rows
            ]


def backfill(
    engine: Engine,
    client: CtgovClient,
    nct_ids: list[str],
    *,
    only_modules: list[str] | None = None,
    trigger: str = "cli",
    progress: Progress | None = None,
) -> BackfillSummary:
    """Import the registry's past versions of these tracked trials, before their polled
    versions; idempotent and resumable. Recorded as a SyncRun of kind "backfill".

    Backfills never overlap (BackfillBusy says when another one runs); a sync may run beside
    one: the trial row locks of store keep their versions apart.
    """
    with ExitStack() as held:
        try:
            held.enter_context(exclusive(engine, "backfill"))
        except Busy as exc:
            raise BackfillBusy(f"another backfill is running on this database ({exc})") from None
        return _backfill(engine, client, nct_ids, only_modules, trigger, progress)


class BackfillBusy(Exception):
    """Another backfill holds this database's backfill lock."""


def _backfill(
    engine: Engine,
    client: CtgovClient,
    nct_ids: list[str],
    only_modules: list[str] | None,
    trigger: str,
    progress: Progress | None,
) -> BackfillSummary:
    wanted = frozenset(label.lower() for label in only_modules) if only_modules else None
    summary = BackfillSummary(only_modules=list(only_modules) if only_modules else None)
    start = client.requests

    def close(_session: Session, run: SyncRun) -> None:
        _finish(run, summary, client.requests - start)

    # Backfills never overlap (the lock): one that held it and still reads "running" has ended.
    mode = "modules" if wanted else "full"
    with recorded_run(
        engine, summary, kind=RunKind.BACKFILL, trigger=trigger, mode=mode, close=close,
        lock="backfill"
    ) as run_id:
        summary.run_id = run_id
        job = _Backfill(engine, client, wanted, summary, progress)
        # The bar counts requests: each trial's history list, known from the start, then the
        # versions each list plans (0/0 until the first list arrived, and for good when
        # every version was already imported).
        job.tick("history lists", planned=len(nct_ids))
        for nct in nct_ids:
            t = job.trial(nct)
            job.tick(nct, done=1)
            summary.trials.append(t)
            summary.errors.extend(t.errors)
        outcomes = {
            RunOutcome.OK if t.outcome == NO_HISTORY else t.outcome for t in summary.trials
        }
        summary.outcome = (
            RunOutcome.OK if outcomes <= {RunOutcome.OK}
            else RunOutcome.FAILED if outcomes == {RunOutcome.FAILED}
            else RunOutcome.PARTIAL
        )
    return summary


def _finish(run: SyncRun, summary: BackfillSummary, requests: int) -> None:
    summary.requests = requests
    for e in summary.errors:
        # The summary carries them to the user: a warning here would print each twice.
        log.info("backfill: %s", e)
    run.requests = requests
    # fetched, new_versions and changes are on the row already, added as each version was
    # committed (runs.counts): what the summary adds up may include none that was not.
    run.details = {
        "only_modules": summary.only_modules,
        "trials": [
            {k: v for k, v in asdict(t).items() if k != "versions"} for t in summary.trials
        ],
    }
