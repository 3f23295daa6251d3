"""Events in digests: each trial's events per version, the lines a reader sees, the detail link."""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from sync.core.events import IMPORTANCE, KINDS, RANK, build_events

# A trial shows at most this many lines of events; what does not fit, and routine, is folded.
MAX_LINES = 8
# Criteria shown word by word under the eligibility event, when the lines allow.
MAX_CRITERIA = 3
# Kinds named in one line of the summary of trials beyond the cap; the rest are "other".
SUMMARY_KINDS = 4
# NCT IDs a summary line names (the digest names those of high-importance trials).
SUMMARY_EXAMPLES = 5
# How a summarised trial is counted: by the kind of its most important event, in words
# (one, many). Every sites_* kind is a site change; kinds absent here are routine updates.
_KIND_WORDS: dict[str, tuple[str, str]] = {
    "outcome_switch": ("outcome switch", "outcome switches"),
    "status": ("status change", "status changes"),
    "results": ("results posted", "results posted"),
    "enrollment": ("enrollment change", "enrollment changes"),
    "dates": ("key date change", "key date changes"),
    "eligibility": ("eligibility change", "eligibility changes"),
    "primary_outcome": ("primary outcome change", "primary outcome changes"),
    "design": ("design change", "design changes"),
    "arms": ("arms change", "arms changes"),
    "interventions": ("interventions change", "interventions changes"),
    "outcomes": ("outcomes change", "outcomes changes"),
    "sponsor": ("sponsor change", "sponsor changes"),
    "titles": ("title change", "title changes"),
    "description": ("description change", "description changes"),
    "conditions": ("conditions change", "conditions changes"),
    "results_outcomes": ("outcome results change", "outcome results changes"),
    "results_adverse_events": ("adverse events change", "adverse events changes"),
    "results_participants": ("participant counts change", "participant counts changes"),
    "results_info": ("results information change", "results information changes"),
}
_SITES = ("site change", "site changes")
_ROUTINE = ("routine update", "routine updates")
_KIND_ORDER = {k: i for i, k in enumerate(KINDS)}


def event_sort_key(e: dict[str, Any]) -> tuple[int, int, int, int]:
    return (
        RANK.get(e["importance"], 9),
        _KIND_ORDER.get(e["kind"], 99),
        -int(e.get("to_version") or 0),
        -e["count"],
    )


def trial_events(
    rows: Sequence[Any], reverts: Mapping[int, Mapping[int, int]] | None = None
) -> tuple[list[dict[str, Any]], dict[int, dict[str, str]]]:
    """(events of every version the rows span, most important first; {change id: its event}).

    Rows are stored Change rows of one trial; each version's events come from its own changes
    (and `reverts`: {version: the reverts among its changes, in row order}, sync.store.steps).
    """
    by_version: dict[tuple[int, int], list[Any]] = {}
    for row in rows:
        by_version.setdefault((row.from_version, row.to_version), []).append(row)
    events: list[dict[str, Any]] = []
    labels: dict[int, dict[str, str]] = {}
    for (from_v, to_v), changes in sorted(by_version.items()):
        undone = (reverts or {}).get(to_v) if to_v == from_v + 1 else None
        for e in build_events(changes, undone):
            ids = [changes[i].id for i in e.members]
            events.append(
                {**e.to_dict(), "from_version": from_v, "to_version": to_v, "change_ids": ids}
            )
            for i in ids:
                labels[i] = {"event": e.kind, "importance": e.importance}
    events.sort(key=event_sort_key)
    return events, labels


def detail_link(nct_id: str, from_v: int, to_v: int, base_url: str | None) -> dict[str, Any]:
    """Where the full detail is: the command line, and the web page when one is configured."""
    command = f"trialwatch diff {shlex.quote(nct_id)} --from {from_v} --to {to_v}"
    url = None
    if base_url:
        url = f"{base_url.rstrip('/')}/trials/{quote(nct_id)}/diff?from={from_v}&to={to_v}"
    return {"command": command, "url": url}


def trial_rank(trial: dict[str, Any]) -> tuple[int, int, int, str]:
    """Trials order by their most important event, then by how many high and medium ones."""
    events = trial["events"]
    top = min((RANK.get(e["importance"], 9) for e in events), default=9)
    high = sum(1 for e in events if e["importance"] == "high")
    medium = sum(1 for e in events if e["importance"] == "medium")
    return top, -high, -medium, trial["nct_id"]


def kind_words(kind: str) -> tuple[str, str]:
    """(one, many): what a trial whose most important event is of this kind counts as."""
    if kind.startswith("sites_"):
        return _SITES
    return _KIND_WORDS.get(kind, _ROUTINE)


def _counted(n: int, words: tuple[str, str]) -> str:
    return f"{n:,} {words[0] if n == 1 else words[1]}"


