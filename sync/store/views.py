"""Read-side queries behind list, show, history, status and diff, as sync.store.results types."""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session, col, select

from models import Change, RegistryVersion, Snapshot, SyncRun, Trial
from sync.core import outcomes, record
from sync.core.diff import walk as differ
from sync.core.events import build_events
from sync.core.reverts import history_reverts
from sync.core.states import Origin, RegistryState, RunKind, RunOutcome
from sync.core.util import aware, iso
from sync.store import snapshots as store
from sync.store import unrecorded
from sync.store.listing import TrialQuery, trial_rows
from sync.store.results import (
    VERSION_KEYS,
    DiffItem,
    DiffResult,
    Enrollment,
    HistoryItem,
    RunRow,
    TrialDetail,
    TrialRow,
)
from sync.store.steps import reverts_of


class UnknownTrial(LookupError):
    """The NCT ID is not tracked (and was never tracked) here."""


class NoSuchVersion(LookupError):
    """The trial has no such version."""


class BadDate(ValueError):
    """A date the user typed that is not one."""


class NothingFound(NoSuchVersion):
    """Valid input that finds nothing (a trial the registry does not know, a date before the
    first version): the CLI says so in one line, not as an error; `data` is what --json
    prints. A NoSuchVersion for the web app, which answers both alike."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.data = data


def nothing_stored(trial: Trial) -> str:
    """Why a tracked trial has no version: what the registry says of it, in words."""
    state = state_text(trial.registry_state, trial.alias_of)
    return f"{trial.nct_id}: {state or 'no versions stored yet'}"


def state_text(registry_state: str, alias_of: str | None) -> str | None:
    """What the registry says of a tracked ID, in words; None when it has its record."""
    return {
        "not_found": "not found at the registry",
        "alias": f"alias of {alias_of}",
        "rejected": "rejected by the registry",
        "unknown": "not synced yet",
    }.get(registry_state)


def rejected_ids(session: Session) -> list[str]:
    """Active trials whose ID the registry refuses (400): left out of every batch."""
    rows = session.exec(
        select(Trial.nct_id)
        .where(col(Trial.active).is_(True), Trial.registry_state == "rejected")
        .order_by(col(Trial.nct_id))
    ).all()
    return list(rows)


def trial_list(session: Session, include_inactive: bool = False) -> list[TrialRow]:
    """Every tracked trial by NCT ID (the removed ones too with include_inactive)."""
    return trial_rows(session, TrialQuery(include_inactive=include_inactive))


def require_trial(session: Session, nct_id: str) -> Trial:
    trial = store.get_trial(session, nct_id)
    if trial is None:
        raise UnknownTrial(f"{nct_id} is not tracked (add it with: trialwatch add {nct_id})")
    return trial


def require_tracked(session: Session, nct_ids: list[str]) -> None:
    """UnknownTrial for the first of these IDs that is not tracked here (a --trial filter)."""
    for nct_id in nct_ids:
        require_trial(session, nct_id)


def show(session: Session, nct_id: str, as_of: str | None = None) -> TrialDetail:
    """The trial's key fields from its latest version (or the version current on as_of:
    YYYY, YYYY-MM, YYYY-MM-DD or an ISO date-time; BadDate otherwise)."""
    day = parse_as_of(as_of) if as_of is not None else None
    trial = require_trial(session, nct_id)
    snap = (
        _snapshot_as_of(session, trial, day)
        if day
        else (
            store.get_snapshot(session, trial.id or 0, trial.latest_version)
            if trial.latest_version
            else None
        )
    )
    base = TrialDetail(
        nct_id=trial.nct_id,
        title=trial.title,
        status=trial.status,
        enrollment=Enrollment(),
        phases=[],
        latest_version=trial.latest_version,
        version=None,
        registry_state=RegistryState(trial.registry_state),
        alias_of=trial.alias_of,
        active=trial.active,
        as_of=as_of,
        as_of_date=day.isoformat() if day else None,
        registry_last_update_posted=trial.last_update_posted,
        last_checked_at=iso(trial.last_checked_at),
    )
    if snap is None:
        if day and trial.latest_version:
            first = store.get_snapshot(session, trial.id or 0, 1)
            since = f" of {_version_day(first, None)}" if first is not None else ""
            raise NothingFound(
                f"{nct_id}: no version stored as of {day.isoformat()}; the first is v1{since}",
                base.to_dict(),
            )
        return base
    keys = record.key_fields(store.record_of(session, snap))
    # The version's own title and status: the trial row has the latest answer's.
    return replace(
        base,
        title=keys["title"],
        status=keys["status"],
        enrollment=Enrollment(**keys["enrollment"]),
        phases=keys["phases"],
        version=snap.version,
        fetched_at=iso(snap.fetched_at),
        origin=Origin(snap.origin),
        registry_version=snap.registry_version,
        registry_date=snap.registry_date,
        **{k: keys[k] for k in VERSION_KEYS},
    )


def _snapshot_as_of(session: Session, trial: Trial, day: date) -> Snapshot | None:
    """The version that stood on that day: by the registry's date for imported versions and
    the registry's last-update date (or fetch date) for polled ones, compared as dates."""
    best = previous = None
    for snap in store.snapshots(session, trial.id or 0):
        if _version_day(snap, previous) <= day:
            best = snap
        previous = snap
    return best


