"""What a database holds, counted the way loads are checked: nothing lost, nothing twice."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import func, select

from models import Snapshot, Trial
from models.db import session_scope


def counts(engine: sa.Engine) -> tuple[int, int, int]:
    """(trials, versions, distinct (trial, version) pairs): the last two differ on duplicates."""
    with session_scope(engine) as s:
        trials = s.exec(select(func.count()).select_from(Trial)).one()
        versions = s.exec(select(func.count()).select_from(Snapshot)).one()
        pairs = len(set(s.exec(select(Snapshot.trial_id, Snapshot.version)).all()))
    return trials, versions, pairs
