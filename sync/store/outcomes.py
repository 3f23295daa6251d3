"""The read side of `trialwatch outcomes`: the pre-specified primary outcomes, and every later
change to the outcomes with its timing, from the stored versions and changes."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from models import Change
from sync.core.outcomes import BEFORE_START, is_switch, outcome_events, phase, study_dates
from sync.core.states import Origin
from sync.store import snapshots as store
from sync.store.views import NothingFound, nothing_stored, require_trial


def _primaries(record: dict[str, Any]) -> list[dict[str, Any]]:
    module = (record.get("protocolSection") or {}).get("outcomesModule") or {}
    items = module.get("primaryOutcomes") or []
    return [
        {k: item.get(k) for k in ("measure", "timeFrame", "description") if item.get(k)}
        for item in items
        if isinstance(item, dict)
    ]


def outcomes(session: Session, nct_id: str) -> dict[str, Any]:
    """{nct_id, pre_specified, note, changes}: `pre_specified` is the last stored version before
    the study's start (its primary outcomes), or None with a `note` saying why; `changes` lists
    every judged outcome change after it, each with its version, date and timing."""
    trial = require_trial(session, nct_id)
    snaps = store.snapshots(session, trial.id or 0)
    if not snaps:
        raise NothingFound(nothing_stored(trial), None)
    rows = session.exec(
        select(Change).where(Change.trial_id == trial.id).order_by(col(Change.id))
    ).all()
    by_version: dict[int, list[Change]] = {}
    for row in rows:
        if row.to_version == row.from_version + 1:
            by_version.setdefault(row.to_version, []).append(row)

    pre: dict[str, Any] | None = None
    changes: list[dict[str, Any]] = []
    first_phase = None
    for snap in snaps:
        record = store.load_record(session, trial.id or 0, snap.version) or {}
        dates = study_dates(record)
        when = phase(dates)
        if first_phase is None:
            first_phase = when
        if when == BEFORE_START:
            pre = {
                "version": snap.version,
                "registry_version": snap.registry_version,
                "date": dates.get("submitted"),
                "start": dates.get("start"),
                "primary_outcomes": _primaries(record),
            }
            changes = []  # what changed before the start is not a change of the pre-specified
            continue
        outcome_rows = [c for c in by_version.get(snap.version, []) if c.category == "outcomes"]
        for event in outcome_events(outcome_rows, dates):
            for judged in event.changes:
                changes.append(
                    {
                        "version": snap.version,
                        "date": dates.get("submitted"),
                        "timing": when,
                        "importance": event.importance,
                        "switch": judged.list == "primary" and is_switch([judged], when),
                        **judged.to_dict(),
                    }
                )
    note = None
    if pre is None:
        first = snaps[0]
        from_start = first.origin == Origin.HISTORY and first.registry_version == 0
        if from_start:
            note = "none registered before the start (the first registered version is later)"
        else:
            note = (
                "not known: the stored history does not reach back before the start; "
                f"run `trialwatch backfill {trial.nct_id}` to import the registry's past versions"
            )
    return {"nct_id": trial.nct_id, "pre_specified": pre, "note": note, "changes": changes}
