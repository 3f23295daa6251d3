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
    assert w.norm("12mo, 24h, Wk12, FEV1") == "12 mo 24 h wk 12 fev 1"
    a = {"measure": "Overall survival", "timeFrame": "twenty-four weeks"}
    for said in ("24wks", "Wk24"):
        b = {**a, "timeFrame": said}
        assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"], said


def test_who_is_counted_is_filler() -> None:
    a = {"measure": "Number of individuals with a fall", "timeFrame": "12 weeks"}
    b = {"measure": "Number of Volunteers With a Fall", "timeFrame": "12 weeks"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_a_name_and_its_number_written_together_or_apart_are_one() -> None:
    assert w.norm("FEV1") == w.norm("FEV 1") == "fev 1"
    assert w.norm("IL6 and PASI75") == w.norm("IL-6 and PASI-75")
    a = {"measure": "Change in FEV 1 before bronchodilator", "timeFrame": "12 weeks"}
    b = {"measure": "Change in FEV1 Before Bronchodilator", "timeFrame": "12 weeks"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_roman_numerals_of_a_grade_or_stage_are_numbers() -> None:
    assert w.norm("Grade III/IV, stage ii, type I") == "grade 3 4 stage 2 type 1"
    assert w.norm("I think part V") == "i think part 5"  # only after a numbered class
    a = {"measure": "Number of participants with grade 3 or 4 neutropenia", "timeFrame": "1 year"}
    b = {
        "measure": "Number of Participants With Grade III or IV Neutropenia",
        "timeFrame": "1 year",
    }
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_british_and_american_spellings_are_one_word() -> None:
    for gb, us in (
        ("randomisation", "randomization"),
        ("randomised", "randomized"),
        ("analysed", "analyzed"),
        ("tumours", "tumors"),
        ("haemoglobin", "hemoglobin"),
        ("oedema", "edema"),
        ("centre", "center"),
        ("labelled", "labeled"),
    ):
        assert w.stem(gb) == w.stem(us), (gb, us)
    assert w.stem("hours") == w.stem("hour")  # a short stem before -our is kept
    a = {"measure": "Haemoglobin level after randomisation", "timeFrame": "12 weeks"}
    b = {"measure": "Hemoglobin Level After Randomization", "timeFrame": "12 weeks"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_a_percentage_after_a_number_is_a_quantity_not_a_metric() -> None:
    assert (
        w.metrics("a 50% reduction in seizures")
        == w.metrics("a 50 percent reduction")
        == {"change"}
    )
    assert w.metrics("Percentage of participants with a reduction") == {"share", "change"}
    a = {"measure": "Proportion with a 50% reduction in seizures", "timeFrame": "12 weeks"}
    b = {"measure": "Proportion With a 50 Percent Reduction in Seizures", "timeFrame": "12 weeks"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_a_list_or_range_of_numbers_names_its_unit_once() -> None:
    assert (
        w.times("Weeks 4, 8 and 12")
        == w.times("4, 8 and 12 weeks")
        == {("4", "w"), ("8", "w"), ("12", "w")}
    )
    assert w.times("wk 9-12") == w.times("Week 9 through Week 12")
    # A number that is no part of the list takes no unit from it.
    assert w.times("HIV-1 RNA < 50 copies/mL at Week 48") == {("48", "w")}
    a = {"measure": "Continuous abstinence", "timeFrame": "wk 9-12"}
    b = {"measure": "Continuous Abstinence", "timeFrame": "Week 9 through Week 12"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_a_window_to_the_same_time_point_is_reworded() -> None:
    # "Up to", "through", "baseline to": the period that leads to the same time point.
    a = {"measure": "Overall survival", "timeFrame": "24 weeks"}
    for said in ("Up to 24 weeks", "Baseline through Week 24", "Within 24 weeks"):
        b = {**a, "timeFrame": said}
        assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"], said
    assert [
        s for s, _, _ in _judged(_primary(a), _primary({**a, "timeFrame": "Up to 48 weeks"}))
    ] == ["minor"]


def test_time_points_of_the_description_changed_are_a_timing_change() -> None:
    a = {
        "measure": "Failure rate",
        "timeFrame": "Up to 2 years",
        "description": "Failures judged clinically after 1 and 2 years, such as a lost filling",
    }
    b = {**a, "description": "Failures judged clinically after 2 years, such as a lost filling"}
    judged = _judged(_primary(a), _primary(b))
    assert [(s, t.split(": ")[-1]) for s, _, t in judged] == [
        ("minor", "time points in the description changed")
    ]
    # The same time points said another way: reworded.
    same = {
        **a,
        "description": "Failures judged clinically at 12 and 24 months, such as a lost filling",
    }
    assert {s for s, _, _ in _judged(_primary(a), _primary(same))} == {"reworded"}


def test_an_acronym_is_the_words_that_spell_it() -> None:
    assert w.expansions("PFS at 1 year", "Progression-free survival") == {
        "pfs": ["progression", "free", "survival"]
    }
    assert w.expansions("HRQoL", "health-related quality of life")["hrqol"][-2:] == [
        "quality",
        "life",
    ]
    assert w.expansions("Number of AEs", "adverse events") == {"aes": ["advers", "event"]}
    assert w.expansions("PFS", "Overall survival") == {}  # letters that do not match
    assert w.expansions("OVERALL SURVIVAL", "overall survival") == {}  # capitals, no acronyms
    # The short form and the long one are the same outcome, reworded, either way round.
    a = {"measure": "PFS", "timeFrame": "2 years"}
    b = {"measure": "Progression-Free Survival", "timeFrame": "2 years"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]
    assert [s for s, _, _ in _judged(_primary(b), _primary(a))] == ["reworded"]
    # A different outcome is still one.
    os_ = {"measure": "Overall Survival", "timeFrame": "2 years"}
    assert "major" in {s for s, _, _ in _judged(_primary(a), _primary(os_))}


def test_a_description_restating_through_an_acronym_with_a_number_is_reworded() -> None:
    a = {
        "measure": "Proportion achieving a 75% improvement in Psoriasis Area Severity Index "
        "(PASI-75)",
        "timeFrame": "Week 16",
    }
    text = (
        "PASI response is the percentage achieving at least a 75% improvement in PASI score."
        " Erythema, induration and scaling of lesions on head, trunk, arms and legs are graded"
        " 0-4 by a blinded dermatologist, weighted by body surface involved, summed to 0-72."
    )
    assert [s for s, _, _ in _judged(_primary(a), _primary({**a, "description": text}))] == [
        "reworded"
    ]


def test_words_moved_from_the_measure_into_the_description_are_reworded() -> None:
    a = {
        "measure": "Percentage with a viral load below 50 copies, by the snapshot algorithm",
        "timeFrame": "Week 48",
    }
    b = {
        "measure": "Percentage With a Viral Load Below 50 Copies",
        "timeFrame": "Week 48",
        "description": "The snapshot algorithm was used: the last load in the window decides.",
    }
    judged = _judged(_primary(a), _primary(b))
    assert {s for s, _, _ in judged} == {"reworded"}, judged
    assert any(t.endswith("description takes over words from the measure") for _, _, t in judged)
    # The same description with nothing cut from the measure specifies how it is measured.
    kept = {**b, "measure": a["measure"], "description": "Loads read centrally by PCR assay."}
    assert "minor" in {s for s, _, _ in _judged(_primary(a), _primary(kept))}


def test_a_sole_outcome_replaced_by_what_its_description_measured_is_minor() -> None:
    a = {
        "measure": "Change in cognitive functioning",
        "timeFrame": "3 hours after dosing",
        "description": "Tasks: prepulse inhibition, the antisaccade task and working memory.",
    }
    b = {"measure": "Error Percentage in the Antisaccade Task", "timeFrame": "3 hours after dosing"}
    judged = _judged(_primary(a), _primary(b))
    assert {s for s, _, _ in judged} == {"minor"}, judged
    # Either way round: the new description explains the old measure.
    c = {
        "measure": "Time to First Documented AF Recurrence",
        "timeFrame": "16 weeks",
        "description": "Efficacy of three doses in maintaining sinus rhythm after cardioversion.",
    }
    d = {"measure": "Efficacy of three doses in maintaining sinus rhythm", "timeFrame": "16 weeks"}
    assert "major" not in {s for s, _, _ in _judged(_primary(d), _primary(c))}
    # An outcome its predecessor never mentioned is a new primary outcome.
    e = {"measure": "Left Ventricular Global Strain Rate", "timeFrame": "3 hours after dosing"}
    assert "major" in {s for s, _, _ in _judged(_primary(a), _primary(e))}
    # With two outcomes replaced, neither is taken for the other.
    two = _primary(a, {"measure": "Reaction time", "timeFrame": "3 hours after dosing"})
    judged = _judged(two, _primary(b, {"measure": "Sleep quality", "timeFrame": "1 week"}))
    assert "major" in {s for s, _, _ in judged}


def test_the_frame_of_an_objective_and_the_arms_compared_are_filler() -> None:
    a = {
        "measure": "To investigate the efficacy of drug versus placebo on the pain score",
        "timeFrame": "12 weeks",
    }
    b = {"measure": "Pain", "timeFrame": "12 weeks"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_a_unit_or_the_head_of_a_reported_value_is_filler() -> None:
    a = {"measure": "Systolic blood pressure", "timeFrame": "12 weeks"}
    b = {"measure": "Systolic Blood Pressure Value (mmHg)", "timeFrame": "12 weeks"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]
    assert w.content("Total IPSS score (points)") == w.content("Total IPSS") + ["point"]


def test_a_word_that_names_a_metric_elsewhere_is_none_here() -> None:
    assert w.metrics("Time to progression") == {"time to event"}
    assert w.metrics("Blood loss at the time of surgery") == set()
    assert w.metrics("Mean heart rate") == {"mean"}
    assert w.metrics("Response rate") == {"share"}
    a = {"measure": "Mean blood loss at surgery", "timeFrame": "1 day"}
    b = {"measure": "Mean Blood Loss at the Time of Surgery", "timeFrame": "1 day"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_a_decimal_is_one_number() -> None:
    assert w.norm("3.1 years, 0.5 mg.") == "3.1 years 0.5 mg"
    assert w.times("Mean follow-up of 3.1 years") == {("162", "w")}


def test_a_primary_moved_to_secondary_but_named_in_a_new_composite_is_minor() -> None:
    death = {"measure": "Death from any cause", "timeFrame": "2 years"}
    af = {"measure": "Permanent atrial fibrillation", "timeFrame": "2 years"}
    composite = {
        "measure": "Composite of Death From Any Cause or Permanent AF",
        "timeFrame": "2 years",
    }
    judged = _judged(_primary(death, af), _primary(composite, secondary=(af,)))
    assert "major" not in {s for s, _, _ in judged}, judged
    assert any("combined into a composite primary outcome" in t for _, _, t in judged)
    # Moved to secondary beside a new primary that is no composite of it: major.
    other = {"measure": "Death From Any Cause or Stroke", "timeFrame": "2 years"}
    judged = _judged(_primary(death, af), _primary(other, secondary=(af,)))
    assert ("major", "primary", "Permanent atrial fibrillation moved to secondary") in judged


def test_a_visit_number_beside_a_time_is_no_time_of_its_own() -> None:
    assert w.times("Week 12 (Visit 5)") == {("12", "w"), ("5", "visit")}
    assert w.same_times("Week 12 (Visit 5)", "12 weeks")
    assert not w.same_times("Week 12 (Visit 5)", "Week 24 (Visit 5)")
    assert not w.same_times("Visit 5", "Visit 6")  # visits alone are still compared
    a = {"measure": "Change in pain score", "timeFrame": "Baseline (Visit 2) and Week 12 (Visit 5)"}
    b = {"measure": "Change in Pain Score", "timeFrame": "Baseline and Week 12"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_another_number_of_a_named_instrument_is_another_measurement() -> None:
    assert w.numbered_names("ACR20 and PASI-75, HIV-1") == {
        "acr": {"20"},
        "pasi": {"75"},
        "hiv": {"1"},
    }
    a = {"measure": "Percentage of participants with an ACR20 response", "timeFrame": "Week 24"}
    b = {"measure": "Percentage of Participants With an ACR50 Response", "timeFrame": "Week 24"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["minor"]
    # The same number written apart is the same measurement.
    c = {"measure": "Percentage of Participants With an ACR 20 Response", "timeFrame": "Week 24"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(c))] == ["reworded"]


def test_the_analysis_an_outcome_is_reported_for_is_no_part_of_it() -> None:
    assert w.unqualified("Mean Change in Pain Score (Per-Protocol Population)").strip() == (
        "Mean Change in Pain Score"
    )
    assert w.unqualified("Final Analysis: Overall Survival") == "Overall Survival"
    # A parenthesis that names no analysis population or data cut stays.
    assert w.content("Pain (analysis of covariance)") == ["pain", "analysis", "covarianc"]
    a = {"measure": "Change in daily pain score", "timeFrame": "Week 8"}
    b = {"measure": "Change in Daily Pain Score (Modified Intention-to-Treat Population)",
         "timeFrame": "Week 8"}  # fmt: skip
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]
    c = {"measure": "Change in Daily Pain Score (Full Analysis Set)", "timeFrame": "Week 8"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(c))] == ["reworded"]


def test_the_verb_that_links_who_is_counted_to_what_they_show_is_filler() -> None:
    a = {"measure": "Proportion of subjects who have an HbA1c below 7%", "timeFrame": "26 weeks"}
    b = {"measure": "Percentage of Participants With HbA1c < 7%", "timeFrame": "Week 26"}
    assert {s for s, _, _ in _judged(_primary(a), _primary(b))} == {"reworded"}
    assert w.content("patients who achieved remission") == w.content("patients with remission")


def test_the_treatment_and_population_of_an_objective_are_no_part_of_the_measure() -> None:
    # The treatment compared: "efficacy of X", "X versus Y", "that X improves".
    assert w.content("Efficacy of zorbitamab 10 mg IV q2w versus placebo on HbA1c") == ["hba1c"]
    assert w.content("Time to relapse of drugA vs drugB") == w.content("Time to relapse")
    assert w.content("To show that exercise training improves walking distance") == (
        w.content("walking distance")
    )
    # The population: "in patients with Z", never the "patients with" that is counted.
    assert w.content("Walking distance in adults with peripheral artery disease") == (
        w.content("walking distance")
    )
    assert w.content("Number of patients with a stroke") == ["strok"]
    # What is measured stays: side effects, a dichotomy of the scale.
    assert w.content("Side effects of chemotherapy") == ["side", "chemotherapy"]
    assert "greater" in w.content("mRS 0-2 versus greater than 2")
    a = {
        "measure": "To demonstrate that zorbitamab 10 mg reduces seizure frequency compared with"
        " placebo in children with focal epilepsy",
        "timeFrame": "12 weeks",
    }
    b = {"measure": "Seizure Frequency", "timeFrame": "12 weeks"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_a_description_both_versions_share_redefines_no_outcome() -> None:
    described = "Response: a complete or partial response by blinded central review."
    a = {
        "measure": "Percentage of participants with response by blinded central review in adults"
        " with relapsed lymphoma",
        "description": described,
        "timeFrame": "Up to 24 months",
    }
    b = {"measure": "Overall survival", "description": described, "timeFrame": "Up to 24 months"}
    judged = _judged(_primary(a), _primary(b))
    assert [(s, t.split(": ")[0]) for s, _, t in judged][:1] == [("major", "new primary outcome")]
    # A description that is new and explains the old measure still redefines it.
    c = {"measure": "Objective response", "description": described, "timeFrame": "Up to 24 months"}
    assert "major" not in {s for s, _, _ in _judged(_primary({**a, "description": None}),
                                                     _primary(c))}  # fmt: skip


def test_a_week_glued_to_its_number_is_a_week() -> None:
    assert w.times("Response at W12") == w.times("Response at Week 12") == {("12", "w")}
    assert w.same_times("W52", "1 year")
    # A lone d or m before a number stays letters (vitamin D3, mg/m2).
    assert w.times("vitamin D3 dose in mg/m2") == set()
    a = {"measure": "Healing of the target ulcer at W12", "timeFrame": "12 weeks"}
    b = {"measure": "Healing of the Target Ulcer at Week 12", "timeFrame": "12 weeks"}
    assert [s for s, _, _ in _judged(_primary(a), _primary(b))] == ["reworded"]


def test_an_outcome_added_for_another_analysis_is_reworded() -> None:
    a = {"measure": "Healing of the target ulcer at Week 12", "timeFrame": "12 weeks"}
    interim = {"measure": "Interim Analysis: Healing of the Target Ulcer", "timeFrame": "12 weeks"}
    final = {"measure": "Final Analysis: Healing of the Target Ulcer", "timeFrame": "12 weeks"}
    judged = _judged(_primary(a), _primary(interim, final))
    assert {s for s, _, _ in judged} == {"reworded"}, judged
    assert any("the same outcome for another analysis" in t for _, _, t in judged)
    # The same words with no analysis named are not one outcome for two analyses.
    month = {"measure": "Healing of the target ulcer", "timeFrame": "4 weeks"}
    judged = _judged(_primary(a), _primary(month, {**a, "measure": "Healing of the target ulcer"}))
    assert not any("another analysis" in t for _, _, t in judged), judged
