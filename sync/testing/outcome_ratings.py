"""The rated primary-outcome changes (Holst et al.): loaded, split, put into a real record, scored.

The pairs are split by trial with a stable hash of the NCT ID (the ratings' own README splits
the source by trial too): the rules are tuned on one part, their goals hold on the other.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sync.core.diff.walk import diff_records
from sync.core.events import build_events
from sync.testing.factory import load_sample, samples_dir, with_last_update

BASE_RECORD = "records/NCT05280470.json"  # a real record; its outcomes are replaced
CLASSES = ("major", "minor", "none")
# What each rated class should become (the goals), and the goals on the kept-apart part.
EXPECTED = {"major": "high", "minor": "medium", "none": "low"}
GOALS = {"major": 0.95, "minor": 0.90, "none": 0.80, "exact": 0.70}
NCT = "NCT90000001"


@dataclass(frozen=True)
class Pair:
    ref: int
    nct_id: str
    phase: str
    labels: tuple[str, ...]
    cls: str
    a: dict[str, Any]
    b: dict[str, Any]

    @property
    def tuned(self) -> bool:
        """On the part the rules were tuned on (else kept apart)."""
        return hashlib.sha256(self.nct_id.encode()).digest()[0] % 2 == 0


Result = tuple[Pair, str | None]  # a pair and the importance trialwatch gave it (None: no event)


def load_pairs() -> list[Pair]:
    path = samples_dir().parent / "ratings" / "primary-outcome-changes.json"
    items = json.loads(path.read_text(encoding="utf-8"))
    return [
        Pair(i["ref"], i["nct_id"], i["phase"], tuple(i["labels"]), i["class"], i["a"], i["b"])
        for i in items
    ]


def record_with(outcomes: dict[str, Any], nct_id: str, day: str) -> dict[str, Any]:
    """The base record under `nct_id`, its outcomes module replaced, last updated on `day`."""
    study = load_sample(BASE_RECORD)
    ps = study["protocolSection"]
    ps["identificationModule"]["nctId"] = nct_id
    ps["identificationModule"].pop("nctIdAliases", None)
    ps["outcomesModule"] = copy.deepcopy(outcomes)
    return with_last_update(study, day)


def primary_importance(events: Iterable[Any]) -> str | None:
    """The importance of the primary-outcome event (None: no such event)."""
    for e in events:
        kind = e["kind"] if isinstance(e, dict) else e.kind
        if kind in ("primary_outcome", "outcome_switch"):
            return str(e["importance"] if isinstance(e, dict) else e.importance)
    return None


def judged(pairs: list[Pair]) -> tuple[list[Result], list[Result]]:
    """(before, after) for each pair, by the pure code a sync runs: the old rule (an event with
    a primary change is high) and the rules of sync.core.outcomes."""
    before: list[Result] = []
    after: list[Result] = []
    for p in pairs:
        changes = diff_records(
            record_with(p.a, NCT, "2026-10-01"), record_with(p.b, NCT, "2026-11-20")
        )
        primary = any(".primaryOutcomes" in c.path for c in changes)
        before.append((p, "high" if primary else None))
        after.append((p, primary_importance(build_events(changes))))
    return before, after


def hit(cls: str, importance: str | None) -> bool:
    """Whether an importance meets the goal for a rated class (minor: medium or high)."""
    if cls == "major":
        return importance == "high"
    if cls == "minor":
        return importance in ("medium", "high")
    return importance in ("low", None)


def exact(cls: str, importance: str | None) -> bool:
    return (importance or "low") == EXPECTED[cls]


def figures(results: list[Result]) -> dict[str, float]:
    """The four figures (shares 0-1) of (pair, importance) results; n is the pair count."""
    out: dict[str, float] = {"n": float(len(results))}
    for cls in CLASSES:
        of = [imp for p, imp in results if p.cls == cls]
        out[cls] = sum(hit(cls, imp) for imp in of) / len(of) if of else float("nan")
    out["exact"] = (
        sum(exact(p.cls, imp) for p, imp in results) / len(results) if results else float("nan")
    )
    return out


def confusion(results: list[Result]) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = {cls: Counter() for cls in CLASSES}
    for p, imp in results:
        table[p.cls][imp or "no event"] += 1
    return table
