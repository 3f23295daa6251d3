"""The outcome rules on their own: matching, classes and wording, timing labels."""

from __future__ import annotations

import copy
from typing import Any

from sync.core import outcome_words as w
from sync.core import outcomes as o
from sync.core.diff.walk import diff_records
from sync.testing.outcome_ratings import record_with

NCT = "NCT90000001"


def _judged(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    changes = [
        c
        for c in diff_records(record_with(a, NCT, "2026-10-01"), record_with(b, NCT, "2026-11-20"))
        if c.category == "outcomes"
    ]
    return [(j.severity, j.list, j.text) for j in o.judge(changes)]


def _primary(*items: dict[str, Any], secondary: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    module: dict[str, Any] = {"primaryOutcomes": list(items)}
    if secondary:
        module["secondaryOutcomes"] = list(secondary)
    return module


OS = {"measure": "Overall survival", "timeFrame": "12 months"}


def test_case_and_punctuation_are_reworded() -> None:
    b = {"measure": "Overall Survival.", "timeFrame": "12 Months"}
    assert [s for s, _, _ in _judged(_primary(OS), _primary(b))] == ["reworded"]


def test_a_time_frame_changed_says_both_sides() -> None:
    b = {"measure": "Overall Survival (OS)", "timeFrame": "24 months"}
    ((severity, lst, text),) = _judged(_primary(OS), _primary(b))
    assert (severity, lst) == ("minor", "primary")
    assert text.endswith("time frame changed: 12 months → 24 months")


def test_the_same_time_said_another_way_is_reworded() -> None:
    b = {"measure": "Overall survival", "timeFrame": "Baseline and Week 52"}
    assert [s for s, _, _ in _judged(_primary(OS), _primary(b))] == ["reworded"]


def test_a_time_frame_split_out_of_the_measure_is_reworded() -> None:
    a = {"measure": "Overall survival at 3 years"}
    b = {"measure": "Overall Survival", "timeFrame": "3 years"}
    judged = _judged(_primary(a), _primary(b))
    assert {s for s, _, _ in judged} == {"reworded"}, judged
    assert any("split out of the measure" in t for _, _, t in judged)


def test_a_metric_changed_is_minor() -> None:
    a = {"measure": "Mean change in HbA1c", "timeFrame": "24 weeks"}
    b = {"measure": "Median change in HbA1c", "timeFrame": "24 weeks"}
    judged = _judged(_primary(a), _primary(b))
    assert ("minor", "primary") in {(s, lst) for s, lst, _ in judged}
    assert any("metric changed: mean → median" in t for _, _, t in judged)


def test_a_new_primary_and_one_moved_to_secondary_are_major() -> None:
    orr = {"measure": "Objective response rate", "timeFrame": "12 months"}
    judged = _judged(_primary(OS), _primary(orr, secondary=(copy.deepcopy(OS),)))
    assert ("major", "primary", "new primary outcome: Objective response rate") in judged
    assert ("major", "primary", "Overall survival moved to secondary") in judged


def test_a_reworded_primary_beside_its_reworded_secondaries_is_not_a_move() -> None:
    pfs = {"measure": "Progression-free survival", "timeFrame": "12 months"}
    a = _primary(OS, secondary=(pfs,))
    b = _primary(
        {"measure": "Overall Survival", "timeFrame": "12 months"},
        secondary=({"measure": "Progression-Free Survival", "timeFrame": "12 months"},),
    )
    assert {s for s, _, _ in _judged(a, b)} == {"reworded"}


def _dates(**kw: Any) -> dict[str, Any]:
    base = {
        "submitted": "2024-06-01",
        "start": "2024-01",
        "start_type": "ACTUAL",
        "primary_completion": "2025-06",
        "primary_completion_type": "ESTIMATED",
        "results_first_posted": None,
        "status": "RECRUITING",
    }
    return {**base, **kw}


def test_timing_labels() -> None:
    assert o.phase(_dates()) == o.RECRUITMENT
    assert o.phase(_dates(start="2024-07", status="NOT_YET_RECRUITING")) == o.BEFORE_START
    # A start that passed on paper does not start a study not yet recruiting.
    assert o.phase(_dates(status="NOT_YET_RECRUITING")) == o.BEFORE_START
    done = _dates(primary_completion="2024-05-02", primary_completion_type="ACTUAL")
    assert o.phase(done) == o.AFTER_COMPLETION
    # An estimated completion in the past is not a completion.
    assert o.phase(_dates(primary_completion="2024-05")) == o.RECRUITMENT
    assert o.phase({**done, "results_first_posted": "2024-06-01"}) == o.AFTER_RESULTS
    assert o.phase(_dates(submitted=None)) == o.TIMING_UNKNOWN
    assert o.phase(None) == o.TIMING_UNKNOWN


def test_the_version_dates_come_from_the_record() -> None:
    record = record_with(_primary(OS), NCT, "2026-11-20")
    dates = o.study_dates(record)
    status = record["protocolSection"]["statusModule"]
    assert dates["submitted"] == status["lastUpdateSubmitDate"]
    assert dates["start"] == "2022-03-09"
    assert o.study_dates({"protocolSection": {"statusModule": []}})["start"] is None


def test_inflections_are_one_word() -> None:
    assert w.stem("achieved") == w.stem("achieve")
    assert w.stem("seizures") == w.stem("seizure")
    assert w.stem("frequencies") == w.stem("frequency")
    assert w.stem("analysis") == "analysis"  # not a plural
    assert w.stem("dose") == "dose"  # short words kept
    a = {"measure": "Seizure frequency recorded in the patient diary", "timeFrame": "12 weeks"}
    b = {"measure": "Seizures Frequencies Recorded in Patients' Diaries", "timeFrame": "12 weeks"}
    assert {s for s, _, _ in _judged(_primary(a), _primary(b))} == {"reworded"}


ALT = {
    "measure": "Percentage of participants with grade 3 or 4 ALT elevation",
    "timeFrame": "48 weeks",
}
GRADING = (
    "Values were read by the central laboratory against the upper limit of normal, using the"
    " toxicity tables of the division of AIDS, for those whose values were normal at entry."
)


def test_a_description_that_opens_by_restating_the_measure_is_reworded() -> None:
    b = {**ALT, "description": f"{ALT['measure']}. {GRADING}"}
    judged = _judged(_primary(ALT), _primary(b))
    assert [(s, t.split(": ")[-1]) for s, _, t in judged] == [
        ("reworded", "description restates the measure")
    ]
    # The same words without the restatement specify how it is measured.
    judged = _judged(_primary(ALT), _primary({**ALT, "description": GRADING}))
    assert [s for s, _, _ in judged] == ["minor"]


def test_a_description_that_is_a_note_is_reworded() -> None:
    note = "The investigator has left the institution and these data are no longer available."
    judged = _judged(_primary(OS), _primary({**OS, "description": note}))
    assert [(s, t.split(": ")[-1]) for s, _, t in judged] == [
        ("reworded", "a note that data are missing")
    ]
    counted = "Not every participant answered; 3 calls were made by a nurse to record the data."
    assert [s for s, _, _ in _judged(_primary(OS), _primary({**OS, "description": counted}))] == [
        "minor"
    ]


def test_a_month_may_be_read_as_four_weeks() -> None:
    a = {"measure": "Overall survival", "timeFrame": "Month 6"}
    assert [s for s, _, _ in _judged(_primary(a), _primary({**a, "timeFrame": "Week 24"}))] == [
        "reworded"
    ]
    assert [s for s, _, _ in _judged(_primary(a), _primary({**a, "timeFrame": "Week 30"}))] == [
        "minor"
    ]


def test_a_time_frame_in_words_split_out_of_the_measure_is_reworded() -> None:
    a = {"measure": "Length of stay until hospital discharge"}
    b = {"measure": "Length of Stay", "timeFrame": "Until hospital discharge"}
    judged = _judged(_primary(a), _primary(b))
    assert {s for s, _, _ in judged} == {"reworded"}, judged
    later = {**b, "timeFrame": "Until 30 days after hospital discharge"}
    assert "minor" in {s for s, _, _ in _judged(_primary(a), _primary(later))}


def test_a_numbered_part_of_the_measure_dropped_is_major() -> None:
    a = {"measure": "Effects on both 1) alkaline phosphatase (ALP) levels and 2) safety"}
    b = {"measure": "Alkaline Phosphatase (ALP) Levels"}
    judged = _judged(_primary(a), _primary(b))
    assert ("major", "primary") in {(s, lst) for s, lst, _ in judged}, judged
    assert any(t.endswith("outcome dropped from the measure: safety") for _, _, t in judged)
    # Both parts still named: no outcome dropped.
    kept = {"measure": "Alkaline Phosphatase (ALP) Levels and Safety"}
    assert "major" not in {s for s, _, _ in _judged(_primary(a), _primary(kept))}
    # "(visit 2)" numbers no list.
    assert o._parts("Change from baseline (visit 2) of the score (group 3)") == []


def test_a_word_changed_around_a_named_instrument_is_reworded() -> None:
    a = {"measure": "Symptom relief based on the IPSS questionnaire", "timeFrame": "12 weeks"}
    b = {"measure": "Total IPSS Questionnaire Symptoms", "timeFrame": "12 weeks"}
    assert {s for s, _, _ in _judged(_primary(a), _primary(b))} == {"reworded"}


def test_a_description_restating_through_an_abbreviation_is_reworded() -> None:
    a = {
        "measure": "Change in International Prostate Symptom Score (IPSS)",
        "timeFrame": "12 weeks",
    }
    text = (
        "The IPSS change is the score at week 12 less the score at entry. Seven questions on"
        " emptying, frequency, intermittency, urgency, weak stream, straining and nocturia."
    )
    judged = _judged(_primary(a), _primary({**a, "description": text}))
    assert [s for s, _, _ in judged] == ["reworded"], judged


def test_numbers_in_words_and_glued_to_their_unit_are_read() -> None:
    assert w.norm("Twenty-four weeks") == "24 weeks"
    assert w.norm("20 5, twenty") == "20 5 20"  # digits stay as written
    assert w.norm("12mo, 24h, Wk12, FEV1") == "12 mo 24 h wk 12 fev1"
    a = {"measure": "Overall survival", "timeFrame": "twenty-four weeks"}
    for said in ("24wks", "Wk24"):
        b = {**a, "timeFrame": said}
        assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"], said


def test_who_is_counted_is_filler() -> None:
    a = {"measure": "Number of individuals with a fall", "timeFrame": "12 weeks"}
    b = {"measure": "Number of Volunteers With a Fall", "timeFrame": "12 weeks"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]
