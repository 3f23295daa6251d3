"""Posted results that change: each results change typed by part, weighed, and put in words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sync.core.diff.lists import DUPLICATE_SUFFIX, LIST_KEYS
from sync.core.diff.rules import empty, fmt, humanise, short

# The event kinds the results section's changes fall into (sync.core.events): "results" itself
# stays the section posted or removed (and hasResults).
OUTCOMES = "results_outcomes"
ADVERSE_EVENTS = "results_adverse_events"
PARTICIPANTS = "results_participants"
INFO = "results_info"
EVENT_KINDS: tuple[str, ...] = (OUTCOMES, ADVERSE_EVENTS, PARTICIPANTS, INFO)

_KIND_OF_MODULE = {
    "outcomeMeasuresModule": OUTCOMES,
    "adverseEventsModule": ADVERSE_EVENTS,
    "participantFlowModule": PARTICIPANTS,
    "baselineCharacteristicsModule": PARTICIPANTS,
}
# The numbers of a measurement (an outcome or baseline value and its spread or limits).
_VALUE_FIELDS = {"value", "spread", "lowerLimit", "upperLimit"}
# Words about an analysis, not the analysis itself: a changed comment is not a changed result.
_ANALYSIS_TEXT = {
    "groupDescription", "statisticalComment", "pValueComment", "estimateComment",
    "otherAnalysisDescription", "nonInferiorityComment",
}  # fmt: skip
_SERIOUS_GROUP_COUNTS = {
    "seriousNumAffected", "seriousNumAtRisk", "deathsNumAffected", "deathsNumAtRisk",
}  # fmt: skip
_AE_COUNTS = {"numAffected", "numEvents", "numAtRisk"}
_LOW_INFO = {"limitationsAndCaveats", "pointOfContact"}
_LABELS = {
    "pValue": "p-value",
    "ciLowerLimit": "CI lower limit",
    "ciUpperLimit": "CI upper limit",
    "ciPctValue": "CI %",
    "ciNumSides": "CI sides",
    "statisticalMethod": "method",
    "paramValue": "estimate",
    "paramType": "estimate type",
    "dispersionValue": "dispersion",
    "numAffected": "affected",
    "numEvents": "events",
    "numAtRisk": "at risk",
    "numSubjects": "participants",
    "seriousNumAffected": "serious affected",
    "seriousNumAtRisk": "serious at risk",
    "deathsNumAffected": "deaths",
    "deathsNumAtRisk": "deaths at risk",
    "otherNumAffected": "other affected",
    "otherNumAtRisk": "other at risk",
    "lowerLimit": "lower limit",
    "upperLimit": "upper limit",
    "value": "",
}
_OUTCOME_TYPES = {
    "PRIMARY": "primary outcome",
    "SECONDARY": "secondary outcome",
    "OTHER_PRE_SPECIFIED": "other outcome",
    "POST_HOC": "post-hoc outcome",
}
_AE_NOUNS = {"seriousEvents": "serious adverse event", "otherEvents": "other adverse event"}
_MODULE_NOUNS = {
    "participantFlowModule": "participant flow",
    "baselineCharacteristicsModule": "baseline",
}
_RANK = {"high": 0, "medium": 1, "low": 2}
_NUMBER_RE = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d*)(\.\d*)?([eE][+-]?\d+)?$")

Segment = tuple[str, "str | None"]


def parse_path(path: str) -> list[Segment]:
    """A rendered change path as (field, list key or None) pairs; keys may hold dots and
    brackets (outcome titles do), so brackets are matched by depth."""
    out: list[Segment] = []
    i, n = 0, len(path)
    name = ""
    while i < n:
        ch = path[i]
        if ch == ".":
            if name:
                out.append((name, None))
            name = ""
            i += 1
        elif ch == "[":
            depth, j = 1, i + 1
            while j < n and depth:
                depth += {"[": 1, "]": -1}.get(path[j], 0)
                j += 1
            out.append((name, path[i + 1 : j - 1]))
            name = ""
            i = j
        else:
            name += ch
            i += 1
    if name:
        out.append((name, None))
    return out


def _fields(path: str) -> list[str]:
    return [name for name, _ in parse_path(path)]


def kind_of(path: str) -> str:
    """The event kind of a results change."""
    fields = _fields(path)
    if len(fields) < 2:
        return "results"  # the section posted or removed, hasResults
    return _KIND_OF_MODULE.get(fields[1], INFO)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "")
    if not text or not _NUMBER_RE.match(text) or not any(c.isdigit() for c in text):
        return None
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _text_form(value: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in value.casefold()).split())


def formatting_only(old: Any, new: Any) -> bool:
    """The same number written another way (48.8 / 48.80, 1,234 / 1234, 16 / "16"), or the
    same words in another case or punctuation."""
    if empty(old) or empty(new) or isinstance(old, dict | list) or isinstance(new, dict | list):
        return False
    a, b = _number(old), _number(new)
    if a is not None and b is not None:
        return a == b
    if isinstance(old, str) and isinstance(new, str) and a is None and b is None:
        return _text_form(old) == _text_form(new) != ""
    return False


def severity(path: str, old: Any, new: Any) -> str:
    """How much one results change weighs. A posted outcome value, an analysis or a serious
    adverse event count that changes or goes is high; results added where there were none,
    and the rest of the section, medium; the limitations, the point of contact and numbers or
    words only rewritten, low."""
    fields = _fields(path)
    if len(fields) < 2:
        return "high"  # the whole section posted or removed: sync.core.diff.walk says so
    if formatting_only(old, new):
        return "low"
    module, last = fields[1], fields[-1]
    gone = not empty(old)  # changed or removed, not only added
    if module == "outcomeMeasuresModule":
        if "analyses" in fields:
            return "medium" if last in _ANALYSIS_TEXT or not gone else "high"
        if "measurements" in fields or "counts" in fields:
            if last in _VALUE_FIELDS or last in ("measurements", "counts") or last == "groupId":
                return "high" if gone else "medium"
            return "medium"
        if last in ("outcomeMeasures", "classes", "categories", "denoms"):
            return "high" if gone and empty(new) else "medium"  # results withdrawn
        return "medium"
    if module == "adverseEventsModule":
        if "seriousEvents" in fields:
            whole = last == "seriousEvents" or last == "stats"
            return "high" if whole or last in _AE_COUNTS else "medium"
        if "eventGroups" in fields and last in _SERIOUS_GROUP_COUNTS:
            return "high"
        return "medium"
    if module == "moreInfoModule" and len(fields) > 2 and fields[2] in _LOW_INFO:
        return "low"
    return "medium"


# --- words ------------------------------------------------------------------------------------


def _key_of(field: str, item: Any) -> str | None:
    keyfn = LIST_KEYS.get(field)
    if keyfn is None or not isinstance(item, dict):
        return None
    ident = keyfn(item)
    return ident[0] if ident else None


def _find(items: Any, field: str, key: str) -> Any:
    """The item of a list a path's key names (the walk's identities: sync.core.diff.lists)."""
    if not isinstance(items, list):
        return None
    nth = 1
    m = DUPLICATE_SUFFIX.search(key)
    if m:
        key, nth = key[: m.start()], int(m[1])
    hits = [it for it in items if _key_of(field, it) == key]
    if not hits and field not in LIST_KEYS:
        # No registered identity: the walk keyed it by a field unique in the list, or its place.
        hits = [
            it
            for it in items
            if isinstance(it, dict)
            and any(" ".join(str(v).split()) == key for v in it.values() if isinstance(v, str))
        ]
        if not hits and key.isdigit() and int(key) < len(items):
            hits = [items[int(key)]]
    return hits[nth - 1] if len(hits) >= nth else (hits[0] if hits else None)


def _walk(section: Any, segments: list[Segment]) -> list[Any]:
    """The values along a path (one per segment; None where the section lacks it)."""
    out: list[Any] = []
    node = section
    for name, key in segments[1:]:
        node = node.get(name) if isinstance(node, dict) else None
        if key is not None:
            node = _find(node, name, key)
        out.append(node)
    return out


def _group_titles(module: Any, item: Any) -> dict[str, str]:
    titles: dict[str, str] = {}
    for holder in (module, item):
        if not isinstance(holder, dict):
            continue
        for name in ("groups", "eventGroups"):
            for g in holder.get(name) or []:
                if isinstance(g, dict) and g.get("id") and g.get("title"):
                    titles[str(g["id"])] = " ".join(str(g["title"]).split())
    return titles


def _label(field: str) -> str:
    return _LABELS[field] if field in _LABELS else humanise(field)


def _value(value: Any) -> str:
    if isinstance(value, dict):
        parts = [f"{_label(k)} {fmt(v)}".strip() for k, v in value.items() if k in _VALUE_FIELDS]
        return ", ".join(parts) or fmt(value)
    return fmt(value)


def _counts(stats: Any, groups: dict[str, str]) -> str:
    if not isinstance(stats, list):
        return ""
    parts = []
    for s in stats:
        if isinstance(s, dict):
            name = groups.get(str(s.get("groupId")), str(s.get("groupId") or "?"))
            parts.append(f"{short(name, 30)} {s.get('numAffected', '?')}/{s.get('numAtRisk', '?')}")
    return short("; ".join(parts), 80)


def describe(
    path: str, old: Any, new: Any, old_section: Any, new_section: Any, walked: str = ""
) -> str | None:
    """One line for a results change, in the section's own terms (outcome and group titles,
    adverse event terms), or None to keep the walk's line."""
    segments = parse_path(path)
    fields = [name for name, _ in segments]
    if len(fields) < 3:
        return None
    values = _walk(new_section, segments)
    olds = _walk(old_section, segments)
    along = [v if v is not None else o for v, o in zip(values, olds, strict=True)]
    module_name, module = fields[1], along[0]
    last, key = segments[-1]
    item = along[1] if len(along) > 1 else None
    groups = _group_titles(module, item)
    where: list[str] = []
    for (name, k), node in zip(segments[2:], along[1:], strict=False):
        if k is None:
            continue
        if name in ("measurements", "counts", "achievements", "reasons", "stats"):
            where.append(groups.get(k, k))
        elif name in ("outcomeMeasures", "measures"):
            title = node.get("title") if isinstance(node, dict) else None
            where.append(short(str(title or k.split("|")[-1]), 40))
        elif name in ("seriousEvents", "otherEvents"):
            term = node.get("term") if isinstance(node, dict) else None
            where.append(str(term or k.split("|")[-1]))
        elif name in ("groups", "eventGroups"):
            where.append(groups.get(k, k))
        elif name == "dropWithdraws":
            where.append(f"withdrawn: {k}")
        elif name == "analyses":
            ids = node.get("groupIds") if isinstance(node, dict) else None
            names = [groups.get(str(g), str(g)) for g in ids or []]
            where.append("analysis " + (" vs ".join(short(n, 30) for n in names) or k))
        elif name in ("classes", "categories"):
            title = node.get("title") if isinstance(node, dict) else None
            if title:
                where.append(short(str(title), 40))
        else:
            where.append(k)
    place = " / ".join(w for w in where if w)
    if module_name == "outcomeMeasuresModule":
        kind = item.get("type") if isinstance(item, dict) else None
        noun = f"{_OUTCOME_TYPES.get(str(kind), 'outcome')} result"
    elif module_name == "adverseEventsModule":
        noun = next((_AE_NOUNS[f] for f in fields if f in _AE_NOUNS), "adverse events")
    elif module_name in _MODULE_NOUNS:
        noun = _MODULE_NOUNS[module_name]
    else:
        noun = f"results {humanise(fields[2])}"  # limitations, point of contact, agreements
    if key is not None:  # a whole item added or removed
        verb = "added" if empty(old) else "removed"
        what = _value(new if empty(old) else old)
        if last in ("seriousEvents", "otherEvents"):
            what = _counts((new if empty(old) else old).get("stats"), groups)
        return f"{noun} {verb}: {place}" + (f" ({what})" if what and what != "(none)" else "")
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > 80:
        return f"{noun}: {walked}" if walked else None  # long text: the walk's word counts
    if formatting_only(old, new):
        return f"{noun} number rewritten: {place}: {fmt(old)} -> {fmt(new)}"
    label = _label(last)
    text = f"{label} {fmt(old)} -> {fmt(new)}".strip()
    return f"{noun} changed: {place}: {text}" if place else f"{noun} changed: {text}"


