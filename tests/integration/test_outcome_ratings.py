"""Every rated primary-outcome change (Holst et al.) through a real sync: the importance
trialwatch gives it against what people rated it, on the pairs kept apart from the tuning."""

from __future__ import annotations

import pytest

from models.db import session_scope
from sync.ingest.run import run_sync, track
from sync.store import views
from sync.testing.factory import nct
from sync.testing.outcome_ratings import (
    GOALS,
    Result,
    figures,
    judged,
    load_pairs,
    primary_importance,
    record_with,
)

# What the rules reach on the kept-apart pairs today (bench.outcomes prints them): a floor, so
# that a rule that makes them worse fails. The issue's goals (GOALS) are above some of these.
FLOORS = {"major": 0.90, "minor": 0.85, "none": 0.66, "exact": 0.75}
# The goals not met yet, with the share measured on the kept-apart pairs (`python -m
# bench.outcomes`): each such goal's test is a strict xfail, so that meeting it fails until the
# goal becomes a plain assertion here.
UNMET = {"major": 0.917, "minor": 0.861, "none": 0.667}


def _synced(engine, fake_ctgov, client) -> list[Result]:  # type: ignore[no-untyped-def]
    pairs = load_pairs()
    ids = [nct(i) for i in range(1, len(pairs) + 1)]
    for p, i in zip(pairs, ids, strict=True):
        fake_ctgov.put(record_with(p.a, i, "2026-10-01"))
    with session_scope(engine) as s:
        track(s, ids)
    assert run_sync(engine, client).outcome == "ok"
    for p, i in zip(pairs, ids, strict=True):
        fake_ctgov.put(record_with(p.b, i, "2026-11-20"))
    fake_ctgov.bump()
    summary = run_sync(engine, client)
    assert summary.outcome == "ok", summary.errors
    assert summary.new_versions == len(pairs)
    out = []
    with session_scope(engine) as s:
        for p, i in zip(pairs, ids, strict=True):
            last = views.history(s, i)[-1]
            assert last.version == 2
            out.append((p, primary_importance(last.events)))
    return out


def test_rated_changes_through_a_real_sync(engine, fake_ctgov, client) -> None:  # type: ignore[no-untyped-def]
    rated = _synced(engine, fake_ctgov, client)
    # A real sync judges each pair as the pure code does (the goals below are measured on it).
    _, pure = judged(load_pairs())
    assert [(p.ref, imp) for p, imp in rated] == [(p.ref, imp) for p, imp in pure]
    apart = [(p, imp) for p, imp in rated if not p.tuned]
    got = figures(apart)
    assert got["n"] >= 60
    low = {k: round(got[k], 3) for k in FLOORS if got[k] < FLOORS[k]}
    assert not low, f"below the floor on the kept-apart pairs: {low} (all: {got})"
    # The old rule: every primary edit high. The none pairs must not all be high any more.
    none = [imp for p, imp in rated if p.cls == "none"]
    assert sum(imp == "high" for imp in none) <= len(none) // 5


def _goal(name: str) -> object:
    if name not in UNMET:
        return name
    reason = (
        f"goal not met on the kept-apart pairs: {name} {UNMET[name] * 100:.1f}% measured,"
        f" {GOALS[name] * 100:.0f}% wanted"
    )
    return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize("name", [_goal(n) for n in GOALS])
def test_the_issues_goal_on_the_kept_apart_pairs(name: str) -> None:
    _, after = judged(load_pairs())
    got = figures([(p, imp) for p, imp in after if not p.tuned])
    assert got[name] >= GOALS[name], got


def test_the_unmet_goals_say_what_is_measured() -> None:
    """The figures in the xfail reasons are today's (a rule that moves them updates UNMET)."""
    _, after = judged(load_pairs())
    got = figures([(p, imp) for p, imp in after if not p.tuned])
    assert {k: round(got[k], 3) for k in UNMET} == UNMET
    assert all(got[k] < GOALS[k] for k in UNMET)
