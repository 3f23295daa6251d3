"""Typed changes between two records: one test per rule, and the real captured versions."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from sync.core import record
from sync.core.diff.walk import CATEGORIES, FieldChange, diff_records, summarise
from sync.testing.factory import (
    load_sample,
    make_study,
    nct,
    samples_dir,
    with_criteria,
    with_enrollment,
    with_last_update,
    with_site,
    with_status,
    with_version_holder,
)

BIG = "records/NCT04267848.json"  # 1,148 locations


def versions(nct_id: str) -> list[dict[str, Any]]:
    folder = samples_dir() / "versions" / nct_id
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def ps(study: dict[str, Any]) -> dict[str, Any]:
    section: dict[str, Any] = study["protocolSection"]
    return section


def shuffled(value: Any, rng: random.Random) -> Any:
    """A deep copy with every list and every object's keys in a random order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        items = [shuffled(v, rng) for v in value]
        rng.shuffle(items)
        return items
    return value


def one(changes: list[FieldChange]) -> FieldChange:
    assert len(changes) == 1, [c.summary for c in changes]
    return changes[0]


def summaries(changes: list[FieldChange]) -> list[str]:
    return [c.summary for c in changes]


@pytest.fixture
def study() -> dict[str, Any]:
    return make_study(nct(1), status="RECRUITING", enrollment=(24, "ESTIMATED"))


# --- the shape of the output -----------------------------------------------------------------


def test_categories() -> None:
    assert CATEGORIES == (
        "status", "enrollment", "eligibility", "dates", "sites", "arms", "interventions",
        "outcomes", "sponsor", "design", "identification", "results", "other",
    )  # fmt: skip


def test_changes_are_json_serialisable_and_typed() -> None:
    for nct_id in ("NCT06754501", "NCT06821503", "NCT05414032", "NCT05280470"):
        old, new = versions(nct_id)[:2]
        changes = diff_records(old, new)
        assert changes
        for change in changes:
            assert change.category in CATEGORIES
            assert change.severity in ("high", "medium", "low")
            assert change.summary and "\n" not in change.summary
            data = change.to_dict()
            assert set(data) == {"category", "path", "old", "new", "summary", "severity", "detail"}
            assert orjson.loads(orjson.dumps(data)) == data


# --- noise is no change ----------------------------------------------------------------------


@pytest.mark.parametrize("relpath", [BIG, "records/NCT04670068.json", "records/NCT07390539.json"])
def test_reordered_copy_of_a_real_record_has_no_change(relpath: str) -> None:
    study = load_sample(relpath)
    reordered = shuffled(study, random.Random(7))
    assert reordered != study
    assert diff_records(study, reordered) == []


def test_derived_only_real_pair_has_no_change() -> None:
    old, new = versions("NCT06778603")
    assert old != new and old["derivedSection"] != new["derivedSection"]
    assert diff_records(old, new) == []


def test_derived_section_and_last_update_dates_are_no_change(study: dict[str, Any]) -> None:
    new = with_version_holder(with_last_update(study, "2026-12-24"), "2026-12-24")
    new["derivedSection"]["conditionBrowseModule"] = {"meshes": [{"id": "D000001", "term": "X"}]}
    assert diff_records(study, new) == []


