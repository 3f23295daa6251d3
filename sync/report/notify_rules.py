"""Which stored changes are worth a notification: event importance thresholds and quiet kinds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from models import Change, Trial, Watch, WatchMatch
from sync.config import Settings
from sync.core.events import RANK, at_least, build_events


@dataclass(frozen=True)
class Rules:
    """A global threshold, per-trial thresholds from the watches they belong to, quiet kinds."""

    min_importance: str = "medium"
    quiet: frozenset[str] = frozenset()
    per_trial: dict[str, str] = field(default_factory=dict)

    def threshold(self, nct_id: str) -> str:
        return self.per_trial.get(nct_id, self.min_importance)


def rules_for(session: Session, settings: Settings, nct_ids: Sequence[str]) -> Rules:
    """The rules for these trials: a watch's own threshold applies to its members (the most
    permissive one when a trial belongs to several watches)."""
    thresholds = {w.name: w.min_importance for w in settings.watches if w.min_importance}
    per_trial: dict[str, str] = {}
    if thresholds and nct_ids:
        wanted = sorted(set(nct_ids))
        pairs = list(
            session.exec(
                select(WatchMatch.nct_id, Watch.name)
                .join(Watch, col(Watch.id) == col(WatchMatch.watch_id))
                .where(col(Watch.name).in_(list(thresholds)), col(WatchMatch.nct_id).in_(wanted))
            )
        )
        for nct, source in session.exec(
            select(Trial.nct_id, Trial.source).where(col(Trial.nct_id).in_(wanted))
        ):
            if source and source.startswith("watch:"):
                pairs.append((nct, source.removeprefix("watch:")))
        for nct, name in pairs:
            level = thresholds.get(name)
            if level is None:
                continue
            current = per_trial.get(nct)
            if current is None or RANK[level] > RANK[current]:
                per_trial[nct] = level
    return Rules(
        min_importance=settings.notify.min_importance,
        quiet=frozenset(settings.notify.quiet),
        per_trial=per_trial,
    )


def notable_changes(
    rows: Sequence[tuple[Change, Trial]],
    rules: Rules,
    reverts: Mapping[tuple[int, int], Mapping[int, int]] | None = None,
) -> list[int]:
    """IDs of the changes of every trial-version that has an event worth notifying; the whole
    version goes, so the digest sent still counts its routine updates. An edit that only undoes
    an earlier one (`reverts`: {(trial id, version): its reverts}, sync.store.steps) never is."""
    by_version: dict[tuple[str, int, int], list[Change]] = {}
    for change, trial in rows:
        by_version.setdefault((trial.nct_id, change.from_version, change.to_version), []).append(
            change
        )
    out: list[int] = []
    for (nct, _, to_v), changes in by_version.items():
        threshold = rules.threshold(nct)
        undone = (reverts or {}).get((changes[0].trial_id, to_v))
        if any(
            e.kind not in rules.quiet and e.kind != "reverted" and at_least(e.importance, threshold)
            for e in build_events(changes, undone)
        ):
            out.extend(c.id for c in changes if c.id is not None)
    return sorted(out)