def summarise_trials(trials: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trials counted in a few lines instead of shown: one row per importance (high first),
    each trial counted once, by its most important event, so that the rows add up.

    Each row: `importance`, `trials`, `kinds` ([{`kind`, `trials`}], the most frequent first),
    `text` ("5 status changes, 3 key date changes") and `examples` (the first NCT IDs, by rank).
    """
    counts: dict[str, Counter[tuple[str, str]]] = {}
    examples: dict[str, list[str]] = {}
    for t in trials:
        top = t["events"][0] if t["events"] else {"importance": "low", "kind": "routine"}
        counts.setdefault(top["importance"], Counter())[kind_words(top["kind"])] += 1
        named = examples.setdefault(top["importance"], [])
        if len(named) < SUMMARY_EXAMPLES:
            named.append(t["nct_id"])
    rows = []
    for importance in (*IMPORTANCE, *sorted(set(counts) - set(IMPORTANCE))):
        kinds = counts.get(importance)
        if not kinds:
            continue
        ranked = kinds.most_common()
        parts = [_counted(n, words) for words, n in ranked[:SUMMARY_KINDS]]
        if len(ranked) > SUMMARY_KINDS:
            parts.append(f"{sum(n for _, n in ranked[SUMMARY_KINDS:]):,} other")
        rows.append(
            {
                "importance": importance,
                "trials": sum(kinds.values()),
                "kinds": [{"kind": words[1], "trials": n} for words, n in ranked],
                "text": ", ".join(parts),
                "examples": examples[importance],
            }
        )
    return rows


def word_diff(change: dict[str, Any]) -> list[tuple[str, str]] | None:
    """The changed words of a long text or an eligibility criterion, as (op, text) segments."""
    detail = change.get("detail")
    if not isinstance(detail, dict):
        return None
    segments = detail.get("word_diff")
    if not isinstance(segments, list) or not segments:
        return None
    out = []
    for seg in segments:
        if (
            isinstance(seg, list | tuple)
            and len(seg) == 2
            and seg[0] in ("equal", "insert", "delete")
        ):
            out.append((str(seg[0]), str(seg[1])))
    return out or None


def criterion(change: dict[str, Any]) -> dict[str, Any] | None:
    """Section and kind of an eligibility criterion change (None for other changes)."""
    detail = change.get("detail")
    if change.get("category") != "eligibility" or not isinstance(detail, dict):
        return None
    if detail.get("section") not in ("inclusion", "exclusion", "other"):
        return None
    noun = "eligibility note" if detail["section"] == "other" else f"{detail['section']} criterion"
    verb = {"added": "added", "removed": "removed"}.get(str(detail.get("kind")), "changed")
    return {"section": detail["section"], "kind": detail.get("kind"), "label": f"{noun} {verb}"}


def _criteria(trial: dict[str, Any], event: dict[str, Any]) -> list[dict[str, Any]]:
    ids = set(event.get("change_ids") or [])
    out = []
    for c in trial["changes"]:
        if c["id"] not in ids:
            continue
        crit = criterion(c)
        if crit is None:
            continue
        wd = word_diff(c)
        if wd is None:
            text = str(c["new"] if c["new"] is not None else c["old"] or "")
            wd = [("insert" if crit["kind"] == "added" else "delete", text)]
        out.append({"sub": True, "label": crit["label"], "segments": wd})
    return out


def lines(trial: dict[str, Any], limit: int = MAX_LINES) -> dict[str, Any]:
    """What a digest shows of a trial: at most `limit` lines, most important first, then a fold.

    Non-routine events come first, one line each; the lines left over show eligibility criteria
    word by word; routine events (and any that did not fit) fold into one closing count.
    """
    events = trial["events"]
    versions = {e["to_version"] for e in events}
    notable = [e for e in events if e["importance"] != "low"]
    routine = [e for e in events if e["importance"] == "low"]
    if len(notable) > limit:
        # Eligibility is always shown: it takes its line before lesser kinds of equal rank.
        must = [e for e in notable if e["kind"] == "eligibility"][: limit - 1]
        rest = [e for e in notable if e["kind"] != "eligibility"]
        chosen = {id(e) for e in must + rest[: limit - 1 - len(must)]}
        shown = [e for e in notable if id(e) in chosen]
        overflow = [e for e in notable if id(e) not in chosen]
    else:
        shown, overflow = notable, []
    spare = limit - len(shown) - (1 if overflow else 0)
    out: list[dict[str, Any]] = []
    for e in shown:
        label = f"v{e['to_version']}: " if len(versions) > 1 else ""
        out.append({"sub": False, **e, "label": label})
        if e["kind"] == "eligibility" and spare > 0:
            subs = _criteria(trial, e)[: min(spare, MAX_CRITERIA)]
            spare -= len(subs)
            out.extend(subs)
    if overflow:
        names = ", ".join(dict.fromkeys(e["kind"].replace("_", " ") for e in overflow))
        out.append(
            {
                "sub": False,
                "kind": "more",
                "count": sum(e["count"] for e in overflow),
                "importance": overflow[0]["importance"],
                "summary": f"and {len(overflow)} more events ({names})",
                "label": "",
            }
        )
    folded = sum(e["count"] for e in routine)
    kinds = list(dict.fromkeys(_routine_name(e) for e in routine))
    return {"lines": out, "folded": folded, "folded_kinds": kinds}


def _routine_name(event: dict[str, Any]) -> str:
    if event["kind"] == "routine":
        return {"sites": "contacts", "dates": "verification dates"}.get(
            event["category"], event["category"]
        )
    return event["kind"].replace("_", " ")