def _version_day(snap: Snapshot, previous: Snapshot | None) -> date:
    return _day_of(store.version_date(snap, previous)) or snap.fetched_at.date()


_AS_OF_RE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
AS_OF_FORMS = "YYYY, YYYY-MM, YYYY-MM-DD or an ISO date-time like 2026-02-10T12:00"


def parse_as_of(text: str) -> date:
    """The last day `text` covers: a year its 31 December, a month its last day, a date
    itself, a date-time its day (in UTC when it names a time zone)."""
    raw = text.strip()
    m = _AS_OF_RE.match(raw)
    try:
        if m:
            year, month, day = int(m[1]), int(m[2] or 12), m[3]
            if day is not None:
                return date(year, month, int(day))
            return date(year, month, calendar.monthrange(year, month)[1])
        if re.match(r"^\d{4}-\d{2}-\d{2}[T ]", raw):
            when = datetime.fromisoformat(raw)
            return (when.astimezone(UTC) if when.tzinfo else when).date()
    except ValueError:
        pass
    raise BadDate(f"--as-of {text!r} is not a date: use {AS_OF_FORMS}")


def _day_of(value: str | None) -> date | None:
    """A registry date (YYYY-MM-DD, or YYYY-MM: its first day) as a date."""
    if not value:
        return None
    try:
        return date.fromisoformat(value if len(value) > 7 else f"{value}-01")
    except ValueError:
        return None


def to_diff_changes(rows: list[Change]) -> list[differ.FieldChange]:
    return [
        differ.FieldChange(
            category=r.category,
            path=r.path,
            old=r.old,
            new=r.new,
            summary=r.summary,
            severity=r.severity,
            detail=r.detail,
        )
        for r in rows
    ]


def _unstamped_dates(
    session: Session, trial_id: int, version: int, changes: Sequence[Any]
) -> dict[str, Any] | None:
    """The version's dates, read from the stored version, when its outcome changes were stored
    before the diff stamped them (their events would have no timing otherwise)."""
    outcome = [c for c in changes if c.category == "outcomes"]
    if not outcome or outcomes.dates_of(outcome) is not None:
        return None
    record = store.load_record(session, trial_id, version)
    return outcomes.study_dates(record) if record is not None else None


def history(session: Session, nct_id: str) -> list[HistoryItem]:
    trial = require_trial(session, nct_id)
    out = []
    rows = session.exec(
        select(Change).where(Change.trial_id == trial.id).order_by(col(Change.id))
    ).all()
    by_version: dict[int, list[Change]] = {}
    for row in rows:
        if row.to_version == row.from_version + 1:
            by_version.setdefault(row.to_version, []).append(row)
    reverts = history_reverts(by_version)
    for snap in store.snapshots(session, trial.id or 0):
        changes = by_version.get(snap.version, [])
        out.append(
            HistoryItem(
                version=snap.version,
                fetched_at=iso(snap.fetched_at),
                origin=Origin(snap.origin),
                registry_version=snap.registry_version,
                registry_date=snap.registry_date,
                last_update_posted=snap.last_update_posted,
                content_hash=snap.content_hash,
                changes=len(changes),
                summaries=differ.summarise(to_diff_changes(changes)),
                events=build_events(
                    changes,
                    reverts.get(snap.version),
                    _unstamped_dates(session, snap.trial_id, snap.version, changes),
                ),
                fetched=True,
            )
        )
    return _with_unfetched(session, trial, out)


def why_no_history(session: Session, nct_id: str) -> str:
    """The line `history` prints for a tracked trial without versions."""
    return nothing_stored(require_trial(session, nct_id))


