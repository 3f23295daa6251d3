"""Typed changes -> a few ranked events (one kind of change each, with one readable line)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sync.core import results_diff
from sync.core.changes import Edit
from sync.core.diff.lists import DUPLICATE_SUFFIX
from sync.core.diff.rules import HIGH_STATUSES, KEY_DATES, short
from sync.core.diff.walk import summarise
from sync.core.outcomes import dates_of, outcome_events
from sync.core.reverts import reverted_line
from sync.core.util import plural

IMPORTANCE: tuple[str, ...] = ("high", "medium", "low")
RANK = {name: i for i, name in enumerate(IMPORTANCE)}

# Every kind an event can have, in the order a reader wants them at equal importance.
# Eligibility comes early: it is always shown, never lost under a cap.
KINDS: tuple[str, ...] = (
    "outcome_switch",  # a major primary outcome change after the start: first among high
    "status",
    "results",
    *results_diff.EVENT_KINDS,
    "enrollment",
    "dates",
    "eligibility",
    "primary_outcome",
    "sites_opened",
    "sites_closed",
    "sites_added",
    "sites_removed",
    "design",
    "arms",
    "interventions",
    "outcomes",
    "sponsor",
    "titles",
    "description",
    "conditions",
    "sites_status",
    "sites_changed",
    "sites_renamed",
    "identification",
    "references",
    "other",
    "reverted",
    "routine",
)
_KIND_ORDER = {k: i for i, k in enumerate(KINDS)}
# Site statuses a sponsor sets when a site stops taking participants.
_CLOSED = {"ACTIVE_NOT_RECRUITING", "COMPLETED", "SUSPENDED", "TERMINATED", "WITHDRAWN"}
_SITE_RE = re.compile(
    r"^protocolSection\.contactsLocationsModule\.locations\[(?P<key>.*?)\]"
    r"(?P<rest>$|\.[A-Za-z]+(?=$|[.\[]).*)"
)
# diff_lists numbers sites that share one identity: "name|city|country#2".
_NAME_FIELDS = (".facility", ".city", ".state")
_TOP_COUNTRIES = 3
_SUMMARY_LIMIT = 200


class ChangeLike(Edit, Protocol):
    """What sync.core.diff.walk.FieldChange and a stored models.Change row both have."""

    @property
    def category(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def detail(self) -> Any: ...


@dataclass(frozen=True)
class Event:
    """Changes of one kind in one version, ranked and summed up in one line."""

    kind: str
    category: str
    importance: str
    summary: str
    count: int
    members: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "category": self.category,
            "importance": self.importance,
            "summary": self.summary,
            "count": self.count,
        }


def sort_key(event: Event) -> tuple[int, int, int]:
    return RANK.get(event.importance, 9), _KIND_ORDER.get(event.kind, 99), -event.count


def _site(change: ChangeLike) -> tuple[str, str] | None:
    """(site key, what follows it in the path) for a change inside one site."""
    m = _SITE_RE.match(change.path)
    return (m["key"], m["rest"]) if m else None


def _status_of(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def classify(change: ChangeLike) -> str:
    """The event kind a change belongs to."""
    cat, path = change.category, change.path
    if cat == "status":
        return "status"
    if cat == "dates":
        return "dates" if any(f".{k}" in path for k in KEY_DATES) else "routine"
    if cat == "results":
        return results_diff.kind_of(path)
    if cat in ("enrollment", "eligibility", "arms", "interventions", "design"):
        return cat
    if cat == "outcomes":
        return "primary_outcome" if ".primaryOutcomes" in path else "outcomes"
    if cat == "sponsor":
        return "sponsor"
    if cat == "identification":
        titles = (".briefTitle", ".officialTitle", ".acronym")
        return "titles" if path.endswith(titles) else "identification"
    if cat == "sites":
        site = _site(change)
        if site is None:
            return "routine"  # central contacts, officials: who to call, not where
        _, rest = site
        if rest == "":
            return "sites_added" if change.old is None else "sites_removed"
        if rest == ".status":
            new = _status_of(change.new)
            if new == "RECRUITING":
                return "sites_opened"
            if new in _CLOSED:
                return "sites_closed"
            return "sites_status"
        if rest.startswith(_NAME_FIELDS):
            return "sites_renamed"
        if rest.startswith(".contacts"):
            return "routine"
        return "sites_changed"
    if cat == "other":
        if "changed in form only" in change.summary:
            return "routine"
        for module, kind in (
            ("descriptionModule", "description"),
            ("conditionsModule", "conditions"),
            ("referencesModule", "references"),
        ):
            if f".{module}" in path:
                return kind
    return "other"


def _max_severity(changes: Sequence[ChangeLike]) -> str:
    return min((c.severity for c in changes), key=lambda s: RANK.get(s, 9), default="low")


_plural = plural


def _lines(changes: Sequence[ChangeLike]) -> str:
    """The change summaries folded by diff.summarise, on one line."""
    lines = summarise(list(changes))  # type: ignore[arg-type]
    text = "; ".join(lines[:2])
    if len(lines) > 2:
        text += f"; and {len(lines) - 2} more"
    return text


def _country(change: ChangeLike) -> str:
    for value in (change.new, change.old):
        if isinstance(value, dict) and value.get("country"):
            return str(value["country"])
    site = _site(change)
    if site is None:
        return "unknown"
    return DUPLICATE_SUFFIX.sub("", site[0]).rsplit("|", 1)[-1] or "unknown"


def _site_name(change: ChangeLike) -> str:
    value = change.new if isinstance(change.new, dict) else change.old
    if isinstance(value, dict):
        parts = [value.get(k) for k in ("facility", "city", "country")]
        return ", ".join(str(p) for p in parts if p)
    site = _site(change)
    return ", ".join(p for p in DUPLICATE_SUFFIX.sub("", site[0] if site else "").split("|") if p)


def _countries(changes: Sequence[ChangeLike]) -> str:
    counts = Counter(_country(c) for c in changes).most_common()
    text = ", ".join(f"{name} {n:,}" for name, n in counts[:_TOP_COUNTRIES])
    return text + (", …" if len(counts) > _TOP_COUNTRIES else "")


def _transitions(changes: Sequence[ChangeLike]) -> str:
    moves = Counter(
        f"{_status_of(c.old) or '(none)'} -> {_status_of(c.new) or '(none)'}" for c in changes
    ).most_common()
    text = ", ".join(f"{move} {n:,}" for move, n in moves[:2])
    return f" ({text}{', …' if len(moves) > 2 else ''})"


def _sites(
    what_one: str, what_many: str, moves: bool = False
) -> Callable[[Sequence[ChangeLike]], str]:
    def summary(changes: Sequence[ChangeLike]) -> str:
        sites = {(_site(c) or ("", ""))[0]: c for c in changes}
        how = _transitions(changes) if moves else ""
        if len(sites) <= 2:
            return f"{what_one}{how}: " + "; ".join(_site_name(c) for c in sites.values())
        return f"{len(sites):,} {what_many}{how}: {_countries(list(sites.values()))}"

    return summary


def _status(changes: Sequence[ChangeLike]) -> tuple[str, str]:
    overall = next((c for c in changes if c.path.endswith(".overallStatus")), None)
    why = next((c for c in changes if c.path.endswith(".whyStopped") and c.new), None)
    if overall is None:
        return _max_severity(changes), _lines(changes)
    old, new = _status_of(overall.old), _status_of(overall.new)
    arrow = f"{old or '(none)'} -> {new or '(none)'}"
    if new == "RECRUITING" and old == "NOT_YET_RECRUITING":
        text = f"recruitment opened: {arrow}"
    elif new == "RECRUITING":
        text = f"recruitment reopened: {arrow}"
    elif old == "RECRUITING":
        text = f"recruitment closed: {arrow}"
    else:
        text = f"status: {arrow}"
    if why is not None:
        text += f" (why stopped: {short(str(why.new), 80)})"
    high = new in HIGH_STATUSES or (old == "RECRUITING" and new != old)
    return ("high" if high else "medium"), text


def _slip_months(change: ChangeLike) -> int:
    detail = change.detail if isinstance(change.detail, dict) else {}
    slip = detail.get("slip") if isinstance(detail.get("slip"), dict) else {}
    months = slip.get("months") if slip else None
    return int(months) if isinstance(months, int | float) else 0


def _dates(changes: Sequence[ChangeLike]) -> tuple[str, str]:
    order = ("primaryCompletionDateStruct", "completionDateStruct", "startDateStruct")
    ranked = sorted(
        changes, key=lambda c: next((i for i, k in enumerate(order) if f".{k}" in c.path), 9)
    )
    high = any(".primaryCompletionDateStruct" in c.path and _slip_months(c) >= 3 for c in changes)
    return ("high" if high else "medium"), "; ".join(c.summary for c in ranked)


def _count(value: Any) -> tuple[float | None, str | None]:
    if isinstance(value, dict):
        count = value.get("count")
        kind = value.get("type")
        return (count if isinstance(count, int | float) else None), (str(kind) if kind else None)
    return None, None


def _enrollment(changes: Sequence[ChangeLike]) -> tuple[str, str]:
    main = next((c for c in changes if c.path.endswith(".enrollmentInfo")), None)
    if main is None:
        return _max_severity(changes), _lines(changes)
    (ca, ta), (cb, tb) = _count(main.old), _count(main.new)
    rel = (cb - ca) / ca if ca and cb is not None else None
    pct = f" ({rel * 100:+.0f}%)" if rel is not None and ca != cb else ""
    if ta == "ESTIMATED" and tb == "ACTUAL":
        text = f"enrollment now actual: {_num(cb)} (target was {_num(ca)}){pct}"
    elif ta == tb and ca != cb:
        text = f"enrollment target: {_num(ca)} -> {_num(cb)}{pct}"
    else:
        text = main.summary
    rest = [c for c in changes if c is not main]
    if rest:
        text += "; " + _lines(rest)
    return ("high" if rel is not None and rel <= -0.2 else "medium"), text


def _num(value: float | None) -> str:
    if value is None:
        return "(none)"
    return f"{value:,.0f}" if float(value).is_integer() else str(value)


def _renamed(changes: Sequence[ChangeLike]) -> str:
    sites = {(_site(c) or ("", ""))[0] for c in changes}
    example = next((c for c in changes if c.old and c.new), None)
    text = f"{_plural(len(sites), 'site')} renamed (same place, name re-encoded or respelled)"
    if example is not None:
        text += f", e.g. {short(str(example.old), 50)} -> {short(str(example.new), 50)}"
    return text


def _routine(changes: Sequence[ChangeLike]) -> str:
    contacts = [c for c in changes if ".contacts" in c.path or "Contacts" in c.path]
    if contacts and len(contacts) == len(changes) and len(changes) > 2:
        verbs = Counter(
            "added" if c.old is None else "removed" if c.new is None else "changed"
            for c in contacts
        )
        parts = [f"{n:,} {verb}" for verb, n in verbs.most_common()]
        return f"contacts: {', '.join(parts)}"
    return _lines(changes)


_SITES_SUMMARY = {
    "sites_opened": _sites("site now recruiting", "sites now recruiting"),
    "sites_closed": _sites("site closed to recruitment", "sites closed to recruitment", True),
    "sites_added": _sites("site added", "sites added"),
    "sites_removed": _sites("site removed", "sites removed"),
    "sites_status": _sites("site status changed", "site statuses changed", moves=True),
    "sites_changed": _sites("site details changed", "sites' details changed"),
}
_FIXED = {
    "results": "high",
    "primary_outcome": "high",
    "eligibility": "medium",
    "sites_opened": "medium",
    "sites_closed": "medium",
    "sites_added": "medium",
    "sites_removed": "medium",
    "sites_renamed": "low",
    "sites_changed": "low",
    "routine": "low",
}


def _describe(kind: str, changes: Sequence[ChangeLike]) -> tuple[str, str]:
    """(importance, summary) of the changes of one kind."""
    if kind == "status":
        return _status(changes)
    if kind in results_diff.EVENT_KINDS:
        weighed = [(results_diff.severity(c.path, c.old, c.new), c.summary) for c in changes]
        return results_diff.event_line(weighed)
    if kind == "dates":
        return _dates(changes)
    if kind == "enrollment":
        return _enrollment(changes)
    if kind in _SITES_SUMMARY:
        text = _SITES_SUMMARY[kind](changes)
    elif kind == "sites_renamed":
        text = _renamed(changes)
    elif kind == "routine":
        text = _routine(changes)
    elif kind == "eligibility":
        text = "; ".join(summarise(list(changes)))  # type: ignore[arg-type]
        text = text if text.startswith("eligibility") else f"eligibility: {text}"
    else:
        text = _lines(changes)
    return _FIXED.get(kind) or _max_severity(changes), text


def _outcomes(
    changes: Sequence[ChangeLike], dates: dict[str, Any] | None, skip: Mapping[int, int]
) -> list[Event]:
    """Outcome changes judged per outcome (sync.core.outcomes): major, minor or reworded.
    Those in `skip` (reverts) are left to the "reverted" event."""
    where = [i for i, c in enumerate(changes) if c.category == "outcomes" and i not in skip]
    if not where:
        return []
    subset = [changes[i] for i in where]
    events = []
    for e in outcome_events(subset, dates_of(subset) or dates):
        members = tuple(where[m] for m in e.members)
        if members:
            events.append(
                Event(
                    e.kind,
                    "outcomes",
                    e.importance,
                    short(e.summary, _SUMMARY_LIMIT),
                    len(members),
                    members,
                )  # fmt: skip
            )
    return events


def build_events(
    changes: Sequence[ChangeLike],
    reverts: Mapping[int, int] | None = None,
    dates: dict[str, Any] | None = None,
) -> list[Event]:
    """The events of one version's changes, most important first; each change in exactly one.

    `reverts` ({change index: the version it restores}, sync.core.reverts) puts the changes
    that undo an earlier one in one low "reverted" event per category. `dates`
    (sync.core.outcomes.study_dates of the version) time the outcome changes that the diff did
    not stamp (versions stored before it did)."""
    reverts = reverts or {}
    events = _outcomes(changes, dates, reverts)
    taken = {i for e in events for i in e.members}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, change in enumerate(changes):
        if i in taken:
            continue
        kind = "reverted" if i in reverts else classify(change)
        # Routine changes group per category, so that an event always has one category.
        groups.setdefault((kind, change.category), []).append(i)
    for (kind, category), members in groups.items():
        group = [changes[i] for i in members]
        if kind == "reverted":
            importance, text = "low", reverted_line(group, [reverts[i] for i in members])
        else:
            importance, text = _describe(kind, group)
        events.append(
            Event(
                kind=kind,
                category=category,
                importance=importance,
                summary=short(text, _SUMMARY_LIMIT),
                count=len(members),
                members=tuple(members),
            )
        )
    return sorted(events, key=sort_key)


def at_least(importance: str, threshold: str) -> bool:
    """Whether an importance reaches a threshold (high > medium > low)."""
    return RANK.get(importance, 9) <= RANK.get(threshold, 9)