def event_line(summaries: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """(importance, line) of one results event from its changes' (severity, summary): the
    weightiest changes named first."""
    ranked = sorted(summaries, key=lambda s: _RANK.get(s[0], 9))
    importance = ranked[0][0] if ranked else "low"
    # Changes under one outcome, term or period share a line: "primary outcome result changed:
    # PFS: Placebo 5.55 -> 5.75, analysis Placebo vs Drug p-value 0.35 -> 0.04".
    groups: dict[str, dict[str, list[str]]] = {}
    first: dict[str, str] = {}
    for _, summary in ranked:
        head, sep, rest = summary.partition(": ")
        place, sep2, tail = rest.rpartition(": ")
        if not (sep and sep2):
            head, place, tail = summary, "", ""
        top, _, below = place.partition(" / ")
        key = f"{head}: {top}" if top else head
        first.setdefault(key, summary)
        tails = groups.setdefault(key, {}).setdefault(below, [])
        if tail and tail not in tails:
            tails.append(tail)
    lines = []
    for key, places in groups.items():
        if len(places) == 1 and sum(len(t) for t in places.values()) <= 1:
            lines.append(first[key])
            continue
        parts = [" ".join(p for p in (below, ", ".join(tails)) if p) for below, tails in
                 places.items()]  # fmt: skip
        lines.append(f"{key}: {'; '.join(parts)}")
    text = "; ".join(lines[:2])
    if len(lines) > 2:
        text += f"; and {len(lines) - 2} more"
    return importance, text