def test_text_formatting_is_no_change(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    desc = ps(new)["descriptionModule"]
    desc["briefSummary"] = "  " + desc["briefSummary"].replace(" ", "  ").replace("\n", "\r\n")
    assert desc["briefSummary"] != ps(study)["descriptionModule"]["briefSummary"]
    assert diff_records(study, new) == []


def test_html_from_the_history_endpoint_equals_markdown(study: dict[str, Any]) -> None:
    markdown = copy.deepcopy(study)
    html = copy.deepcopy(study)
    ps(markdown)["descriptionModule"]["detailedDescription"] = (
        "Stratified by:\n\n1. Prior anti-PD-\\[L\\]1 antibody\n2. CTFI \\<90 days"
    )
    ps(html)["descriptionModule"]["detailedDescription"] = (
        "<p>Stratified by:</p><ol><li>Prior anti-PD-[L]1 antibody</li>"
        "<li>CTFI &lt;90 days</li></ol>"
    )
    ps(html)["identificationModule"]["briefTitle"] = ps(study)["identificationModule"][
        "briefTitle"
    ].replace("CAR-NK", '<mark class="hl">CAR-NK</mark>')
    assert diff_records(markdown, html) == []


def test_has_results_absent_null_or_false_is_no_change(study: dict[str, Any]) -> None:
    for value in (None, False):
        new = copy.deepcopy(study)
        new["hasResults"] = value
        assert diff_records(study, new) == []
        del new["hasResults"]
        assert diff_records(study, new) == []


def test_status_verified_date_alone_is_one_low_change(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    ps(new)["statusModule"]["statusVerifiedDate"] = "2027-01"
    change = one(diff_records(study, new))
    assert (change.category, change.severity) == ("dates", "low")
    assert (change.old, change.new) == (ps(study)["statusModule"]["statusVerifiedDate"], "2027-01")


def test_geo_point_alone_is_no_change() -> None:
    old, new = versions("NCT06825494")
    assert diff_records(old, new) == []


# --- status ----------------------------------------------------------------------------------


def test_status_moving_out_of_recruiting_is_high(study: dict[str, Any]) -> None:
    change = one(diff_records(study, with_status(study, "ACTIVE_NOT_RECRUITING")))
    assert change.category == "status" and change.severity == "high"
    assert change.summary == "status: RECRUITING -> ACTIVE_NOT_RECRUITING"
    assert change.path == "protocolSection.statusModule.overallStatus"


def test_status_stopped_is_high_with_why_stopped(study: dict[str, Any]) -> None:
    not_yet = with_status(study, "NOT_YET_RECRUITING")
    changes = diff_records(not_yet, with_status(not_yet, "TERMINATED", why_stopped="Funding"))
    by_path = {c.path.rsplit(".", 1)[-1]: c for c in changes}
    assert set(by_path) == {"overallStatus", "whyStopped"}
    assert by_path["overallStatus"].severity == "high"
    assert by_path["whyStopped"].category == "status"
    assert (by_path["whyStopped"].old, by_path["whyStopped"].new) == (None, "Funding")


def test_other_status_moves_are_medium(study: dict[str, Any]) -> None:
    not_yet = with_status(study, "NOT_YET_RECRUITING")
    change = one(diff_records(not_yet, study))
    assert change.summary == "status: NOT_YET_RECRUITING -> RECRUITING"
    assert change.severity == "medium"


# --- enrollment ------------------------------------------------------------------------------


def test_enrollment_count_with_relative_size(study: dict[str, Any]) -> None:
    old = with_enrollment(study, 200, "ESTIMATED")
    change = one(diff_records(old, with_enrollment(study, 102, "ESTIMATED")))
    assert change.category == "enrollment"
    assert change.summary == "enrollment: 200 -> 102 (-49%)"
    assert change.old == {"count": 200, "type": "ESTIMATED"}
    assert change.new == {"count": 102, "type": "ESTIMATED"}


def test_enrollment_estimated_to_actual(study: dict[str, Any]) -> None:
    change = one(diff_records(study, with_enrollment(study, 16, "ACTUAL")))
    assert change.summary == "enrollment: 24 (ESTIMATED) -> 16 (ACTUAL)"
    assert change.new == {"count": 16, "type": "ACTUAL"}


# --- eligibility -----------------------------------------------------------------------------

CRITERIA = "Inclusion Criteria:\n\n* Adults\n* ECOG 0-1\n\nExclusion Criteria:\n\n* Pregnancy"


def test_eligibility_criterion_changes_one_per_item(study: dict[str, Any]) -> None:
    old = with_criteria(study, CRITERIA)
    new = with_criteria(
        study,
        "Inclusion Criteria:\n\n1. Adults\n2. ECOG 0-2\n\n"
        "Exclusion Criteria:\n\n1. Pregnancy\n2. Prior CAR-NK therapy",
    )
    changes = diff_records(old, new)
    assert {c.category for c in changes} == {"eligibility"}
    base = "protocolSection.eligibilityModule.eligibilityCriteria"
    by_path = {c.path: c for c in changes}
    assert set(by_path) == {f"{base}.inclusion[1]", f"{base}.exclusion[1]"}
    modified = by_path[f"{base}.inclusion[1]"]
    assert (modified.old, modified.new) == ("ECOG 0-1", "ECOG 0-2")
    assert modified.detail["kind"] == "modified"
    assert modified.detail["word_diff"] == [["equal", "ECOG"], ["delete", "0-1"], ["insert", "0-2"]]
    added = by_path[f"{base}.exclusion[1]"]
    assert (added.old, added.new) == (None, "Prior CAR-NK therapy")
    assert summarise(changes) == [
        "eligibility: 1 inclusion criterion changed, 1 exclusion criterion added"
    ]


def test_eligibility_reformatting_is_no_change(study: dict[str, Any]) -> None:
    old = with_criteria(study, CRITERIA)
    new = with_criteria(study, CRITERIA.replace("* ", "- ").replace("\n", "\r\n"))
    assert diff_records(old, new) == []


def test_eligibility_fields(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    module = ps(new)["eligibilityModule"]
    module.update(minimumAge="12 Years", sex="FEMALE", healthyVolunteers=True)
    module["stdAges"] = ["CHILD", "ADULT", "OLDER_ADULT"]
    changes = diff_records(study, new)
    assert {c.category for c in changes} == {"eligibility"}
    by_field = {c.path.rsplit(".", 1)[-1]: c for c in changes}
    assert set(by_field) == {"minimumAge", "sex", "healthyVolunteers", "stdAges"}
    assert by_field["minimumAge"].new == "12 Years"
    assert by_field["sex"].new == "FEMALE"
    assert by_field["stdAges"].detail["added"] == ["CHILD"]


# --- dates -----------------------------------------------------------------------------------


def test_primary_completion_slip_in_months(study: dict[str, Any]) -> None:
    old = copy.deepcopy(study)
    ps(old)["statusModule"]["primaryCompletionDateStruct"] = {
        "date": "2026-12",
        "type": "ESTIMATED",
    }
    new = copy.deepcopy(study)
    ps(new)["statusModule"]["primaryCompletionDateStruct"] = {
        "date": "2027-06",
        "type": "ESTIMATED",
    }
    change = one(diff_records(old, new))
    assert change.category == "dates"
    assert change.summary == "primary completion: 2026-12 -> 2027-06 (slipped 6 months)"
    assert change.detail == {"slip": {"days": 182, "months": 6, "precision": "month"}}


def test_completion_slip_in_days_and_type_change(study: dict[str, Any]) -> None:
    old = copy.deepcopy(study)
    ps(old)["statusModule"]["completionDateStruct"] = {"date": "2027-02-04", "type": "ESTIMATED"}
    new = copy.deepcopy(study)
    ps(new)["statusModule"]["completionDateStruct"] = {"date": "2027-02-14", "type": "ACTUAL"}
    change = one(diff_records(old, new))
    assert (
        change.summary
        == "completion: 2027-02-04 (ESTIMATED) -> 2027-02-14 (ACTUAL) (slipped 10 days)"
    )
    assert change.detail == {"slip": {"days": 10, "months": 0}}
    assert change.old == {"date": "2027-02-04", "type": "ESTIMATED"}


def test_unknown_keys_in_date_and_enrollment_structs_are_reported_once(
    study: dict[str, Any],
) -> None:
    old, new = copy.deepcopy(study), copy.deepcopy(study)
    ps(old)["statusModule"]["startDateStruct"]["note"] = "a"
    ps(new)["statusModule"]["startDateStruct"]["note"] = "b"
    ps(new)["designModule"]["enrollmentInfo"]["extra"] = 1
    changes = diff_records(old, new)
    assert sorted(c.path for c in changes) == [
        "protocolSection.designModule.enrollmentInfo.extra",
        "protocolSection.statusModule.startDateStruct.note",
    ]


def test_other_status_dates_are_low(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    ps(new)["statusModule"]["resultsFirstPostDateStruct"] = {"date": "2027-03-01", "type": "ACTUAL"}
    change = one(diff_records(study, new))
    assert (change.category, change.severity) == ("dates", "low")
    assert change.summary == "results first posted: (none) -> 2027-03-01 (ACTUAL)"


# --- sites -----------------------------------------------------------------------------------


def test_one_site_inserted_among_1148_is_one_change() -> None:
    study = load_sample(BIG)
    locations = ps(study)["contactsLocationsModule"]["locations"]
    assert len(locations) == 1148
    new = with_site(study, "Cancer Hospital of CICAMS", "Beijing", "China", index=574)
    change = one(diff_records(study, new))
    assert change.category == "sites" and change.severity == "medium"
    assert change.summary == "site added: Cancer Hospital of CICAMS, Beijing, China"
    assert change.path == (
        "protocolSection.contactsLocationsModule.locations[Cancer Hospital of CICAMS|Beijing|China]"
    )
    assert change.old is None
    assert change.new == {
        "facility": "Cancer Hospital of CICAMS",
        "city": "Beijing",
        "country": "China",
    }


def test_site_removed_and_site_status_changed() -> None:
    study = load_sample(BIG)
    site = ps(study)["contactsLocationsModule"]["locations"][10]
    name = f"{site['facility']}, {site['city']}, {site['country']}"
    removed = copy.deepcopy(study)
    del ps(removed)["contactsLocationsModule"]["locations"][10]
    change = one(diff_records(study, removed))
    assert change.summary == f"site removed: {name}"
    assert change.new is None and change.old["facility"] == site["facility"]

    closed = copy.deepcopy(study)
    ps(closed)["contactsLocationsModule"]["locations"][10]["status"] = "WITHDRAWN"
    change = one(diff_records(study, closed))
    assert change.category == "sites"
    assert change.path.endswith(f"[{site['facility']}|{site['city']}|{site['country']}].status")
    assert change.summary == f"site status: {name}: {site.get('status', '(none)')} -> WITHDRAWN"


def test_sites_without_facility_and_duplicates(study: dict[str, Any]) -> None:
    old = copy.deepcopy(study)
    ps(old).setdefault("contactsLocationsModule", {})["locations"] = [
        {"city": "Lyon", "zip": "69008", "country": "France"},
        {"facility": "Site A", "city": "Paris", "country": "France", "zip": "75001"},
        {"facility": "Site A", "city": "Paris", "country": "France", "zip": "75002"},
    ]
    new = copy.deepcopy(old)
    locations = ps(new)["contactsLocationsModule"]["locations"]
    locations.reverse()
    assert diff_records(old, new) == []
    locations[0]["status"] = "RECRUITING"  # the "Site A" in 75002
    change = one(diff_records(old, new))
    # The unchanged twin pairs first (#1); the edited one is #2.
    assert change.path.endswith("locations[Site A|Paris|France#2].status")
    assert change.summary == "site status: Site A, Paris, France #2: (none) -> RECRUITING"
    locations.append({"city": "Nice", "country": "France"})
    added = diff_records(old, new)[-1]
    assert added.summary == "site added: Nice, France"


def test_contacts_are_low(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    module = ps(new).setdefault("contactsLocationsModule", {})
    module["centralContacts"] = [{"name": "Jane Roe", "role": "CONTACT", "phone": "555-0100"}]
    module["overallOfficials"] = [{"name": "Dr. Who", "role": "PRINCIPAL_INVESTIGATOR"}]
    changes = diff_records(study, new)
    assert {(c.category, c.severity) for c in changes} == {("sites", "low")}
    assert "central contact added: Jane Roe (CONTACT)" in summaries(changes)


# --- arms, interventions, outcomes -----------------------------------------------------------


def test_arms_keyed_by_label(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    arms = ps(new)["armsInterventionsModule"]["armGroups"]
    label = arms[0]["label"]
    arms[0]["description"] = "A new description."
    arms.insert(0, {"label": "Cohort B", "type": "EXPERIMENTAL"})
    changes = diff_records(study, new)
    assert {c.category for c in changes} == {"arms"}
    assert "arm added: Cohort B" in summaries(changes)
    described = next(c for c in changes if c.path.endswith(".description"))
    assert (
        described.path == f"protocolSection.armsInterventionsModule.armGroups[{label}].description"
    )
    assert described.new == "A new description."


def test_interventions_keyed_by_type_and_name(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    items = ps(new)["armsInterventionsModule"]["interventions"]
    first = items[0]
    items.append({"type": "DRUG", "name": "Cyclophosphamide"})
    first["otherNames"] = ["XYZ-1"]
    changes = diff_records(study, new)
    assert {c.category for c in changes} == {"interventions"}
    assert "intervention added: DRUG: Cyclophosphamide" in summaries(changes)
    renamed = next(c for c in changes if c.path.endswith(".otherNames"))
    assert f"[{first['type']}|{first['name']}]" in renamed.path


def test_primary_outcome_changes_are_high(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    outcomes = ps(new)["outcomesModule"]
    outcomes["primaryOutcomes"][0]["timeFrame"] = "Up to 5 years"
    outcomes.setdefault("secondaryOutcomes", []).append({"measure": "Quality of life"})
    changes = diff_records(study, new)
    assert {c.category for c in changes} == {"outcomes"}
    by_sev = {c.severity: c for c in changes}
    assert by_sev["high"].path.endswith(".timeFrame") and "primaryOutcomes[" in by_sev["high"].path
    assert by_sev["medium"].summary == "secondary outcome added: Quality of life"


# --- sponsor, design, identification ---------------------------------------------------------


def test_sponsor(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    module = ps(new)["sponsorCollaboratorsModule"]
    module["leadSponsor"]["name"] = "Acme Therapeutics"
    module.setdefault("collaborators", []).append({"name": "Personalis Inc.", "class": "INDUSTRY"})
    changes = diff_records(study, new)
    assert {c.category for c in changes} == {"sponsor"}
    lead = next(c for c in changes if "leadSponsor" in c.path)
    assert lead.severity == "high" and lead.new == "Acme Therapeutics"
    assert "collaborator added: Personalis Inc." in summaries(changes)


def test_design(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    design = ps(new)["designModule"]
    design["phases"] = ["PHASE1", "PHASE2"]
    design.setdefault("designInfo", {})["allocation"] = "RANDOMIZED"
    changes = diff_records(study, new)
    assert {(c.category, c.severity) for c in changes} == {("design", "medium")}
    phases = next(c for c in changes if c.path.endswith("phases"))
    assert phases.summary == "phases: PHASE1 -> PHASE1, PHASE2"
    assert phases.detail == {"added": ["PHASE2"], "removed": []}


def test_identification(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    ident = ps(new)["identificationModule"]
    ident["briefTitle"] = "A New Title"
    ident["secondaryIdInfos"] = [{"id": "2026-000001-11", "type": "EUDRACT_NUMBER"}]
    changes = diff_records(study, new)
    assert {c.category for c in changes} == {"identification"}
    title = next(c for c in changes if c.path.endswith("briefTitle"))
    assert title.new == "A New Title" and title.severity == "medium"
    assert "secondary ID added: 2026-000001-11" in summaries(changes)


# --- results ---------------------------------------------------------------------------------


def test_results_appearing_are_high() -> None:
    with_results = load_sample("records/NCT04670068.json")
    assert with_results["hasResults"] is True
    before = copy.deepcopy(with_results)
    before["hasResults"] = False
    del before["resultsSection"]
    changes = diff_records(before, with_results)
    assert {(c.category, c.severity) for c in changes} == {("results", "high")}
    section = next(c for c in changes if c.path == "resultsSection")
    assert section.old is None and "outcomeMeasuresModule" in section.new
    assert any(c.path == "hasResults" and c.new is True for c in changes)


def test_results_edits_are_keyed_and_medium() -> None:
    old = load_sample("records/NCT04670068.json")
    new = shuffled(old, random.Random(3))
    events = new["resultsSection"]["adverseEventsModule"]["otherEvents"]
    events[0]["stats"][0]["numAffected"] += 1
    change = one(diff_records(old, new))
    assert (change.category, change.severity) == ("results", "medium")
    assert change.path.endswith(".numAffected") and change.new == change.old + 1


# --- other -----------------------------------------------------------------------------------


def test_long_description_gives_old_new_and_word_diff(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    desc = ps(new)["descriptionModule"]
    old_text = desc["briefSummary"]
    desc["briefSummary"] = old_text + " Approximately 40 participants will be enrolled."
    change = one(diff_records(study, new))
    assert change.category == "other" and change.severity == "medium"
    assert (change.old, change.new) == (old_text, desc["briefSummary"])
    assert change.detail["word_diff"][-1] == [
        "insert",
        "Approximately 40 participants will be enrolled.",
    ]
    assert change.summary == "brief summary edited (+6/-0 words)"


def test_conditions_keywords_oversight_annotation_documents(study: dict[str, Any]) -> None:
    new = copy.deepcopy(study)
    ps(new)["conditionsModule"]["conditions"].append("Neuroendocrine Tumors")
    ps(new)["conditionsModule"]["keywords"] = ["DLL3", "CAR-NK"]
    old_keywords = ", ".join(ps(study)["conditionsModule"]["keywords"])
    ps(new).setdefault("oversightModule", {})["isFdaRegulatedDrug"] = True
    new["annotationSection"] = {"annotationModule": {"unpostedAnnotation": {"unpostedEvents": [
        {"type": "RELEASE", "date": "2026-01-23"}]}}}  # fmt: skip
    new["documentSection"] = {"largeDocumentModule": {"largeDocs": [{"filename": "Prot_000.pdf"}]}}
    changes = diff_records(study, new)
    assert {c.category for c in changes} == {"other"}
    text = summaries(changes)
    conditions = next(c for c in changes if c.path.endswith("conditions"))
    assert conditions.detail == {"added": ["Neuroendocrine Tumors"], "removed": []}
    assert (
        conditions.summary.endswith(", Neuroendocrine Tumors")
        or "added Neuro" in conditions.summary
    )
    keywords = next(c for c in changes if c.path.endswith("keywords"))
    assert keywords.old == ps(study)["conditionsModule"]["keywords"] and old_keywords
    assert keywords.new == ["DLL3", "CAR-NK"]
    assert keywords.detail["added"] == ["CAR-NK", "DLL3"]
    assert "unposted event added: RELEASE 2026-01-23" in text
    assert "document added: Prot_000.pdf" in text
    assert len(changes) == 5


def test_unexpected_shapes_never_crash(study: dict[str, Any]) -> None:
    study = with_site(study, "Site A", "Paris", "France")
    broken = copy.deepcopy(study)
    ps(broken)["statusModule"] = ["not", "a", "module"]
    ps(broken)["contactsLocationsModule"] = {"locations": {"facility": "X"}}
    ps(broken)["designModule"]["enrollmentInfo"] = None
    ps(broken)["armsInterventionsModule"]["armGroups"] = [None, 3, "text", {"no": "label"}]
    del ps(broken)["outcomesModule"]
    changes = diff_records(study, broken)
    shape_changes = [c for c in changes if "unexpected change of shape" in c.summary]
    assert {c.category for c in shape_changes} == {"other"}
    assert {c.path for c in shape_changes} == {
        "protocolSection.statusModule",
        "protocolSection.contactsLocationsModule.locations",
    }
    assert diff_records(broken, study)  # and back again
    assert diff_records({}, {"protocolSection": None}) == []
    assert diff_records({"protocolSection": {}}, {"hasResults": None}) == []
    no_protocol = {k: v for k, v in study.items() if k != "protocolSection"}
    assert all(c.category in CATEGORIES for c in diff_records(study, no_protocol))


# --- the real captured versions (ctgov/README.md) --------------------------------------------


def _check_NCT04514484(pairs: list[list[FieldChange]]) -> None:
    first = {c.category: c for c in pairs[0] if c.category != "dates"}
    assert first["enrollment"].summary == "enrollment: 18 (ESTIMATED) -> 8 (ACTUAL)"
    assert "primary completion: 2025-11-02 (ESTIMATED) -> 2025-11-02 (ACTUAL)" in summaries(
        pairs[0]
    )
    assert "completion: 2025-11-02 -> 2027-02-04 (slipped 459 days, ~15 months)" in summaries(
        pairs[0]
    )
    assert "status verified: 2025-10 -> 2026-02" in summaries(pairs[0])
    assert len(pairs[0]) == 4
    assert summaries(pairs[1]) == [
        "primary completion: 2025-11-02 -> 2024-11-11 (moved earlier by 356 days, ~12 months)",
        "completion: 2027-02-04 -> 2027-02-06 (slipped 2 days)",
    ]
    assert pairs[2:] == [[], [], []]  # last-update dates only


def _check_NCT05414032(pairs: list[list[FieldChange]]) -> None:
    (changes,) = pairs
    text = summaries(changes)
    assert "enrollment: 200 -> 102 (-49%)" in text
    assert "primary completion: 2026-07 -> 2027-09 (slipped 14 months)" in text
    assert "completion: 2026-07 -> 2028-07 (slipped 24 months)" in text
    assert "arm added: MRD positive and/or radiological/clinical progression Cohort" in text
    assert "arm removed: MRD positive Cohort - Arm A (treatment)" in text
    assert "collaborator added: Personalis Inc." in text
    assert any(c.path.endswith("descriptionModule.detailedDescription") for c in changes)
    assert {c.category for c in changes} == {
        "enrollment", "dates", "arms", "interventions", "sponsor", "other",
    }  # fmt: skip


def _check_NCT06821503(pairs: list[list[FieldChange]]) -> None:
    (changes,) = pairs
    assert changes[0].summary == "status: NOT_YET_RECRUITING -> RECRUITING"
    assert "start: 2025-02 (ESTIMATED) -> 2025-04-11 (ACTUAL) (slipped 2 months)" in summaries(
        changes
    )
    crit = [c for c in changes if c.category == "eligibility"]
    assert [c.path.rsplit(".", 1)[-1] for c in crit] == ["inclusion[8]", "inclusion[9]"]
    sites = [c for c in changes if c.category == "sites"]
    assert len(sites) == 16 and all(c.path.endswith(".status") for c in sites)
    assert "eligibility: 2 inclusion criteria changed" in summarise(changes)


def _check_NCT06754501(pairs: list[list[FieldChange]]) -> None:
    (changes,) = pairs
    status = next(c for c in changes if c.category == "status")
    assert (status.old, status.new, status.severity) == (
        "RECRUITING",
        "ACTIVE_NOT_RECRUITING",
        "high",
    )
    enrollment = next(c for c in changes if c.category == "enrollment")
    assert enrollment.old == {"count": 35, "type": "ESTIMATED"}
    assert enrollment.new == {"count": 4, "type": "ACTUAL"}
    assert "central contact removed: Ryan Huey, MD (CONTACT)" in summaries(changes)
    assert any(c.category == "sites" and c.path.endswith(".status") for c in changes)
    assert any("expandedAccessInfo" in c.path for c in changes)


def _check_NCT05294952(pairs: list[list[FieldChange]]) -> None:
    (changes,) = pairs
    assert summaries(changes) == [
        "status: NOT_YET_RECRUITING -> UNKNOWN",
        "last known status: (none) -> NOT_YET_RECRUITING",
    ]


def _check_NCT05280470(pairs: list[list[FieldChange]]) -> None:
    (changes,) = pairs
    by_cat = {c.category for c in changes}
    assert by_cat == {"dates", "arms", "other"}
    arm = next(c for c in changes if c.category == "arms")
    assert arm.path.endswith("armGroups[Ifinatamab Deruxtecan (12 mg/kg)].description")
    assert "results delay request first posted: (none) -> 2026-02-20 (ACTUAL)" in summaries(changes)


def _check_NCT06657144(pairs: list[list[FieldChange]]) -> None:
    assert summaries(pairs[0]) == [
        "status verified: 2026-01 -> 2026-02",
        "site added: E-Da Cancer Hospital, Kaohsiung City, Taiwan",
    ]
    assert sorted(summaries(pairs[1]))[1:] == [
        "site added: Changhua Christian Hospital, Chang-hua, Taiwan",
        "site added: Icahn School of Medicine at Mount Sinai, New York, United States",
    ]
    contact = next(c for c in pairs[1] if c.severity == "low")
    assert (contact.old, contact.new) == ("702-952-3406", "702-487-9428")
    assert summaries(pairs[2]) == ["site added: Mackay Memorial Hospital, Taipei, Taiwan"]


def _check_NCT04736173(pairs: list[list[FieldChange]]) -> None:
    (changes,) = pairs
    assert {c.category for c in changes} == {"sites"}
    kinds = [c.summary.split(":", 1)[0] for c in changes]
    assert (kinds.count("site added"), kinds.count("site removed")) == (6, 42)
    # The registry respelled one site (same city, no zip): one site renamed, not two sites.
    (renamed,) = [c for c in changes if c.path.endswith(".facility")]
    assert (renamed.old, renamed.new) == (
        "Metro Davao Medical and Research Centre",
        "Metro Davao Medical And Research Center Inc.",
    )
    assert renamed.severity == "low"


def _check_NCT05009069(pairs: list[list[FieldChange]]) -> None:
    change = one(pairs[0])
    assert (change.category, change.summary) == ("other", "reference added: PMID 41529226")
    assert change.new["pmid"] == "41529226"


def _check_NCT05329766(pairs: list[list[FieldChange]]) -> None:
    (changes,) = pairs
    assert len(changes) <= 1
    assert all(c.severity == "low" and c.path.endswith("statusVerifiedDate") for c in changes)


def _check_NCT06825494(pairs: list[list[FieldChange]]) -> None:
    assert pairs == [[]]


def _check_NCT04457778(pairs: list[list[FieldChange]]) -> None:
    assert summaries(pairs[0]) == [
        "unposted event added: RELEASE 2026-01-23",
        "unposted event added: RESET 2026-02-09",
    ]
    assert {c.path.split(".")[0] for c in pairs[0]} == {"annotationSection"}
    assert pairs[1] == []  # submission tracking lives in derivedSection


def _check_NCT06778603(pairs: list[list[FieldChange]]) -> None:
    assert pairs == [[]]


EXPECTED = {
    name.removeprefix("_check_"): fn
    for name, fn in globals().items()
    if name.startswith("_check_NCT")
}


def test_every_versions_study_has_expectations() -> None:
    folder = samples_dir() / "versions"
    studies = {p.name for p in folder.iterdir() if len(list(p.glob("*.json"))) >= 2}
    assert studies == set(EXPECTED)


@pytest.mark.parametrize("nct_id", sorted(EXPECTED))
def test_real_versions_match_the_readme(nct_id: str) -> None:
    captures = versions(nct_id)
    pairs = [diff_records(a, b) for a, b in zip(captures, captures[1:], strict=False)]
    EXPECTED[nct_id](pairs)


# --- summarise -------------------------------------------------------------------------------


def test_summarise_folds_long_runs_and_keeps_order() -> None:
    old, new = versions("NCT04736173")
    lines = summarise(diff_records(old, new))
    assert len(lines) == 3
    assert lines[0].startswith(
        "site added (6): John B. Amos Cancer Center, Columbus, United States;"
    )
    assert lines[0].endswith("; and 3 more")
    assert lines[1].startswith("site changed: Metro Davao Medical And Research Center Inc.")
    assert lines[2].startswith("site removed (42): ") and lines[2].endswith("; and 39 more")


def test_summarise_example_lines() -> None:
    old, new = versions("NCT06754501")
    lines = summarise(diff_records(old, new))
    assert lines[:2] == [
        "status: RECRUITING -> ACTIVE_NOT_RECRUITING",
        "enrollment: 35 (ESTIMATED) -> 4 (ACTUAL)",
    ]


def test_summarise_works_on_changes_rebuilt_from_dicts(study: dict[str, Any]) -> None:
    old = with_criteria(study, CRITERIA)
    new = with_criteria(study, CRITERIA.replace("* Pregnancy", "* Pregnancy\n* HIV\n* HBV"))
    changes = diff_records(old, new)
    rebuilt = [FieldChange(**orjson.loads(orjson.dumps(c.to_dict()))) for c in changes]
    assert summarise(rebuilt) == ["eligibility: 2 exclusion criteria added"]


def test_samples_path_is_the_shared_folder() -> None:
    assert (samples_dir() / "versions").is_dir()
    assert isinstance(samples_dir(), Path)


# -- one normaliser: the diff compares text in the form the hash does ------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("*Primary* endpoint: ORR", "Primary endpoint: ORR"),  # emphasis is formatting
        ("See [the protocol](https://example.org/p)", "See the protocol (https://example.org/p)"),
        ("<p>One.</p><p>Two &amp; three.</p>", "One.\n\nTwo & three."),  # history HTML vs API
        ("- first\n- second", "* first\n* second"),
    ],
)
def test_text_the_hash_calls_equal_is_no_change_in_the_diff(before: str, after: str) -> None:
    old = make_study("NCT90000002")
    old["protocolSection"]["descriptionModule"] = {"briefSummary": before}
    new = copy.deepcopy(old)
    new["protocolSection"]["descriptionModule"]["briefSummary"] = after
    assert record.content_hash(old) == record.content_hash(new)
    assert diff_records(old, new) == []
    # With a real change beside it, that change alone is reported, not the reformatted text.
    new["protocolSection"]["identificationModule"]["briefTitle"] = "Another title"
    assert [c.path for c in diff_records(old, new)] == [
        "protocolSection.identificationModule.briefTitle"
    ]
