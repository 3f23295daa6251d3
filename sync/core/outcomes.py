"""Outcome changes judged as meta-research judges them: major, minor or reworded, per outcome.

Holst et al. (PLoS Med 2023): a primary outcome added, dropped or moved to or from secondary is
*major*; its measurement, aggregation (metric) or time frame changed, added or omitted is
*minor*; a rewording that keeps the outcome is no change. The typed changes of one version are
the input (a reworded measure arrives as one outcome removed and one added: they are matched
here by meaning), so old versions are judged from what is stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rapidfuzz import fuzz

from sync.core.changes import Edit
from sync.core.diff.rules import short
from sync.core.outcome_words import (
    abbreviations,
    content,
    expanded,
    glossary,
    metrics,
    norm,
    numbered_names,
    points,
    same_times,
    spelt_out,
    stated,
    unqualified,
)

MAJOR, MINOR, REWORDED = "major", "minor", "reworded"
_LISTS = {"primaryOutcomes": "primary", "secondaryOutcomes": "secondary", "otherOutcomes": "other"}
_PATH_RE = re.compile(
    r"^protocolSection\.outcomesModule\.(?P<list>primaryOutcomes|secondaryOutcomes|otherOutcomes)"
    r"(?:\[(?P<key>.*)\](?:\.(?P<field>measure|description|timeFrame))?)?$",
    re.S,
)
_DUP_RE = re.compile(r"#\d+$")

# Two measures are the same outcome at this token similarity (rapidfuzz token_set_ratio, 0-100
# on the normalised words); below it they are different outcomes. Chosen on the tuned half of the
# rated pairs (bench.outcomes): reworded measures score 65-100, replaced ones mostly below 50.
SAME_OUTCOME = 50.0
# An outcome moved between lists keeps its words (token_sort_ratio, in order, no subsets).
_MOVED = 85.0
# A measure edited this little (token_sort_ratio of the content words) is reworded.
_REWORDED_MEASURE = 85.0
# Words of what is measured that a measure gains (or loses), found nowhere else in the outcome,
# that make its measurement specified (or omitted) rather than reworded.
_SPECIFIED = 2
# A description added that brings this share of words new to the measure specifies it.
_NEW_DESCRIPTION = 0.7
# A description whose first sentence holds this share of the measure's words restates it.
_RESTATED = 0.6


@dataclass(frozen=True)
class OutcomeChange:
    """One judged change to one outcome (or to a pair matched as one)."""

    severity: str  # major | minor | reworded
    list: str  # primary | secondary | other
    text: str
    members: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "list": self.list, "text": self.text}


@dataclass
class _Item:
    lst: str
    value: dict[str, Any]
    members: list[int] = field(default_factory=list)


def similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    """How alike two outcomes' measures are, 0-100 (token set ratio of the meaningful words, an
    acronym one spells out, "PFS" for "progression-free survival", read as its words)."""
    x, y = _both(a, b)
    if not x or not y:
        return 0.0
    score = float(fuzz.token_set_ratio(x, y))
    if score < SAME_OUTCOME and abbreviations(a.get("measure")) & abbreviations(b.get("measure")):
        # The same named instrument or endpoint ("IPSS", "ACR20") on both sides: the same outcome
        # said another way, however many words changed around it.
        return SAME_OUTCOME
    return score


def strict_similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    x, y = _both(a, b)
    return float(fuzz.token_sort_ratio(x, y)) if x and y else 0.0


def _both(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    """The meaningful words of two measures, each one's acronyms the other spells out expanded."""
    ma, mb = a.get("measure"), b.get("measure")
    return " ".join(expanded(ma, mb)), " ".join(expanded(mb, ma))


def _name(item: dict[str, Any], limit: int = 60) -> str:
    return short(str(item.get("measure") or "(no measure)"), limit)


def _tf(item: dict[str, Any]) -> str:
    return short(str(item.get("timeFrame") or "(none)"), 50)


