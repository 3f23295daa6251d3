"""Review state: acknowledge changes (and watch events) so digests can show only the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from models import Change, Trial, WatchEvent
from models.db import database_now
from sync.core.util import IN_LIST_SIZE, MAX_STORED_INT, chunks


@dataclass
class AckResult:
    acknowledged: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    watch_events: int = 0


def acknowledge(
    session: Session,
    change_ids: Sequence[int] = (),
    *,
    all_: bool = False,
    trials: Sequence[str] = (),
    now: datetime | None = None,
) -> AckResult:
    """Mark changes reviewed: the given IDs, or all unreviewed ones (of some trials) with all_.

    `all_` also marks the watch events of those trials (all of them without `trials`).
    """
    now = now or database_now(session)
    result = AckResult()
    if all_:
        q = select(Change).where(col(Change.acknowledged_at).is_(None))
        eq = select(WatchEvent).where(col(WatchEvent.acknowledged_at).is_(None))
        if trials:
            ids = list(session.exec(select(Trial.id).where(col(Trial.nct_id).in_(trials))))
            q = q.where(col(Change.trial_id).in_(ids or [-1]))
            eq = eq.where(col(WatchEvent.nct_id).in_(trials))
        for c in session.exec(q):
            c.acknowledged_at = now
            session.add(c)
            result.acknowledged.append(c.id or 0)
        for e in session.exec(eq):
            e.acknowledged_at = now
            session.add(e)
            result.watch_events += 1
        result.acknowledged.sort()
        return result
    wanted = sorted(set(change_ids))
    found: dict[int, Change] = {}
    for part in chunks([i for i in wanted if 1 <= i <= MAX_STORED_INT], IN_LIST_SIZE):
        found.update((c.id or 0, c) for c in session.exec(select(Change).where(
            col(Change.id).in_(part))))  # fmt: skip
    for cid in wanted:
        row = found.get(cid)
        if row is None:
            result.unknown.append(cid)
        elif row.acknowledged_at is not None:
            result.already.append(cid)
        else:
            row.acknowledged_at = now
            session.add(row)
            result.acknowledged.append(cid)
    return result
