"""When a sync has work to do: the one rule `sync` and the daemon's freshness check share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from models import Trial, Watch
from sync.core.util import aware, plural
from sync.store import snapshots as store

# The registry's dataTimestamp of the last clean sync: what "nothing new upstream" compares to.
META_DATA_TIMESTAMP = "last_data_timestamp"
# Trials a mirror brought (source "mirror:<name>") are kept current by the mirror's own
# search pages, never by ID batches: up to the whole registry would be thousands of batches.
MIRROR_SOURCE_PREFIX = "mirror:"


def _not_mirrored() -> Any:
    return col(Trial.source).not_like(MIRROR_SOURCE_PREFIX + "%")


@dataclass(frozen=True)
class Gate:
    """What the registry's current data release asks of a sync.

    New registrations, search results and records only change when the registry publishes a
    release (dataTimestamp moves): then everything is due. Between releases only what was
    never asked is: a trial added since (state "unknown") and a watch never run with its
    current definition. Trials the registry does not know are asked again at the next release.
    """

    data_timestamp: str
    last_timestamp: str | None
    full: bool = False
    unfetched: list[str] = field(default_factory=list)
    pending_watches: list[str] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return self.last_timestamp != self.data_timestamp

    @property
    def release(self) -> bool:
        """Everything is due: a new release since the last clean sync, or a full sync."""
        return self.full or self.moved

    @property
    def needed(self) -> bool:
        return self.release or bool(self.unfetched) or bool(self.pending_watches)

    def reason(self) -> str:
        if self.full:
            return "full sync"
        if self.moved:
            return (
                f"registry data moved ({self.last_timestamp or 'never synced'} -> "
                f"{self.data_timestamp})"
            )
        if self.unfetched:
            return f"{plural(len(self.unfetched), 'tracked trial')} never fetched"
        if self.pending_watches:
            return f"{plural(len(self.pending_watches), 'watch', 'watches')} never run"
        return f"registry data unchanged ({self.data_timestamp})"


def went_back(g: Gate) -> str | None:
    """The warning when the registry's dataTimestamp is older than the last one a clean sync
    stored, else None."""
    last, now = g.last_timestamp, g.data_timestamp
    if not last or not _older(now, last):
        return None
    return (
        f"registry dataTimestamp went back: {now} is older than {last}, the last seen; "
        "nothing fetched or stored from this answer (an older release would store older "
        "records as new versions)"
    )


def _older(a: str, b: str) -> bool:
    try:
        return aware(datetime.fromisoformat(a)) < aware(datetime.fromisoformat(b))
    except ValueError:
        return a < b  # the registry's timestamps are ISO: text order is time order


def gate(session: Session, data_timestamp: str, *, full: bool = False) -> Gate:
    unfetched = session.exec(
        select(Trial.nct_id)
        .where(col(Trial.active).is_(True), Trial.registry_state == "unknown", _not_mirrored())
        .order_by(col(Trial.nct_id))
    ).all()
    return Gate(
        data_timestamp=data_timestamp,
        last_timestamp=store.get_meta(session, META_DATA_TIMESTAMP),
        full=full,
        unfetched=list(unfetched),
        pending_watches=_pending_watches(session),
    )


def _pending_watches(session: Session) -> list[str]:
    # last_outcome is None for a watch never run, and again when its definition changed.
    rows = session.exec(
        select(Watch.name)
        .where(col(Watch.active).is_(True), col(Watch.last_outcome).is_(None))
        .order_by(col(Watch.name))
    ).all()
    return list(rows)


def due_watches(session: Session, data_timestamp: str, *, full: bool = False) -> list[str]:
    """The watches a sync runs: every active one on a new release, else those never run."""
    g = gate(session, data_timestamp, full=full)
    if g.release:
        return list(
            session.exec(
                select(Watch.name).where(col(Watch.active).is_(True)).order_by(col(Watch.name))
            ).all()
        )
    return g.pending_watches


@dataclass
class Targets:
    """The tracked IDs a sync asks for, by how they are asked."""

    new: list[str] = field(default_factory=list)  # in full: never fetched
    known: list[str] = field(default_factory=list)  # incrementally: stored, or not found before
    not_found: set[str] = field(default_factory=set)  # in `known`, answered 404 before

    @property
    def count(self) -> int:
        return len(self.new) + len(self.known)


def tracked_count(session: Session) -> int:
    """Active trials a sync follows (aliases and IDs the registry rejected are not asked)."""
    return len(
        session.exec(
            select(Trial.id).where(
                col(Trial.active).is_(True),
                col(Trial.registry_state).not_in(("alias", "rejected")),
                _not_mirrored(),
            )
        ).all()
    )


def targets(session: Session, g: Gate) -> Targets:
    """What to fetch under this gate. Aliases (their target is tracked in its own right) and
    IDs the registry rejected are never asked; between releases only unfetched trials are."""
    # Three columns, not Trial objects: 50,000 ORM objects would be a run's peak memory (80 MB).
    rows = session.exec(
        select(col(Trial.nct_id), col(Trial.registry_state), col(Trial.latest_version))
        .where(col(Trial.active).is_(True), _not_mirrored())
        .order_by(col(Trial.nct_id))
    ).all()
    out = Targets()
    for nct_id, state, latest_version in rows:
        if state in ("alias", "rejected"):
            continue
        if state == "unknown" or (state == "found" and latest_version == 0):
            out.new.append(nct_id)
        elif not g.release:
            continue
        elif state == "not_found":
            # Asked again once per release, in the same incremental batches as the stored
            # ones: a trial registered since the last sync has a recent LastUpdatePostDate,
            # so it comes back there and is versioned like any other, at no request of its own.
            out.known.append(nct_id)
            out.not_found.add(nct_id)
        else:
            out.known.append(nct_id)
    return out
