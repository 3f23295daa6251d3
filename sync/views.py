"""Read-side queries behind list, show, history, status and diff: plain dicts, ready for JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from models import Change, RegistryVersion, Snapshot, SyncRun, Trial
from sync import diff as differ
from sync import record, store


class UnknownTrial(LookupError):
    """The NCT ID is not tracked (and was never tracked) here."""


class NoSuchVersion(LookupError):
    """The trial has no such version."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def trial_list(session: Session, include_inactive: bool = False) -> list[dict[str, Any]]:
    q = select(Trial).order_by(col(Trial.nct_id))
    if not include_inactive:
        q = q.where(col(Trial.active).is_(True))
    return [
        {
            "nct_id": t.nct_id,
            "status": t.status,
            "title": t.title,
            "latest_version": t.latest_version,
            "found": t.registry_state != "not_found",
            "registry_state": t.registry_state,
            "alias_of": t.alias_of,
            "last_update_posted": t.last_update_posted,
            "last_checked_at": _iso(t.last_checked_at),
            "source": t.source,
            "active": t.active,
        }
        for t in session.exec(q)
    ]


def require_trial(session: Session, nct_id: str) -> Trial:
    trial = store.get_trial(session, nct_id)
    if trial is None:
        raise UnknownTrial(f"{nct_id} is not tracked (add it with: trialwatch add {nct_id})")
    return trial


def show(session: Session, nct_id: str, as_of: str | None = None) -> dict[str, Any]:
    """The trial's key fields from its latest version (or the version current on as_of)."""
    trial = require_trial(session, nct_id)
    snap = (
        _snapshot_as_of(session, trial, as_of)
        if as_of
        else (
            store.get_snapshot(session, trial.id or 0, trial.latest_version)
            if trial.latest_version
            else None
        )
    )
    base: dict[str, Any] = {
        "nct_id": trial.nct_id,
        "title": trial.title,
        "status": trial.status,
        "enrollment": {"count": None, "type": None},
        "phases": [],
        "latest_version": trial.latest_version,
        "version": None,
        "found": trial.registry_state != "not_found",
        "registry_state": trial.registry_state,
        "alias_of": trial.alias_of,
        "active": trial.active,
        "as_of": as_of,
    }
    if snap is None:
        if as_of:
            raise NoSuchVersion(f"{nct_id} has no version on or before {as_of}")
        return base
    keys = record.key_fields(store.record_of(session, snap))
    keys.pop("nct_id", None)
    base.update(keys)
    base["version"] = snap.version
    base["fetched_at"] = _iso(snap.fetched_at)
    base["origin"] = snap.origin
    base["registry_version"] = snap.registry_version
    base["registry_date"] = snap.registry_date
    return base


def _snapshot_as_of(session: Session, trial: Trial, as_of: str) -> Snapshot | None:
    """The version that stood on that date: by the registry's date for imported versions and
    the registry's last-update date (or fetch date) for polled ones."""
    best = None
    for snap in store.snapshots(session, trial.id or 0):
        when = snap.registry_date or snap.last_update_posted or snap.fetched_at.date().isoformat()
        if when <= as_of:
            best = snap
    return best


def to_diff_changes(rows: list[Change]) -> list[differ.Change]:
    return [
        differ.Change(
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


def history(session: Session, nct_id: str) -> list[dict[str, Any]]:
    trial = require_trial(session, nct_id)
    out = []
    rows = session.exec(
        select(Change).where(Change.trial_id == trial.id).order_by(col(Change.id))
    ).all()
    by_version: dict[int, list[Change]] = {}
    for row in rows:
        if row.to_version == row.from_version + 1:
            by_version.setdefault(row.to_version, []).append(row)
    for snap in store.snapshots(session, trial.id or 0):
        changes = by_version.get(snap.version, [])
        out.append(
            {
                "version": snap.version,
                "fetched_at": _iso(snap.fetched_at),
                "origin": snap.origin,
                "registry_version": snap.registry_version,
                "registry_date": snap.registry_date,
                "last_update_posted": snap.last_update_posted,
                "content_hash": snap.content_hash,
                "changes": len(changes),
                "summaries": differ.summarise(to_diff_changes(changes)),
                "fetched": True,
            }
        )
    return _with_unfetched(session, trial, out)


def _with_unfetched(
    session: Session, trial: Trial, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Put the registry versions a partial backfill left unfetched in their place in the
    timeline: after the stored version with the highest lower registry number."""
    known = session.exec(
        select(RegistryVersion).where(
            RegistryVersion.trial_id == trial.id, col(RegistryVersion.snapshot_version).is_(None)
        )
    ).all()
    if not known:
        return items
    placed: list[tuple[float, int, dict[str, Any]]] = [
        (float(it["version"]), it["registry_version"] or -1, it) for it in items
    ]
    for rv in known:
        before = [
            it["version"]
            for it in items
            if it["registry_version"] is not None and it["registry_version"] < rv.registry_version
        ]
        where = (max(before) if before else 0) + 0.5
        item = {
            "version": None,
            "fetched_at": None,
            "origin": "history",
            "registry_version": rv.registry_version,
            "registry_date": rv.date,
            "last_update_posted": None,
            "overall_status": rv.overall_status,
            "module_labels": rv.module_labels or [],
            "changes": 0,
            "summaries": [],
            "fetched": False,
        }
        placed.append((where, rv.registry_version, item))
    return [it for _, _, it in sorted(placed, key=lambda p: (p[0], p[1]))]


def diff(
    session: Session, nct_id: str, from_v: int | None = None, to_v: int | None = None
) -> dict[str, Any]:
    """Changes between two versions: stored ones for adjacent versions, computed otherwise."""
    trial = require_trial(session, nct_id)
    if trial.latest_version < 2 and from_v is None:
        raise NoSuchVersion(f"{nct_id} has {trial.latest_version} version(s): nothing to compare")
    to_v = to_v if to_v is not None else trial.latest_version
    from_v = from_v if from_v is not None else to_v - 1
    for v in (from_v, to_v):
        if not 1 <= v <= trial.latest_version:
            raise NoSuchVersion(
                f"{nct_id} has versions 1 to {trial.latest_version}; there is no version {v}"
            )
    changes: list[differ.Change]
    stored = store.changes_between(session, trial.id or 0, from_v, to_v)
    if stored:
        changes = to_diff_changes(stored)
    else:
        old = store.load_record(session, trial.id or 0, from_v)
        new = store.load_record(session, trial.id or 0, to_v)
        assert old is not None and new is not None
        changes = differ.diff_records(old, new)
    return {
        "nct_id": nct_id,
        "from": from_v,
        "to": to_v,
        "changes": [c.to_dict() for c in changes],
    }


def runs(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    rows = session.exec(select(SyncRun).order_by(col(SyncRun.id).desc()).limit(limit)).all()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "trigger": r.trigger,
            "started": _iso(r.started_at),
            "finished": _iso(r.finished_at),
            "outcome": r.outcome,
            "mode": r.mode,
            "requests": r.requests,
            "fetched": r.fetched,
            "new_versions": r.new_versions,
            "changes": r.changes,
            "not_found": r.not_found or [],
            "errors": r.errors or [],
        }
        for r in rows
    ]


def status(session: Session, limit: int = 10) -> dict[str, Any]:
    """What `status --json` prints: the last runs, the daemon's heartbeat and next runs, and
    digests not delivered yet."""
    from sync.daemon_status import status_info

    return {"runs": runs(session, limit), **status_info(session)}