def _aspects(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str]]:
    """(severity, words) for what changed between two versions of one outcome: what changed
    in substance when something did, else how it was reworded."""
    found = _all_aspects(a, b)
    substantive = [x for x in found if x[0] != REWORDED]
    return substantive or found


def _all_aspects(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    ma, mb = a.get("measure"), b.get("measure")
    da, db = a.get("description"), b.get("description")
    ta, tb = a.get("timeFrame"), b.get("timeFrame")
    whole_a = " ".join(str(v) for v in (ma, da, ta) if v)
    whole_b = " ".join(str(v) for v in (mb, db, tb) if v)

    # The metric: the aggregation named anywhere in the outcome.
    ka, kb = metrics(f"{ma} {da or ''}"), metrics(f"{mb} {db or ''}")
    metric_a, metric_b = metrics(ma), metrics(mb)
    if norm(ma) != norm(mb):
        ca, cb = content(ma), content(mb)
        # An abbreviation spelt out ("ALT" -> "Alanine Aminotransferase (ALT)", "PFS" ->
        # "progression-free survival") adds no words, nor does its short form lose any.
        gloss = glossary(whole_a, whole_b)
        known_a = set(content(whole_a)) | spelt_out(whole_b, whole_a) | gloss
        known_b = set(content(whole_b)) | spelt_out(whole_a, whole_b) | gloss
        gained = [w for w in dict.fromkeys(cb) if w not in known_a]
        lost = [w for w in dict.fromkeys(ca) if w not in known_b]
        close = fuzz.token_sort_ratio(" ".join(ca), " ".join(cb)) >= _REWORDED_MEASURE
        # The same named instrument on both sides ("IPSS"): a word changed around it rewords.
        anchored = bool(abbreviations(ma) & abbreviations(mb)) and len(gained) < _SPECIFIED
        na, nb = numbered_names(ma), numbered_names(mb)
        renumbered = sorted(k for k in na.keys() & nb.keys() if na[k] != nb[k])
        if renumbered:
            # "ACR20" -> "ACR50": the same instrument, another threshold (or type): another
            # measurement, however alike the words.
            out.append((MINOR, f"measure changed: {_name(a)} → {_name(b)}"))
        elif gained and lost and not close and not anchored:
            out.append((MINOR, f"measure changed: {_name(a)} → {_name(b)}"))
        elif len(gained) >= _SPECIFIED:
            out.append((MINOR, f"measurement specified: {_name(a)} → {_name(b)}"))
        elif len(lost) >= _SPECIFIED:
            out.append((MINOR, f"measurement omitted: {_name(a)} → {_name(b)}"))
        if (
            metric_a
            and metric_b
            and metric_a != metric_b
            and not (metric_b <= ka and metric_a <= kb)
        ):
            was = ", ".join(sorted(metric_a - metric_b)) or "unspecified"
            now = ", ".join(sorted(metric_b - metric_a)) or "unspecified"
            out.append((MINOR, f"metric changed: {was} → {now}"))
        # A measure that numbers several outcomes ("1) ALP levels and 2) safety"): a numbered
        # part that the other version names nowhere is an outcome dropped (or added).
        for part in _parts(ma):
            if not set(content(part)) & known_b:
                out.append((MAJOR, f"outcome dropped from the measure: {short(part, 50)}"))
        for part in _parts(mb):
            if not set(content(part)) & known_a:
                out.append((MAJOR, f"outcome added to the measure: {short(part, 50)}"))
        if not out:
            out.append((REWORDED, f"reworded: {_name(a)} → {_name(b)}"))

    if norm(ta) != norm(tb):
        if not norm(ta):
            if stated(tb, f"{ma} {da or ''}"):
                out.append((REWORDED, f"time frame split out of the measure: {_tf(b)}"))
            else:
                out.append((MINOR, f"time frame added: {_tf(b)}"))
        elif not norm(tb):
            if stated(ta, f"{mb} {db or ''}"):
                out.append((REWORDED, "time frame moved into the measure"))
            else:
                out.append((MINOR, f"time frame omitted: was {_tf(a)}"))
        elif not same_times(ta, tb):
            out.append((MINOR, f"time frame changed: {_tf(a)} → {_tf(b)}"))
        elif (
            not (points(ta) or points(tb))
            and fuzz.token_sort_ratio(norm(ta), norm(tb)) < _REWORDED_MEASURE
        ):
            out.append((MINOR, f"time frame changed: {_tf(a)} → {_tf(b)}"))
        else:
            # "24 weeks" -> "up to 24 weeks", "Week 48" -> "Baseline to Week 48": the same time
            # points, the period that leads to them said or left implied.
            out.append((REWORDED, f"time frame reworded: {_tf(a)} → {_tf(b)}"))

    if norm(da) and norm(db) and norm(da) != norm(db) and same_times(ta, tb):
        # The time frame's points kept, the description's own changed ("judged after 1 and 2
        # years" -> "after 2 years"): the description is part of the outcome, so is its timing.
        pa, pb = points(da), points(db)
        if pa and pb and not same_times(da, db):
            out.append((MINOR, "time points in the description changed"))

    if norm(da) != norm(db):
        known = set(content(f"{ma} {mb} {ta or ''} {tb or ''}"))
        if norm(db):
            before = set(content(da)) | known
            words = content(db)
            new = [w for w in words if w not in before]
            if _note(db, known):
                out.append((REWORDED, "description added: a note that data are missing"))
            elif _moved_in(db, ma, mb):
                out.append((REWORDED, "description takes over words from the measure"))
            elif words and len(new) / len(words) > _NEW_DESCRIPTION and not _restates(db, mb):
                verb = "added" if not norm(da) else "changed"
                out.append((MINOR, f"description {verb}, specifying the measurement"))
            else:
                out.append((REWORDED, "description restates the measure"))
        else:
            out.append((REWORDED, "description removed"))
    return out


_SENTENCE_RE = re.compile(r"(?<=[.;:!?])\s+")


def _restates(description: Any, measure: Any) -> bool:
    """Whether a description opens by saying the measure again: its first sentence holds most
    of the measure's words ("Percentage of participants with ... defined as ...")."""
    words = set(content(measure))
    if not words or not isinstance(description, str):
        return False
    first = _SENTENCE_RE.split(description.strip(), maxsplit=1)[0]
    # An abbreviation the sentence uses stands for the words that spell it out in the measure.
    said = set(content(first)) | spelt_out(str(measure), first) | glossary(first, measure)
    return len(words & said) / len(words) >= _RESTATED


def _moved_in(description: Any, was: Any, now: Any) -> bool:
    """Whether a description says what the measure stopped saying ("... as defined by the FDA
    snapshot analysis" cut from the measure, "The FDA-defined snapshot algorithm was used ..."
    in the description): text moved between two fields of one outcome, as a time frame split
    out of the measure is, changes no part of it."""
    dropped = set(content(was)) - set(content(now))
    if len(dropped) < _SPECIFIED:
        return False
    return len(dropped & set(content(description))) / len(dropped) >= _RESTATED


_NOT_REPORTED_RE = re.compile(
    r"\b(?:no|not|never|none)\b(?:\W+\w+){0,6}?\W+"
    r"(?:data|collected|analy[sz]ed|available|reported|recorded|measured)\b"
)


def _note(description: Any, known: set[str]) -> bool:
    """Whether a description is a note that the outcome's data are missing ("The PI has left;
    the data are no longer available"): it says so, and names no word of the outcome, no number
    and no metric."""
    text = norm(description)
    return bool(_NOT_REPORTED_RE.search(text)) and not (
        set(content(description)) & known
        or metrics(description)
        or any(w.isdigit() for w in text.split())
    )


_JOINER_RE = re.compile(r"[\s;,.]+(?:and|or)\s*$", re.I)
_MARKER_RE = re.compile(r"(?:^|(?<=\s))\(?([1-9]|[a-h])[.)](?=\s)")


def _parts(text: Any) -> list[str]:
    """The numbered parts of a measure that lists several outcomes: "both 1) alkaline
    phosphatase levels and 2) safety" -> ["alkaline phosphatase levels and", "safety"]. Only
    markers numbered from 1 (or a) without a gap count: "(visit 2)" is no list."""
    if not isinstance(text, str):
        return []
    marks = list(_MARKER_RE.finditer(text))
    first = next((i for i, m in enumerate(marks) if m[1] in "1a"), None)
    if first is None:
        return []
    run = [marks[first]]
    for m in marks[first + 1 :]:
        if ord(m[1]) == ord(run[-1][1]) + 1:
            run.append(m)
    if len(run) < 2:
        return []
    ends = [m.start() for m in run[1:]] + [len(text)]
    parts = [text[m.end() : end] for m, end in zip(run, ends, strict=True)]
    return [_JOINER_RE.sub("", p).strip(" ;,.") for p in parts]


def _parse(changes: Sequence[Edit]) -> tuple[list[_Item], list[_Item], list[_Item]]:
    """(removed, added, edited pairs as one item holding both sides) from outcome changes."""
    removed: list[_Item] = []
    added: list[_Item] = []
    edited: dict[tuple[str, str], tuple[_Item, _Item]] = {}
    for i, c in enumerate(changes):
        m = _PATH_RE.match(c.path)
        if m is None or m["key"] is None:
            continue
        lst = _LISTS[m["list"]]
        if m["field"] is None and (c.old is None or c.new is None):
            item = c.old if c.new is None else c.new
            if isinstance(item, dict):
                (removed if c.new is None else added).append(_Item(lst, item, [i]))
            continue
        key = _DUP_RE.sub("", m["key"])
        pair = edited.setdefault(
            (lst, m["key"]), (_Item(lst, {"measure": key}), _Item(lst, {"measure": key}))
        )
        pair[0].members.append(i)
        name = m["field"]
        if name is None:  # an item whose shape changed: compare it as a whole
            if isinstance(c.old, dict):
                pair[0].value.update(c.old)
            if isinstance(c.new, dict):
                pair[1].value.update(c.new)
            continue
        pair[0].value[name] = c.old
        pair[1].value[name] = c.new
    return removed, added, [_Item(a.lst, {"old": a.value, "new": b.value}, a.members)
                            for a, b in edited.values()]  # fmt: skip


def _redefined(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether one outcome replacing another is the same outcome defined anew: the new measure
    is what the old description said it measures ("Change in cognitive function", described as
    "... antisaccade eye movements ..." -> "Error Percentage in Antisaccade Task"), or the old
    measure is what the new description explains. The study rates that a change of the
    measurement (minor), not a new primary outcome; a one-for-one replacement only, so that
    with several outcomes each keeps its own. A description both versions share explains the
    old measure in the new version only because it was left as it was: it redefines nothing."""
    kept = norm(a.get("description")) == norm(b.get("description"))
    for x, y in ((b, a), (a, b)):
        words = set(content(x.get("measure")))
        description = None if kept and y is b else y.get("description")
        said = set(content(f"{y.get('measure') or ''} {description or ''}"))
        said |= glossary(x.get("measure"), description)
        if len(words) >= _SPECIFIED and len(words & said) / len(words) >= _RESTATED:
            return True
    return False


def _in_composite(item: _Item, composites: Sequence[_Item]) -> bool:
    """Whether an outcome is a named part of a composite outcome among others: its words (an
    acronym read as the words that spell it) all inside one that says "composite" ("Permanent
    atrial fibrillation" in "Composite of death, hospitalisation or permanent AF")."""
    measure = item.value.get("measure")
    words = set(content(measure))
    for c in composites:
        theirs = f"{c.value.get('measure') or ''} {c.value.get('description') or ''}"
        if "composite" not in norm(theirs).split():
            continue
        if words and words <= set(content(theirs)) | glossary(measure, theirs):
            return True
    return False


def _another_analysis(item: _Item, others: Sequence[_Item]) -> bool:
    """Whether an outcome added is one of the others reported for another analysis: the same
    words once the analysis each names is left out ("Interim Analysis: Resolution at Week 24"
    beside "Primary Analysis: Resolution at Week 24", "Pain (Per-Protocol Population)" beside
    "Pain (ITT Population)"). One of the two naming an analysis is required: two outcomes with
    the same words and no analysis named are two outcomes (at two times, say)."""
    measure = item.value.get("measure")
    words = set(content(measure))
    for o in others:
        theirs = o.value.get("measure")
        if not words or set(content(theirs)) != words:
            continue
        if unqualified(measure) != measure or unqualified(theirs) != theirs:
            return True
    return False


def _contained(item: _Item, others: Sequence[_Item]) -> bool:
    """Whether an outcome's words all appear in one of the others (one outcome split in two)."""
    words = set(content(item.value.get("measure")))
    return bool(words) and any(words <= set(content(o.value.get("measure"))) for o in others)


def judge(changes: Sequence[Edit]) -> list[OutcomeChange]:
    """The judged outcome changes of one version's outcome changes, primary first, major first.

    Every change index that names an outcome appears in exactly one result's members.
    """
    removed, added, edited = _parse(changes)
    out: list[OutcomeChange] = []

    def by_list(items: list[_Item], lst: str) -> list[_Item]:
        return [x for x in items if x.lst == lst]

    for e in edited:
        for severity, text in _aspects(e.value["old"], e.value["new"]) or [
            (REWORDED, "reworded (case, punctuation or spacing)")
        ]:
            out.append(
                OutcomeChange(severity, e.lst, f"{_name(e.value['new'])}: {text}", tuple(e.members))
            )
            e = _Item(e.lst, e.value, [])  # members go with the first aspect only

    # One greedy pass, best pair first: the same outcome within a list by the set ratio, an
    # outcome moved between primary and secondary by the strict ratio (its words in order). A
    # results posting rewords every outcome of both lists: a reworded primary must still pair
    # with its new wording, not with a secondary that shares its words.
    matched: dict[str, list[tuple[_Item, _Item]]] = {"primary": [], "secondary": [], "other": []}
    candidates: list[tuple[float, int, int, int]] = []
    for i, o in enumerate(removed):
        for j, n in enumerate(added):
            if o.lst == n.lst:
                score, within = similarity(o.value, n.value), 1
                if score < SAME_OUTCOME:
                    continue
            elif {o.lst, n.lst} == {"primary", "secondary"}:
                score, within = strict_similarity(o.value, n.value), 0
                if score < _MOVED:
                    continue
            else:
                continue
            candidates.append((score, within, i, j))
    new_primaries = [n for n in added if n.lst == "primary"]
    used_o: set[int] = set()
    used_n: set[int] = set()
    moved: set[int] = set()
    for _score, within, i, j in sorted(candidates, key=lambda c: (-c[0], -c[1], c[2], c[3])):
        if i in used_o or j in used_n:
            continue
        used_o.add(i)
        used_n.add(j)
        o, n = removed[i], added[j]
        if within:
            matched[o.lst].append((o, n))
            continue
        moved.update((id(o), id(n)))
        verb = "moved to secondary" if o.lst == "primary" else "moved from secondary to primary"
        severity = MAJOR
        if o.lst == "primary" and _in_composite(o, new_primaries):
            # Still a part of the primary outcome: what changed is how it is aggregated.
            severity, verb = MINOR, "combined into a composite primary outcome, kept as secondary"
        out.append(
            OutcomeChange(severity, "primary", f"{_name(n.value)} {verb}", (*o.members, *n.members))
        )
    paired = {id(x) for pairs in matched.values() for p in pairs for x in p} | moved
    removed = [x for x in removed if id(x) not in paired]
    added = [x for x in added if id(x) not in paired]

    for lst in ("primary", "secondary", "other"):
        olds, news = by_list(removed, lst), by_list(added, lst)
        if len(olds) == 1 and len(news) == 1 and _redefined(olds[0].value, news[0].value):
            matched[lst].append((olds[0], news[0]))
            olds, news = [], []
        pairs = matched[lst]
        for o, n in pairs:
            aspects = _aspects(o.value, n.value) or [
                (REWORDED, "reworded (case, punctuation or spacing)")
            ]
            members: tuple[int, ...] = (*o.members, *n.members)
            for severity, text in aspects:
                out.append(OutcomeChange(severity, lst, f"{_name(n.value)}: {text}", members))
                members = ()
        left_o, left_n = olds, news
        kept_o = [p[0] for p in pairs]
        kept_n = [p[1] for p in pairs]
        for n in left_n:
            if _another_analysis(n, kept_n):
                text = f"the same outcome for another analysis: {_name(n.value)}"
                out.append(OutcomeChange(REWORDED, lst, text, tuple(n.members)))
            elif kept_o and _contained(n, kept_o + left_o):
                out.append(
                    OutcomeChange(REWORDED, lst, f"split out: {_name(n.value)}", tuple(n.members))
                )
            else:
                word = "new primary outcome" if lst == "primary" else f"{lst} outcome added"
                out.append(OutcomeChange(MAJOR, lst, f"{word}: {_name(n.value)}", tuple(n.members)))
        for o in left_o:
            if kept_n and _contained(o, kept_n):
                out.append(
                    OutcomeChange(
                        MINOR, lst, f"combined into another: {_name(o.value)}", tuple(o.members)
                    )
                )
            else:
                word = "primary outcome dropped" if lst == "primary" else f"{lst} outcome removed"
                out.append(OutcomeChange(MAJOR, lst, f"{word}: {_name(o.value)}", tuple(o.members)))

    order = {"primary": 0, "secondary": 1, "other": 2}
    rank = {MAJOR: 0, MINOR: 1, REWORDED: 2}
    return sorted(out, key=lambda c: (order.get(c.list, 3), rank[c.severity]))


# --- timing -------------------------------------------------------------------------------------

BEFORE_START = "before start"
RECRUITMENT = "during recruitment"
AFTER_COMPLETION = "after primary completion"
AFTER_RESULTS = "after results first posted"
TIMING_UNKNOWN = "timing not known"
PHASES = (BEFORE_START, RECRUITMENT, AFTER_COMPLETION, AFTER_RESULTS)
_NOT_STARTED = {"NOT_YET_RECRUITING", "WITHDRAWN"}


def _day(value: Any) -> str | None:
    """A registry date as YYYY-MM-DD (a month-only date: its first day), else None."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", value.strip()):
        return None
    v = value.strip()
    return v if len(v) == 10 else f"{v}-01"


def _dig(record: Any, *keys: str) -> Any:
    for k in keys:
        record = record.get(k) if isinstance(record, dict) else None
    return record


def study_dates(record: dict[str, Any]) -> dict[str, Any]:
    """The dates of a version that place a change: when it was submitted, and the study's own
    (each a string, or None when absent or of another shape)."""
    status = _dig(record, "protocolSection", "statusModule")

    def text(*keys: str) -> str | None:
        value = _dig(status, *keys)
        return value if isinstance(value, str) else None

    return {
        "submitted": text("lastUpdateSubmitDate") or text("lastUpdatePostDateStruct", "date"),
        "start": text("startDateStruct", "date"),
        "start_type": text("startDateStruct", "type"),
        "primary_completion": text("primaryCompletionDateStruct", "date"),
        "primary_completion_type": text("primaryCompletionDateStruct", "type"),
        "results_first_posted": text("resultsFirstPostDateStruct", "date")
        or text("resultsFirstSubmitDate"),
        "status": text("overallStatus"),
    }


def phase(dates: dict[str, Any] | None) -> str:
    """Where a version falls against the study's dates as registered in it."""
    if not isinstance(dates, dict):
        return TIMING_UNKNOWN
    when = _day(dates.get("submitted"))
    if when is None:
        return TIMING_UNKNOWN
    results = _day(dates.get("results_first_posted"))
    if results and when >= results:
        return AFTER_RESULTS
    done = _day(dates.get("primary_completion"))
    if done and when > done and dates.get("primary_completion_type") != "ESTIMATED":
        return AFTER_COMPLETION
    start = _day(dates.get("start"))
    if start and when >= start and dates.get("status") not in _NOT_STARTED:
        return RECRUITMENT
    if start is None:
        return TIMING_UNKNOWN
    return BEFORE_START


def is_switch(changes: Sequence[OutcomeChange], when: str) -> bool:
    """A major change to the primary outcomes after the start: an outcome switch (COMPare)."""
    after = when in (RECRUITMENT, AFTER_COMPLETION, AFTER_RESULTS)
    return after and any(c.severity == MAJOR and c.list == "primary" for c in changes)


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeEvent:
    """What sync.core.events makes an Event of: the judged outcome changes of one list."""

    kind: str  # outcome_switch | primary_outcome | outcomes
    importance: str
    summary: str
    members: tuple[int, ...]
    timing: str
    changes: tuple[OutcomeChange, ...]


def dates_of(changes: Sequence[Any]) -> dict[str, Any] | None:
    """The version's dates the diff stamped on its outcome changes (see with_dates)."""
    for c in changes:
        detail = getattr(c, "detail", None)
        if isinstance(detail, dict) and isinstance(detail.get("dates"), dict):
            dates: dict[str, Any] = detail["dates"]
            return dates
    return None


def _joined(parts: list[OutcomeChange], prefix: str) -> str:
    majors = [p.text for p in parts if p.severity == MAJOR]
    rest = [p.text for p in parts if p.severity != MAJOR]
    text = "; ".join(majors)
    if rest:
        text += ("; " if text else "") + f"{prefix}: " + "; ".join(rest)
    return text


def outcome_events(changes: Sequence[Edit], dates: dict[str, Any] | None) -> list[OutcomeEvent]:
    """The primary and the secondary (and other) outcome events of one version's outcome changes.

    Importance: primary major high, minor medium, reworded low; secondary and other outcomes
    added or removed medium, else low. A major primary change after the start is an outcome
    switch. Changes no outcome path names are left out (the caller ranks them as before).
    """
    judged = judge(changes)
    when = phase(dates)
    events = []
    for lists in (("primary",), ("secondary", "other")):
        parts = [j for j in judged if j.list in lists]
        if not parts:
            continue
        members = tuple(sorted({m for p in parts for m in p.members}))
        severities = {p.severity for p in parts}
        if lists == ("primary",):
            importance = (
                "high" if MAJOR in severities else "medium" if MINOR in severities else "low"
            )
            kind = "outcome_switch" if is_switch(parts, when) else "primary_outcome"
            text = _joined(parts, "primary outcome")
            if kind == "outcome_switch":
                text = f"outcome switch: {text}"
        else:
            importance = "medium" if MAJOR in severities else "low"
            kind = "outcomes"
            text = _joined(parts, "secondary outcome")
        if when != TIMING_UNKNOWN:
            text += f" ({when})"
        events.append(OutcomeEvent(kind, importance, text, members, when, tuple(parts)))
    return events


def with_dates(changes: list[Any], record: dict[str, Any]) -> list[Any]:
    """The changes, the outcome ones carrying the dates of the version they lead to, so that
    their timing is known wherever the stored changes are read."""
    if not any(c.category == "outcomes" for c in changes):
        return changes
    dates = study_dates(record)
    out = []
    for c in changes:
        if c.category == "outcomes":
            detail = dict(c.detail) if isinstance(c.detail, dict) else {}
            detail["dates"] = dates
            c = replace(c, detail=detail)
        out.append(c)
    return out
