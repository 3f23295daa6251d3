"""Versioned snapshots: write one only when the canonical content changed; read versions back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Change, Meta, RegistryVersion, Snapshot, Trial
from models.db import database_now
from sync.core import record
from sync.core.states import Origin
from sync.core.util import aware
from sync.store import codec

# Every KEYFRAME_EVERY-th version is stored whole; the others are compressed with the latest
# keyframe as a raw-content dictionary (sync.store.codec), so a version decodes in at most two
# steps and a small edit of a 100 KB record costs well under 1 KB.
KEYFRAME_EVERY = 32


def get_trial(session: Session, nct_id: str) -> Trial | None:
    return session.exec(select(Trial).where(Trial.nct_id == nct_id)).first()


def get_snapshot(session: Session, trial_id: int, version: int) -> Snapshot | None:
    return session.exec(
        select(Snapshot).where(Snapshot.trial_id == trial_id, Snapshot.version == version)
    ).first()


def snapshots(session: Session, trial_id: int) -> list[Snapshot]:
    return list(
        session.exec(
            select(Snapshot).where(Snapshot.trial_id == trial_id).order_by(col(Snapshot.version))
        )
    )


def raw_of(session: Session, snap: Snapshot) -> bytes:
    keyframe = trained = None
    if snap.encoding == codec.DELTA:
        assert snap.base_version is not None
        base = get_snapshot(session, snap.trial_id, snap.base_version)
        if base is None:
            raise ValueError(f"keyframe v{snap.base_version} of snapshot {snap.id} is missing")
        keyframe = raw_of(session, base)
    elif snap.encoding == codec.TRAINED:
        if snap.dict_id is None:
            raise ValueError(f"snapshot {snap.id} names no compression dictionary")
        trained = codec.for_body(session, snap.dict_id, snap.body)
    return codec.decode(snap.encoding, snap.body, keyframe, trained)


def record_of(session: Session, snap: Snapshot) -> dict[str, Any]:
    doc = orjson.loads(raw_of(session, snap))
    assert isinstance(doc, dict)
    return doc


def load_record(session: Session, trial_id: int, version: int) -> dict[str, Any] | None:
    snap = get_snapshot(session, trial_id, version)
    return record_of(session, snap) if snap else None


def hash_of(session: Session, snap: Snapshot) -> str:
    """The snapshot's content hash in the current canonical form (recomputed for older forms
    and the received form, so that a CANON_VERSION bump never turns unchanged content into a
    new version)."""
    if snap.canon_version == record.CANON_VERSION:
        return snap.content_hash
    return record.content_hash(record_of(session, snap))


def changed_hash(session: Session, snap: Snapshot, study: dict[str, Any]) -> str | None:
    """None when study has the content of stored version snap; else study's canonical hash.

    A version stored with its received-form hash (a first version) is equal to a record with
    the same received form at the cost of that cheap hash; otherwise the canonical forms
    decide, the stored one recomputed from its body.
    """
    if snap.canon_version == record.RECEIVED_FORM and record.received_hash(study) == (
        snap.content_hash
    ):
        return None
    digest = record.content_hash(study)
    return None if hash_of(session, snap) == digest else digest


@dataclass
class Stored:
    snapshot: Snapshot
    previous: dict[str, Any] | None  # the record of the version before, when there is one


def _new_snapshot(
    session: Session,
    trial_id: int,
    version: int,
    previous: Snapshot | None,
    study: dict[str, Any],
    digest: str,
    keys: dict[str, Any],
    *,
    form: int = record.CANON_VERSION,
    **meta: Any,
) -> Snapshot:
    """Version `version` of a record, compressed against the keyframe in force after
    `previous` (the version before it), or whole when it starts a new keyframe run."""
    keyframe: Snapshot | None = None
    if previous is not None and (version - 1) % KEYFRAME_EVERY != 0:
        keyframe = (
            previous
            if codec.is_whole(previous.encoding)
            else get_snapshot(session, trial_id, previous.base_version or 0)
        )
    raw = orjson.dumps(study)
    if keyframe is not None:
        trained = None
        encoding, body = codec.encode(raw, raw_of(session, keyframe))
    else:
        trained = codec.current(session)
        encoding, body = codec.encode(raw, trained=trained)
    return Snapshot(
        trial_id=trial_id,
        version=version,
        content_hash=digest,
        canon_version=form,
        last_update_posted=keys["last_update_posted"],
        last_update_submitted=keys["last_update_submitted"],
        encoding=encoding,
        base_version=keyframe.version if keyframe is not None else None,
        dict_id=trained.id if trained is not None else None,
        raw_size=len(raw),
        body=body,
        **meta,
    )


def copy_listed(trial: Trial, keys: dict[str, Any]) -> None:
    """The trial row's copies of its latest version's listed fields (a title it lacks kept)."""
    listed = record.listed_fields(keys)
    listed["title"] = listed["title"] or trial.title
    for name, value in listed.items():
        setattr(trial, name, value)


def store_version(
    session: Session,
    trial: Trial,
    study: dict[str, Any],
    *,
    origin: str = Origin.POLL,
    run_id: int | None = None,
    data_timestamp: str | None = None,
    api_version: str | None = None,
    registry_version: int | None = None,
    registry_date: str | None = None,
    fetched_at: datetime | None = None,
) -> Stored | None:
    """Write study as the trial's next version unless its content equals the latest version's.

    Returns None when nothing was written. The caller commits; the (trial_id, version) unique
    constraint turns a concurrent writer's duplicate into an IntegrityError, never a duplicate.
    """
    assert trial.id is not None
    if session.get_bind().dialect.name != "sqlite":
        # Lock the trial's row and read its latest version afresh: a concurrent writer (a
        # backfill renumbering versions) is waited for, not raced into the unique constraint.
        # SQLite needs none of it: its writers queue for the whole transaction.
        session.refresh(trial, ["latest_version"], with_for_update=True)
    latest = get_snapshot(session, trial.id, trial.latest_version) if trial.latest_version else None
    keys = record.key_fields(study)
    copy_listed(trial, keys)
    if latest is None:
        # Nothing to compare with yet: the cheap received form (see record.RECEIVED_FORM).
        form, digest = record.RECEIVED_FORM, record.received_hash(study)
    else:
        changed = changed_hash(session, latest, study)
        if changed is None:
            return None
        form, digest = record.CANON_VERSION, changed
    version = trial.latest_version + 1
    snap = _new_snapshot(
        session,
        trial.id,
        version,
        latest,
        study,
        digest,
        keys,
        form=form,
        fetched_at=fetched_at or database_now(session),
        origin=origin,
        registry_version=registry_version,
        registry_date=registry_date,
        data_timestamp=data_timestamp,
        api_version=api_version,
        run_id=run_id,
    )
    previous = record_of(session, latest) if latest is not None else None
    session.add(snap)
    trial.latest_version = version
    session.add(trial)
    return Stored(snapshot=snap, previous=previous)


def insert_first_versions(session: Session, rows: list[dict[str, Any]]) -> None:
    """Version 1 of trials that had none, as Snapshot rows made by the caller (their trial
    rows updated by it), in one multi-row insert."""
    session.execute(sa.insert(Snapshot), rows)


def undo_run_version(session: Session, trial: Trial, run_id: int | None) -> list[Change] | None:
    """Take back the trial's latest version when run `run_id` wrote it (in this transaction or
    an earlier one of the run): the registry contradicted it later in the same run.

    Returns the changes removed with it, or None when the latest version is not the run's.
    The trial's title, status and last update go back to the version before (or stay, when
    there is none: the trial then reads as never fetched, latest_version 0).
    """
    assert trial.id is not None
    if run_id is None or not trial.latest_version:
        return None
    session.flush()
    latest = get_snapshot(session, trial.id, trial.latest_version)
    if latest is None or latest.run_id != run_id:
        return None
    changes = list(
        session.exec(
            select(Change).where(Change.trial_id == trial.id, Change.to_version == latest.version)
        )
    )
    for row in changes:
        session.delete(row)
    session.delete(latest)
    session.flush()
    trial.latest_version = latest.version - 1
    before = get_snapshot(session, trial.id, trial.latest_version) if trial.latest_version else None
    if before is not None:
        keys = record.key_fields(record_of(session, before))
        copy_listed(trial, keys)
    session.add(trial)
    return changes


def add_changes(
    session: Session,
    trial: Trial,
    from_version: int,
    to_version: int,
    changes: list[Any],
    run_id: int | None = None,
) -> list[Change]:
    """Store typed changes (objects with a to_dict()) between two versions."""
    assert trial.id is not None
    if not changes:
        return []
    rows = []
    now = database_now(session)
    for ch in changes:
        d = ch.to_dict() if hasattr(ch, "to_dict") else dict(ch)
        row = Change(
            trial_id=trial.id,
            from_version=from_version,
            to_version=to_version,
            category=d["category"],
            path=d["path"],
            old=d.get("old"),
            new=d.get("new"),
            summary=d["summary"],
            severity=d["severity"],
            detail=d.get("detail"),
            detected_at=now,
            run_id=run_id,
        )
        session.add(row)
        rows.append(row)
    return rows


def _shift_versions(session: Session, trial_id: int, start: int) -> None:
    """Renumber the trial's versions >= start one up: snapshots, the keyframes they name,
    changes and registry versions, in the caller's transaction.

    Snapshots go through negative numbers so that (trial_id, version) stays unique after every
    row, which both SQLite and PostgreSQL check row by row.
    """
    session.flush()
    off = {"synchronize_session": False}
    snap_v = col(Snapshot.version)
    mine = col(Snapshot.trial_id) == trial_id
    session.execute(
        sa.update(Snapshot).where(mine, snap_v >= start).values(version=-(snap_v + 1)),
        execution_options=off,
    )
    session.execute(
        sa.update(Snapshot).where(mine, snap_v < 0).values(version=-snap_v), execution_options=off
    )
    base = col(Snapshot.base_version)
    session.execute(
        sa.update(Snapshot).where(mine, base >= start).values(base_version=base + 1),
        execution_options=off,
    )
    for name in ("from_version", "to_version"):
        column = getattr(Change, name)
        session.execute(
            sa.update(Change)
            .where(col(Change.trial_id) == trial_id, column >= start)
            .values({name: column + 1}),
            execution_options=off,
        )
    rv = col(RegistryVersion.snapshot_version)
    session.execute(
        sa.update(RegistryVersion)
        .where(col(RegistryVersion.trial_id) == trial_id, rv >= start)
        .values(snapshot_version=rv + 1),
        execution_options=off,
    )
    # Objects loaded before the renumbering hold the old numbers.
    session.expire_all()


def insert_version(
    session: Session,
    trial: Trial,
    position: int,
    study: dict[str, Any],
    *,
    origin: str = Origin.HISTORY,
    run_id: int | None = None,
    registry_version: int | None = None,
    registry_date: str | None = None,
    fetched_at: datetime | None = None,
) -> Stored:
    """Write study as version `position`, moving the versions from there on one up.

    Unlike store_version it writes even when the content equals a neighbour's (the caller
    decides) and it leaves the changes to the caller: the ones between the old neighbours
    (position-1 -> position+1 after the move) are stale and must be replaced. The trial's
    denormalised fields follow only when the new version is the latest.
    """
    assert trial.id is not None
    trial_id, latest = trial.id, trial.latest_version
    if not 1 <= position <= latest + 1:
        raise ValueError(f"version {position} is outside 1..{latest + 1}")
    if position <= latest:
        _shift_versions(session, trial_id, position)
    previous = get_snapshot(session, trial_id, position - 1) if position > 1 else None
    keys = record.key_fields(study)
    snap = _new_snapshot(
        session,
        trial_id,
        position,
        previous,
        study,
        record.content_hash(study),
        keys,
        fetched_at=fetched_at or database_now(session),
        origin=origin,
        registry_version=registry_version,
        registry_date=registry_date,
        run_id=run_id,
    )
    session.add(snap)
    trial.latest_version = latest + 1
    if position == latest + 1:
        copy_listed(trial, keys)
    session.add(trial)
    session.flush()
    return Stored(snapshot=snap, previous=record_of(session, previous) if previous else None)


def delete_changes_between(session: Session, trial_id: int, from_v: int, to_v: int) -> int:
    """Drop the stored changes between two versions; returns how many there were."""
    rows = changes_between(session, trial_id, from_v, to_v)
    for row in rows:
        session.delete(row)
    return len(rows)


def changes_between(session: Session, trial_id: int, from_v: int, to_v: int) -> list[Change]:
    return list(
        session.exec(
            select(Change)
            .where(
                Change.trial_id == trial_id,
                Change.from_version == from_v,
                Change.to_version == to_v,
            )
            .order_by(col(Change.id))
        )
    )


def get_meta(session: Session, key: str, default: Any = None) -> Any:
    row = session.get(Meta, key)
    return row.value if row is not None else default


def set_meta(session: Session, key: str, value: Any) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value, updated_at=datetime.now(UTC)))
    else:
        row.value = value
        row.updated_at = datetime.now(UTC)
        session.add(row)


def storage_bytes(session: Session, trial_id: int | None = None) -> tuple[int, int, int]:
    """(versions, stored body bytes, raw bytes) overall or for one trial."""
    q = sa.select(
        sa.func.count(col(Snapshot.id)),
        sa.func.coalesce(sa.func.sum(sa.func.length(col(Snapshot.body))), 0),
        sa.func.coalesce(sa.func.sum(col(Snapshot.raw_size)), 0),
    )
    if trial_id is not None:
        q = q.where(col(Snapshot.trial_id) == trial_id)
    n, body, raw = session.execute(q).one()
    return int(n), int(body), int(raw)


def version_date(snap: Snapshot, previous: Snapshot | None = None) -> str:
    """The day a version took effect, as the registry writes dates: the registry's own date for
    an imported version, its last-update date for a polled one, else the day it was fetched.

    A version whose last-update date did not move past the version before's (`previous`: the
    registry turns a lapsed study UNKNOWN without posting an update) took effect in the data
    release it first appeared in: its dataTimestamp's day (else the day it was fetched).
    Callers that walk a trial's versions in order pass the one before.
    """
    fetched = aware(snap.fetched_at).date().isoformat()
    if snap.registry_date:
        return snap.registry_date
    posted, before = snap.last_update_posted, previous.last_update_posted if previous else None
    if posted and before and posted <= before:
        return (snap.data_timestamp or "")[:10] or fetched
    return posted or fetched


def version_dates(session: Session, snaps: Any) -> dict[tuple[int, int], str]:
    """version_date of each of `snaps` (any versions of any trials, in any order), by
    (trial_id, version): each with the version before it, read in one query when it is not
    among them, so that callers that show a few versions date them as an export does."""
    given = {(s.trial_id, s.version): s for s in snaps}
    missing = sorted({(t, v - 1) for t, v in given if v > 1} - given.keys())
    before: dict[tuple[int, int], Any] = {}
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        for row in session.execute(
            sa.select(
                col(Snapshot.trial_id), col(Snapshot.version), col(Snapshot.last_update_posted)
            ).where(sa.tuple_(col(Snapshot.trial_id), col(Snapshot.version)).in_(chunk))
        ):
            before[(row.trial_id, row.version)] = row
    out = {}
    for (trial_id, version), snap in given.items():
        previous = given.get((trial_id, version - 1)) or before.get((trial_id, version - 1))
        out[(trial_id, version)] = version_date(snap, previous)
    return out
