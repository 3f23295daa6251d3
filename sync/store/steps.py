"""The stored steps before a version, for the rules that look back (sync.core.reverts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlmodel import Session, col, select

from models import Change
from sync.core.reverts import LOOKBACK, Step, find_reverts
from sync.core.util import IN_LIST_SIZE, chunks


def earlier_steps(
    session: Session, keys: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], list[Step]]:
    """{(trial id, version N): the stored steps into the LOOKBACK versions before N}, read in a
    few queries whatever the number of trial-versions."""
    wanted: dict[int, set[int]] = {}
    for trial_id, version in keys:
        for back in range(1, LOOKBACK + 1):
            if version - back >= 2:
                wanted.setdefault(trial_id, set()).add(version - back)
    rows: dict[tuple[int, int], list[Change]] = {}
    for trial_id, versions in wanted.items():
        for part in chunks(sorted(versions), IN_LIST_SIZE):
            q = (
                select(Change)
                .where(
                    Change.trial_id == trial_id,
                    col(Change.to_version).in_(part),
                    col(Change.to_version) == col(Change.from_version) + 1,
                )
                .order_by(col(Change.id))
            )
            for c in session.exec(q):
                rows.setdefault((trial_id, c.to_version), []).append(c)
    out: dict[tuple[int, int], list[Step]] = {}
    for trial_id, version in keys:
        out[(trial_id, version)] = [
            Step(version - back - 1, version - back, rows[(trial_id, version - back)])
            for back in range(1, LOOKBACK + 1)
            if (trial_id, version - back) in rows
        ]
    return out


def reverts_of(
    session: Session, versions: Mapping[tuple[int, int], Sequence[Any]]
) -> dict[tuple[int, int], dict[int, int]]:
    """{(trial id, version N): the reverts among N's changes}: what events.build_events takes,
    for each of `versions` ({(trial id, N): the changes from N-1 to N})."""
    steps = earlier_steps(session, list(versions))
    return {key: find_reverts(changes, steps.get(key, [])) for key, changes in versions.items()}
