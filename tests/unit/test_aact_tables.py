"""AACT's tables from real API v2 records (pure: sync.aact), checked against the raw JSON."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sync.aact import forms
from sync.aact.catalog import TABLES
from sync.aact.spans import as_of, spans_of
from sync.aact.table import all_columns
from sync.testing.factory import load_sample, samples_dir

# Tables whose rows come from results (filled once the results tables are mapped).
RESULTS_ONLY: set[str] = set()


def _real_records() -> list[dict[str, Any]]:
    root = samples_dir()
    paths = sorted((root / "records").glob("*.json")) + sorted((root / "results").glob("*.json"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def _rows(name: str, study: dict[str, Any]) -> list[dict[str, Any]]:
    table = TABLES[name]
    return [dict(zip(table.names, row, strict=True)) for row in table.rows(study)]


def test_every_table_is_filled_from_real_records() -> None:
    counts = Counter[str]()
    for study in _real_records():
        for name, table in TABLES.items():
            rows = table.rows(study)
            assert all(len(r) == len(table.columns) for r in rows), name
            counts[name] += len(rows)
    empty = [n for n in TABLES if n not in RESULTS_ONLY and counts[n] == 0]
    assert not empty, f"no real record fills {empty}"


def test_month_only_dates_are_the_last_day_with_the_string_beside_them() -> None:
    study = load_sample("records/NCT04185038.json")  # completion "2041-05" ESTIMATED
    (row,) = _rows("studies", study)
    sent = study["protocolSection"]["statusModule"]["completionDateStruct"]
    assert row["completion_month_year"] == sent["date"] == "2041-05"
    assert row["completion_date"] == date(2041, 5, 31)
    assert row["completion_date_type"] == sent["type"]
    assert row["start_date"] == date(2019, 12, 11)  # a full date as it is
    assert forms.aact_date("2024-02") == date(2024, 2, 29)  # leap year
    assert forms.aact_date("2026") == date(2026, 12, 31)
    assert forms.aact_date("soon") is None


def test_codes_as_sent_phases_joined_and_aact_constants_lower_case() -> None:
    study = load_sample("records/NCT04544592.json")
    ps = study["protocolSection"]
    (row,) = _rows("studies", study)
    assert row["phase"] == "/".join(ps["designModule"]["phases"]) == "PHASE1/PHASE2"
    assert row["overall_status"] == ps["statusModule"]["overallStatus"]
    assert row["study_type"] == "INTERVENTIONAL"
    assert {r["intervention_type"] for r in _rows("interventions", study)} <= {
        i["type"] for i in ps["armsInterventionsModule"]["interventions"]
    }
    sponsors = _rows("sponsors", study)
    assert sponsors[0]["lead_or_collaborator"] == "lead"
    assert {s["lead_or_collaborator"] for s in sponsors[1:]} <= {"collaborator"}
    assert len(sponsors) == 1 + len(ps["sponsorCollaboratorsModule"].get("collaborators", []))
    mesh = Counter(r["mesh_type"] for r in _rows("browse_conditions", study))
    browse = study["derivedSection"]["conditionBrowseModule"]
    assert mesh == Counter(
        {
            "mesh-list": len(browse.get("meshes", [])),
            "mesh-ancestor": len(browse.get("ancestors", [])),
        }
    )


def test_ages_stay_text_with_numbers_in_calculated_values() -> None:
    study = load_sample("records/NCT04544592.json")  # 31 Days .. 30 Years
    (elig,) = _rows("eligibilities", study)
    (calc,) = _rows("calculated_values", study)
    assert (elig["minimum_age"], elig["maximum_age"]) == ("31 Days", "30 Years")
    assert (calc["minimum_age_num"], calc["minimum_age_unit"]) == (31, "day")
    assert (calc["maximum_age_num"], calc["maximum_age_unit"]) == (30, "year")
    no_max = load_sample("records/NCT04256421.json")
    (elig,) = _rows("eligibilities", no_max)
    (calc,) = _rows("calculated_values", no_max)
    assert elig["maximum_age"] == "N/A" and calc["maximum_age_num"] is None
    assert isinstance(elig["healthy_volunteers"], bool)


def test_calculated_values_agree_with_the_raw_record() -> None:
    study = load_sample("records/NCT04256421.json")  # results, 121 sites
    ps = study["protocolSection"]
    (calc,) = _rows("calculated_values", study)
    sites = ps["contactsLocationsModule"]["locations"]
    assert calc["number_of_facilities"] == len(sites) == len(_rows("facilities", study))
    assert calc["has_us_facility"] is any(s.get("country") == "United States" for s in sites)
    assert calc["number_of_primary_outcomes_to_measure"] == len(
        ps["outcomesModule"]["primaryOutcomes"]
    )
    serious = study["resultsSection"]["adverseEventsModule"]["seriousEvents"]
    assert calc["number_of_sae_subjects"] == sum(
        s.get("numAffected", 0) for e in serious for s in e.get("stats", [])
    )
    assert calc["were_results_reported"] is True
    assert calc["registered_in_calendar_year"] == int(
        ps["statusModule"]["studyFirstSubmitDate"][:4]
    )


def test_site_contacts_and_investigators_split_by_role_with_their_site() -> None:
    for study in _real_records():
        sites = study["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
        people = [c for s in sites for c in s.get("contacts", [])]
        investigators = _rows("facility_investigators", study)
        contacts = _rows("facility_contacts", study)
        assert len(investigators) + len(contacts) == len(people)
        for row in contacts:
            assert row["contact_type"] in ("primary", "backup")
        for row in investigators:
            assert "INVESTIGATOR" in row["role"] or "CHAIR" in row["role"]


def test_the_dictionary_describes_every_table_and_column() -> None:
    undescribed = [
        f"{t.name}.{c.name}"
        for t in TABLES.values()
        for c in all_columns(t)
        if len(c.about.strip()) < 8
    ]
    assert not undescribed, f"columns without a description: {undescribed}"
    assert all(t.about.strip() for t in TABLES.values())
    # Every column read from the record names its API path.
    unsourced = [
        f"{t.name}.{c.name}"
        for t in TABLES.values()
        for c in t.columns
        if not c.source and "AACT" not in c.aact and c.name != "nlm_download_date"
    ]
    assert not unsourced, f"columns without their API path: {unsourced}"


# -- spans over real successive versions ---------------------------------------------------------


def _captures(nct_id: str) -> list[tuple[date, dict[str, Any]]]:
    folder: Path = samples_dir() / "versions" / nct_id
    out = []
    for p in sorted(folder.glob("*.json")):
        study = json.loads(p.read_text(encoding="utf-8"))
        posted = study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
        out.append((date.fromisoformat(posted), study))
    return out


@pytest.mark.parametrize("nct_id", ["NCT04514484", "NCT06657144", "NCT06821503", "NCT04736173"])
def test_spans_give_each_versions_rows_on_its_dates_and_hold_unchanged_rows_once(
    nct_id: str,
) -> None:
    caps = _captures(nct_id)
    versions = [(n, when, study) for n, (when, study) in enumerate(caps, start=1)]
    spans = spans_of(nct_id, versions, TABLES)
    for when, _ in caps:
        in_force = [s for d, s in caps if d <= when][-1]
        for name, table in TABLES.items():
            if table.refs:
                continue  # their references are ids: the export test resolves them
            assert Counter(as_of(spans[name], when)) == Counter(table.rows(in_force)), (name, when)
    first = caps[0][0]
    assert all(as_of(spans[n], date.fromordinal(first.toordinal() - 1)) == [] for n in TABLES)
    # A row unchanged over all versions is one span, not one per version.
    total = sum(len(table.rows(s)) for _, s in caps for table in TABLES.values())
    assert sum(len(v) for v in spans.values()) < total
    for name, found in spans.items():
        for span in found:
            assert span.to_version is None or span.to_version >= span.from_version, name


def test_the_dictionary_page_is_generated_from_the_same_source() -> None:
    from sync.aact.dictionary import render
    from tests.support import PROJECT_ROOT

    page = (PROJECT_ROOT / "docs" / "reference" / "aact.md").read_text(encoding="utf-8")
    assert page == render(), "regenerate: python -m sync.aact.dictionary > docs/reference/aact.md"
    for table in TABLES.values():
        assert f"## `{table.name}`" in page


def test_results_tables_agree_with_the_raw_results() -> None:
    for study in _real_records():
        results = study.get("resultsSection")
        if not results:
            assert all(not TABLES[n].rows(study) for n in ("outcomes", "result_groups"))
            continue
        groups = TABLES["result_groups"].rows(study)
        for name, table in TABLES.items():
            for column, target in table.refs.items():
                if target != "result_groups":
                    continue
                i = table.names.index(column)
                code = table.names.index("ctgov_group_code")
                for row in table.rows(study):  # each refers to its own group, by code
                    assert row[i] is not None and groups[row[i]][0] == row[code], name
        flow = results.get("participantFlowModule", {})
        started = [
            int(a["numSubjects"])
            for p in flow.get("periods", [])
            for m in p.get("milestones", [])
            if m.get("type") == "STARTED"
            for a in m.get("achievements", [])
        ]
        got = [r["count"] for r in _rows("milestones", study) if r["title"] == "STARTED"]
        assert got == started
        measures = results.get("outcomeMeasuresModule", {}).get("outcomeMeasures", [])
        values = [
            m.get("value")
            for o in measures
            for c in o.get("classes", [])
            for cat in c.get("categories", [])
            for m in cat.get("measurements", [])
        ]
        assert [r["param_value"] for r in _rows("outcome_measurements", study)] == values
        events = results.get("adverseEventsModule", {})
        affected = sum(
            s.get("numAffected", 0) for e in events.get("seriousEvents", []) for s in e["stats"]
        )
        serious = [r for r in _rows("reported_events", study) if r["event_type"] == "serious"]
        assert sum(r["subjects_affected"] or 0 for r in serious) == affected
        totals = {
            (r["ctgov_group_code"], r["event_type"]): r["subjects_affected"]
            for r in _rows("reported_event_totals", study)
        }
        for g in events.get("eventGroups", []):
            assert totals[(g["id"], "deaths")] == g.get("deathsNumAffected")
