"""Posted results that change: later versions built from the real results records."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sync.core.diff.walk import diff_records
from sync.core.events import build_events
from sync.core.results_diff import formatting_only, parse_path
from sync.testing.factory import load_sample

RESULTS = ["results/NCT00567567.json", "results/NCT03275402.json", "results/NCT00716976.json",
           "results/NCT01305200.json", "results/NCT01987596.json",
           "records/NCT04256421.json", "records/NCT04670068.json",
           "records/NCT04952597.json"]  # fmt: skip


def _first(items: list[Any], pred: Any) -> Any:
    return next(x for x in items if pred(x))


def _measured(study: dict[str, Any]) -> dict[str, Any]:
    """The first outcome measure with a posted value."""
    oms = study["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]
    return _first(oms, lambda m: m.get("classes") and m["classes"][0]["categories"][0].get(
        "measurements"))  # fmt: skip


def _events(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e.kind, e.importance, e.summary) for e in build_events(diff_records(old, new))]


@pytest.mark.parametrize("name", RESULTS)
def test_a_changed_outcome_value_is_one_high_results_event(name: str) -> None:
    old = load_sample(name)
    new = copy.deepcopy(old)
    m = _measured(new)["classes"][0]["categories"][0]["measurements"][0]
    m["value"] = str(float(m["value"]) + 1.5) if m.get("value") not in (None, "NA") else "1.5"
    changes = diff_records(old, new)
    (change,) = changes
    assert change.category == "results" and change.severity == "high"
    assert "outcome result changed: " in change.summary
    assert " -> " in change.summary and m["value"] in change.summary
    ((kind, importance, summary),) = _events(old, new)
    assert (kind, importance) == ("results_outcomes", "high")
    assert summary == change.summary


@pytest.mark.parametrize("name", RESULTS)
def test_a_reformatted_number_is_low(name: str) -> None:
    old = load_sample(name)
    new = copy.deepcopy(old)
    m = _measured(new)["classes"][0]["categories"][0]["measurements"][0]
    value = m.get("value")
    if value is None or "." in value or not value.lstrip("-").isdigit():
        m["value"] = f"{value}0" if value and "." in value else value
    if m["value"] == value:
        m["value"] = f"{value}.0"
    (change,) = diff_records(old, new)
    assert change.severity == "low" and "rewritten" in change.summary
    assert [(k, i) for k, i, _ in _events(old, new)] == [("results_outcomes", "low")]


def test_a_p_value_and_a_confidence_limit_that_change_are_high_with_the_groups_named() -> None:
    old = load_sample("records/NCT04256421.json")
    new = copy.deepcopy(old)
    analysis = new["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"][0]["analyses"][0]
    analysis["pValue"], analysis["ciUpperLimit"] = "0.0421", "1.29"
    analysis["statisticalComment"] = "Stratified."
    changes = {c.path.rsplit(".", 1)[-1]: c for c in diff_records(old, new)}
    assert changes["pValue"].severity == "high"
    assert changes["ciUpperLimit"].severity == "high"
    assert changes["statisticalComment"].severity == "medium"  # words about it, not the result
    assert changes["pValue"].summary == (
        "primary outcome result changed: Investigator-Assessed Progression Free … / analysis "
        "Placebo + Atezolizumab vs Tiragolumab + Atezolizumab: "
        "p-value 0.3504 -> 0.0421"
    )
    ((kind, importance, summary),) = _events(old, new)
    assert (kind, importance) == ("results_outcomes", "high")
    assert "Atezolizumab p-value 0.3504 -> 0.0421, CI upper limit 1.38 -> 1.29" in summary


def test_adverse_event_counts_serious_high_other_medium() -> None:
    old = load_sample("records/NCT04256421.json")
    new = copy.deepcopy(old)
    ae = new["resultsSection"]["adverseEventsModule"]
    _first(ae["seriousEvents"], lambda e: e["term"] == "Anaemia")["stats"][0]["numAffected"] = 9
    events = _events(old, new)
    assert events == [("results_adverse_events", "high",
                       "serious adverse event changed: Anaemia / Placebo + Atezolizumab: "
                       "affected 8 -> 9")]  # fmt: skip
    other = copy.deepcopy(old)
    oe = other["resultsSection"]["adverseEventsModule"]["otherEvents"][0]
    oe["stats"][0]["numAffected"] += 1
    ((kind, importance, summary),) = _events(old, other)
    assert (kind, importance) == ("results_adverse_events", "medium")
    assert summary.startswith(f"other adverse event changed: {oe['term']} / ")
    # A group's serious count (and its deaths) are serious counts too.
    groups = copy.deepcopy(old)
    groups["resultsSection"]["adverseEventsModule"]["eventGroups"][0]["deathsNumAffected"] = 172
    assert _events(old, groups)[0][:2] == ("results_adverse_events", "high")
    # A serious term posted later, with its counts per group.
    added = copy.deepcopy(old)
    added["resultsSection"]["adverseEventsModule"]["seriousEvents"].append(
        {"term": "Hiccups", "organSystem": "Nervous system disorders",
         "stats": [{"groupId": "EG000", "numAffected": 2, "numAtRisk": 246}]})  # fmt: skip
    ((kind, importance, summary),) = _events(old, added)
    assert (kind, importance) == ("results_adverse_events", "high")
    assert summary == "serious adverse event added: Hiccups (Placebo + Atezolizumab 2/246)"


def test_participant_flow_and_baseline_are_medium_contact_and_limitations_low() -> None:
    old = load_sample("results/NCT00567567.json")
    new = copy.deepcopy(old)
    rs = new["resultsSection"]
    rs["participantFlowModule"]["periods"][0]["milestones"][0]["achievements"][0]["numSubjects"] = (
        "211")  # fmt: skip
    base = rs["baselineCharacteristicsModule"]["measures"][0]["classes"][0]["categories"][0]
    base["measurements"][0]["value"] = "207"
    rs["moreInfoModule"]["pointOfContact"]["phone"] = "626-447-0065"
    rs["moreInfoModule"]["limitationsAndCaveats"] = {"description": "Few patients."}
    events = {k: (i, s) for k, i, s in _events(old, new)}
    assert events["results_participants"] == ("medium",
        "participant flow changed: Overall Study / STARTED / Single HST (CEM): participants "
        "210 -> 211; baseline changed: Age, Categorical / <=18 years / Single HST (CEM): "
        "208 -> 207")  # fmt: skip
    importance, summary = events["results_info"]
    assert importance == "low"
    assert "results point of contact changed: phone 626-447-0064 -> 626-447-0065" in summary
    assert "results limitations and caveats changed" in summary


def test_results_withdrawn_for_an_outcome_are_high_results_added_medium() -> None:
    old = load_sample("results/NCT03275402.json")
    new = copy.deepcopy(old)
    oms = new["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]
    gone = oms.pop()
    assert _events(old, new)[0][:2] == ("results_outcomes", "high")
    assert "result removed: " in _events(old, new)[0][2]
    assert _events(new, old)[0][:2] == ("results_outcomes", "medium")
    assert gone["title"][:40] in _events(new, old)[0][2]


def test_results_posted_stays_one_high_event() -> None:
    old = copy.deepcopy(load_sample("results/NCT01305200.json"))
    bare = copy.deepcopy(old)
    del bare["resultsSection"]
    bare["hasResults"] = False
    kinds = [(k, i) for k, i, _ in _events(bare, old)]
    assert kinds == [("results", "high")]


def test_paths_with_brackets_in_titles_parse() -> None:
    path = ("resultsSection.outcomeMeasuresModule.outcomeMeasures[PRIMARY|Rate [95% CI]]"
            ".groups[OG000].title")
    assert parse_path(path) == [("resultsSection", None), ("outcomeMeasuresModule", None),
                                ("outcomeMeasures", "PRIMARY|Rate [95% CI]"),
                                ("groups", "OG000"), ("title", None)]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [("48.8", "48.80", True), ("1,234", "1234", True), (16, "16", True), ("0.05", "0.050", True),
     ("Single HST", "single hst", True), ("48.8", "48.9", False), ("NA", "0", False),
     ("5", None, False)],
)  # fmt: skip
def test_formatting_only(old: Any, new: Any, same: bool) -> None:
    assert formatting_only(old, new) is same
