"""The overview's and the changes feed's latest versions, found by walking the newest changes
back in batches, are the ones grouping every change finds (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from models import Change, Snapshot, Trial
from models.db import session_scope
from sync.report import pageviews
from sync.store import codec
from sync.testing.factory import make_study

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _seed(engine: sa.Engine) -> None:
    """Versions whose changes come in an order unlike their trials' or versions' order: a
    version recorded again later (a higher change ID), a backfill's imported version with
    the newest IDs, and a comparison of non-adjacent versions; all to be told apart."""
    with session_scope(engine) as s:
        trials = [Trial(nct_id=f"NCT9100000{i}", latest_version=4) for i in range(6)]
        s.add_all(trials)
        s.flush()
        for t in trials:
            # A real record: the overview reads each version's own status and title.
            encoding, body = codec.encode(orjson.dumps(make_study(t.nct_id)))
            for v in range(1, 5):
                origin = "history" if (t.id or 0) % 3 == 0 and v == 3 else "poll"
                s.add(Snapshot(trial_id=t.id or 0, version=v, content_hash=f"{t.id}-{v}",
                               origin=origin, encoding=encoding, body=body,
                               fetched_at=T0 + timedelta(days=v)))
        s.flush()
        order = [(t, v) for v in range(2, 5) for t in trials]
        order = order[1::2] + order[::2] + order[:3]
        for n, (t, v) in enumerate(order):
            for k in range(2):
                s.add(Change(trial_id=t.id or 0, from_version=v - 1, to_version=v,
                             category="status", path=f"p{k}", summary="s", severity="low",
                             detected_at=T0 + timedelta(hours=n, minutes=k)))
        s.add(Change(trial_id=trials[0].id or 0, from_version=1, to_version=4, category="status",
                     path="p", summary="s", severity="low", detected_at=T0 + timedelta(days=9)))


def _grouped(s: Session, limit: int) -> list[tuple[Any, ...]]:
    """The versions (and their changes' count) as grouping every change orders them: the
    query the walk replaced."""
    snap = aliased(Snapshot)
    q = (
        select(col(Change.trial_id), col(Change.to_version), func.max(Change.id).label("last"),
               func.count())
        .join(snap, sa.and_(col(snap.trial_id) == col(Change.trial_id),
                            col(snap.version) == col(Change.to_version)))  # fmt: skip
        .where(col(Change.to_version) == col(Change.from_version) + 1, snap.origin != "history")
        .group_by(col(Change.trial_id), col(Change.to_version))
        .order_by(sa.desc("last"))
        .limit(limit)
    )
    ncts = {t.id: t.nct_id for t in s.exec(select(Trial))}
    return [(ncts[t], v, n) for t, v, _, n in s.exec(q)]  # type: ignore[call-overload]


@pytest.mark.parametrize("walk", [1, 3, 500])
def test_latest_versions_walked_back_match_grouping_them_all(
    engine: sa.Engine, walk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(engine)
    monkeypatch.setattr(pageviews, "RECENT_WALK", walk)
    with Session(engine) as s:
        for limit in (1, 2, 5, 13, 30):
            got = pageviews.recent_versions(s, limit=limit)
            assert [(v["nct_id"], v["version"], len(v["changes"])) for v in got] == _grouped(
                s, limit
            )
        # 6 trials' versions 2 to 4, less the 2 imported ones.
        assert len(pageviews.recent_versions(s, limit=30)) == 16