def _with_unfetched(
    session: Session, trial: Trial, items: list[HistoryItem]
) -> list[HistoryItem]:
    """Put the registry versions a partial backfill left unfetched in their place in the
    timeline: after the stored version with the highest lower registry number."""
    known = session.exec(
        select(RegistryVersion).where(
            RegistryVersion.trial_id == trial.id, col(RegistryVersion.snapshot_version).is_(None)
        )
    ).all()
    if not known:
        return items
    placed: list[tuple[float, int, HistoryItem]] = [
        (float(it.version or 0), it.registry_version or -1, it) for it in items
    ]
    for rv in known:
        before = [
            it.version or 0
            for it in items
            if it.registry_version is not None and it.registry_version < rv.registry_version
        ]
        where = (max(before) if before else 0) + 0.5
        item = HistoryItem(
            version=None,
            fetched_at=None,
            origin=Origin.HISTORY,
            registry_version=rv.registry_version,
            registry_date=rv.date,
            last_update_posted=None,
            overall_status=rv.overall_status,
            module_labels=rv.module_labels or [],
            changes=0,
            summaries=[],
            events=[],
            fetched=False,
        )
        placed.append((where, rv.registry_version, item))
    return [it for _, _, it in sorted(placed, key=lambda p: (p[0], p[1]))]


def diff(
    session: Session, nct_id: str, from_v: int | None = None, to_v: int | None = None
) -> DiffResult:
    """Changes between two versions: stored ones for adjacent versions, computed otherwise."""
    trial = require_trial(session, nct_id)
    if not trial.latest_version:
        raise NothingFound(nothing_stored(trial), [])
    if trial.latest_version < 2 and from_v is None and to_v is None:
        raise NothingFound(f"{nct_id}: one version stored, nothing to compare yet", [])
    to_v = to_v if to_v is not None else trial.latest_version
    from_v = from_v if from_v is not None else to_v - 1
    for v in (from_v, to_v):
        if not 1 <= v <= trial.latest_version:
            raise NoSuchVersion(
                f"{nct_id} has versions 1 to {trial.latest_version}; there is no version {v}"
            )
    stored = store.changes_between(session, trial.id or 0, from_v, to_v)
    changes: list[differ.FieldChange]
    ids: list[int | None]
    acknowledged: list[bool | None]
    if stored:
        changes = to_diff_changes(stored)
        ids = [row.id for row in stored]
        acknowledged = [row.acknowledged_at is not None for row in stored]
    else:
        old = store.load_record(session, trial.id or 0, from_v)
        new = store.load_record(session, trial.id or 0, to_v)
        assert old is not None and new is not None
        changes = differ.diff_records(old, new)
        ids = [None] * len(changes)
        acknowledged = [None] * len(changes)
    reverts = None
    if stored and to_v == from_v + 1:
        reverts = reverts_of(session, {(trial.id or 0, to_v): stored})[(trial.id or 0, to_v)]
    events = build_events(changes, reverts, _unstamped_dates(session, trial.id or 0, to_v, changes))
    event_of = {i: e for e in events for i in e.members}
    items = [
        DiffItem(
            id=ids[i],
            change=c,
            acknowledged=acknowledged[i],
            event=event_of[i].kind if i in event_of else None,
            importance=event_of[i].importance if i in event_of else None,
        )
        for i, c in enumerate(changes)
    ]
    return DiffResult(nct_id=nct_id, from_version=from_v, to_version=to_v, changes=items,
                      events=events)  # fmt: skip


def runs(session: Session, limit: int = 10) -> list[RunRow]:
    """The last runs, newest first. A row still "running" whose process lost its database
    before it could write its end, and left the reason on disk (sync.store.unrecorded), reads
    as the failure it was: the row itself is closed by the next run, which can write again."""
    rows = session.exec(select(SyncRun).order_by(col(SyncRun.id).desc()).limit(limit)).all()
    noted = unrecorded.pending(session.get_bind()) if any(  # type: ignore[arg-type]
        r.outcome == RunOutcome.RUNNING for r in rows) else {}  # fmt: skip
    return [_run_row(r, noted) for r in rows]


def _run_row(r: SyncRun, noted: dict[int, tuple[str, str]]) -> RunRow:
    row = RunRow(
        id=r.id or 0,
        kind=RunKind(r.kind),
        trigger=r.trigger,
        started=iso(r.started_at),
        finished=iso(r.finished_at),
        outcome=RunOutcome(r.outcome),
        mode=r.mode,
        requests=r.requests,
        fetched=r.fetched,
        new_versions=r.new_versions,
        changes=r.changes,
        not_found=r.not_found or [],
        errors=r.errors or [],
        warnings=list((r.details or {}).get("warnings") or []),
    )
    why = noted.get(row.id) if r.outcome == RunOutcome.RUNNING else None
    if why is not None and why[0] == aware(r.started_at).isoformat():
        return replace(row, outcome=RunOutcome.FAILED, errors=[*row.errors, why[1]])
    return row
