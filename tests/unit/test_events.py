"""Events over typed changes: real version pairs, constructed large-site updates, site renames."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from models import Change as ChangeRow
from sync.core.diff.walk import FieldChange, diff_records
from sync.core.events import KINDS, Event, build_events, classify
from sync.testing.big_update import RENAMED, largest_update, statuses_set
from sync.testing.factory import load_sample, samples_dir


def versions(nct_id: str) -> list[dict[str, Any]]:
    folder = samples_dir() / "versions" / nct_id
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def real_pairs() -> list[tuple[str, list[FieldChange]]]:
    out = []
    for folder in sorted((samples_dir() / "versions").iterdir()):
        docs = versions(folder.name)
        for i, (old, new) in enumerate(zip(docs, docs[1:], strict=False), start=2):
            out.append((f"{folder.name} v{i}", diff_records(old, new)))
    return out


def events_of(old: dict[str, Any], new: dict[str, Any]) -> list[Event]:
    return build_events(diff_records(old, new))


def by_kind(events: list[Event]) -> dict[str, Event]:
    kinds = [e.kind for e in events]
    assert len(set(kinds)) == len(kinds) or "routine" in kinds, kinds
    return {e.kind: e for e in events}


def ps(study: dict[str, Any]) -> dict[str, Any]:
    section: dict[str, Any] = study["protocolSection"]
    return section


def check_partition(changes: list[Any], events: list[Event]) -> None:
    members = sorted(i for e in events for i in e.members)
    assert members == list(range(len(changes)))  # each change in exactly one event
    for e in events:
        assert e.count == len(e.members) > 0
        assert e.kind in KINDS and e.importance in ("high", "medium", "low")
        assert {changes[i].category for i in e.members} == {e.category}
        assert e.summary and "\n" not in e.summary and len(e.summary) <= 200
        assert set(e.to_dict()) == {"kind", "category", "importance", "summary", "count"}
    ranks = [("high", "medium", "low").index(e.importance) for e in events]
    assert ranks == sorted(ranks)  # most important first


# --- real pairs ---------------------------------------------------------------------------


def test_every_real_pair_partitions_into_ranked_events() -> None:
    pairs = real_pairs()
    assert len(pairs) >= 20
    for _, changes in pairs:
        check_partition(changes, build_events(changes))


def test_stored_rows_give_the_same_events() -> None:
    # Events are computed from stored changes: a row read back gives what the diff gave.
    for label, changes in real_pairs():
        rows = [ChangeRow(trial_id=1, from_version=1, to_version=2, **c.to_dict()) for c in changes]
        assert build_events(rows) == build_events(changes), label


def test_real_key_changes_surface_as_events() -> None:
    docs = versions("NCT06754501")
    e = by_kind(events_of(docs[0], docs[1]))
    assert e["status"].importance == "high"
    assert e["status"].summary == "recruitment closed: RECRUITING -> ACTIVE_NOT_RECRUITING"
    assert e["enrollment"].importance == "high"
    assert e["enrollment"].summary == "enrollment now actual: 4 (target was 35) (-89%)"

    docs = versions("NCT05414032")
    e = by_kind(events_of(docs[0], docs[1]))
    assert e["enrollment"].summary == "enrollment target: 200 -> 102 (-49%)"
    assert e["dates"].importance == "high"  # primary completion slipped 14 months
    assert e["dates"].summary.startswith("primary completion: 2026-07 -> 2027-09 (slipped 14")
    assert e["arms"].count == 3 and e["sponsor"].summary == "collaborator added: Personalis Inc."

    docs = versions("NCT06821503")
    e = by_kind(events_of(docs[0], docs[1]))
    assert e["status"].summary == "recruitment opened: NOT_YET_RECRUITING -> RECRUITING"
    assert e["eligibility"].summary == "eligibility: 2 inclusion criteria changed"
    assert e["sites_opened"].summary == (
        "site now recruiting: Beijing Cancer Hospital, Beijing, China"
    )
    assert e["dates"].summary.startswith("start: 2025-02 (ESTIMATED) -> 2025-04-11 (ACTUAL)")

    docs = versions("NCT04736173")
    e = by_kind(events_of(docs[0], docs[1]))
    assert e["sites_removed"].summary.startswith("42 sites removed: South Korea 12,")
    assert e["sites_added"].count == 6
    assert e["sites_renamed"].importance == "low" and e["sites_renamed"].count == 1


def test_routine_only_versions_are_low() -> None:
    for nct in ("NCT05009069", "NCT04457778", "NCT06825494", "NCT05329766"):
        docs = versions(nct)
        for old, new in zip(docs, docs[1:], strict=False):
            events = events_of(old, new)
            assert all(e.importance == "low" for e in events), [e.summary for e in events]
    old = load_sample("records/NCT05280470.json")
    new = copy.deepcopy(old)
    ps(new)["statusModule"]["statusVerifiedDate"] = "2099-01"
    (event,) = events_of(old, new)
    assert (event.kind, event.category, event.importance) == ("routine", "dates", "low")
    assert event.summary.startswith("status verified: ")


# --- rules on constructed updates --------------------------------------------------------


@pytest.fixture
def base() -> dict[str, Any]:
    return load_sample("records/NCT05280470.json")


def _status(study: dict[str, Any], status: str, why: str | None = None) -> dict[str, Any]:
    out = copy.deepcopy(study)
    ps(out)["statusModule"]["overallStatus"] = status
    if why:
        ps(out)["statusModule"]["whyStopped"] = why
    return out


@pytest.mark.parametrize(
    ("old", "new", "importance", "start"),
    [
        ("RECRUITING", "SUSPENDED", "high", "recruitment closed: RECRUITING -> SUSPENDED"),
        ("ACTIVE_NOT_RECRUITING", "TERMINATED", "high", "status: ACTIVE_NOT_RECRUITING -> TERM"),
        ("RECRUITING", "ACTIVE_NOT_RECRUITING", "high", "recruitment closed"),
        ("ACTIVE_NOT_RECRUITING", "RECRUITING", "medium", "recruitment reopened"),
        ("ACTIVE_NOT_RECRUITING", "COMPLETED", "medium", "status: "),
    ],
)
def test_status_importance(base, old: str, new: str, importance: str, start: str) -> None:  # type: ignore[no-untyped-def]
    why = "Sponsor decision." if new in ("SUSPENDED", "TERMINATED") else None
    (event,) = [e for e in events_of(_status(base, old), _status(base, new, why)) if
                e.kind == "status"]  # fmt: skip
    assert event.importance == importance and event.summary.startswith(start)
    if why:
        assert event.summary.endswith("(why stopped: Sponsor decision.)") and event.count == 2


@pytest.mark.parametrize(
    ("old", "new", "importance"),
    [((100, "ESTIMATED"), (80, "ESTIMATED"), "high"), ((100, "ESTIMATED"), (90, "ESTIMATED"),
     "medium"), ((100, "ESTIMATED"), (150, "ESTIMATED"), "medium"),
     ((100, "ESTIMATED"), (60, "ACTUAL"), "high")],
)  # fmt: skip
def test_enrollment_cut_of_20_percent_is_high(base, old, new, importance) -> None:  # type: ignore[no-untyped-def]
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    ps(a)["designModule"]["enrollmentInfo"] = {"count": old[0], "type": old[1]}
    ps(b)["designModule"]["enrollmentInfo"] = {"count": new[0], "type": new[1]}
    (event,) = [e for e in events_of(a, b) if e.kind == "enrollment"]
    assert event.importance == importance
    pct = round((new[0] - old[0]) / old[0] * 100)
    assert f"({pct:+d}%)" in event.summary


@pytest.mark.parametrize(("new", "importance"), [("2027-04", "high"), ("2027-03", "medium"),
                                                 ("2026-10", "medium")])  # fmt: skip
def test_primary_completion_slip_of_3_months_is_high(base, new: str, importance: str) -> None:  # type: ignore[no-untyped-def]
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    ps(a)["statusModule"]["primaryCompletionDateStruct"] = {"date": "2027-01", "type": "ESTIMATED"}
    ps(b)["statusModule"]["primaryCompletionDateStruct"] = {"date": new, "type": "ESTIMATED"}
    (event,) = [e for e in events_of(a, b) if e.kind == "dates"]
    assert event.importance == importance and event.summary.startswith("primary completion: ")


def test_eligibility_design_outcomes_sponsor_results_titles(base) -> None:  # type: ignore[no-untyped-def]
    new = copy.deepcopy(base)
    p = ps(new)
    p["eligibilityModule"]["minimumAge"] = "12 Years"
    p["eligibilityModule"]["healthyVolunteers"] = True
    p["designModule"]["phases"] = ["PHASE3"]
    p["outcomesModule"]["primaryOutcomes"][0]["measure"] = "Overall survival at 5 years"
    p["sponsorCollaboratorsModule"]["leadSponsor"]["name"] = "Another Pharma Inc."
    p["identificationModule"]["briefTitle"] = "A new brief title"
    new["resultsSection"] = {"participantFlowModule": {"groups": [{"id": "FG000"}]}}
    e = by_kind(events_of(base, new))
    assert e["eligibility"].importance == "medium" and "minimum age" in e["eligibility"].summary
    assert e["eligibility"].count == 2
    assert e["design"].summary.startswith("phases: ")
    # Another outcome in place of the registered one, after the start: an outcome switch.
    assert e["outcome_switch"].importance == "high"
    assert e["outcome_switch"].summary.startswith("outcome switch: new primary outcome: ")
    assert e["sponsor"].importance == "high"
    assert e["results"].importance == "high" and e["results"].summary.startswith("results posted")
    assert e["titles"].summary.startswith("brief title") and e["titles"].importance == "medium"
    highs = [x.kind for x in build_events(diff_records(base, new)) if x.importance == "high"]
    assert highs == ["outcome_switch", "results", "sponsor"]


# --- large sites: 1,148 of them -----------------------------------------------------------


def test_every_site_status_set_on_1148_sites_is_two_events() -> None:
    old, new = statuses_set()
    changes = diff_records(old, new)
    assert len(changes) == 1148
    events = build_events(changes)
    check_partition(changes, events)
    e = by_kind(events)
    assert set(e) == {"sites_opened", "sites_closed"}
    assert e["sites_opened"].summary == "659 sites now recruiting: United States 659"
    assert e["sites_closed"].count == 489
    assert e["sites_closed"].summary.startswith(
        "489 sites closed to recruitment ((none) -> SUSPENDED 393, (none) -> ACTIVE_NOT_RECRUITING"
    )


def test_largest_update_keeps_what_matters_on_top() -> None:
    old, new = largest_update()
    changes = diff_records(old, new)
    assert len(changes) > 3000
    events = build_events(changes)
    check_partition(changes, events)
    assert [e.kind for e in events] == [
        "status", "eligibility", "sites_opened", "sites_closed", "sites_renamed", "routine",
    ]  # fmt: skip
    e = by_kind(events)
    assert e["status"].summary == "recruitment reopened: ACTIVE_NOT_RECRUITING -> RECRUITING"
    assert e["sites_renamed"].count == RENAMED and e["sites_renamed"].importance == "low"
    assert e["routine"].summary == "contacts: 1,914 added"


def test_top_countries_are_counted() -> None:
    rows = [
        FieldChange("sites", f"protocolSection.contactsLocationsModule.locations[S{i}|C|{country}]"
               ".status", None, "RECRUITING", "site status", "medium")
        for i, country in enumerate(["United States"] * 5 + ["Japan"] * 3 + ["Spain"] * 2 +
                                    ["France"])
    ]  # fmt: skip
    (event,) = build_events(rows)
    assert event.summary == "11 sites now recruiting: United States 5, Japan 3, Spain 2, …"


# --- site renames -------------------------------------------------------------------------


def _with_sites(study: dict[str, Any], sites: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(study)
    ps(out).setdefault("contactsLocationsModule", {})["locations"] = sites
    return out


def _site(facility: str, city: str, zip_: str | None, country: str = "Italy") -> dict[str, Any]:
    site = {"facility": facility, "city": city, "country": country, "status": "RECRUITING"}
    if zip_:
        site["zip"] = zip_
    return site


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (_site("Azienda Ospedaliera dei Colli", "Napoli", "80131"),
         _site("Azienda Ospedaliera dei Colli", "Naples", "80131")),
        (_site("Istituto Oncologico Veneto IOV - IRCCS", "Padua", "35128"),
         _site("Istituto Oncologico Veneto IOV - IRCCS", "Padova", "35128")),
        (_site("Hospital Universitário de São Paulo", "São Paulo", None, "Brazil"),
         _site("Hospital UniversitÃ¡rio de SÃ£o Paulo", "SÃ£o Paulo", None, "Brazil")),
        (_site("Centre Hospitalier Lyon-Sud", "Pierre-Bénite", "69495", "France"),
         _site("Centre Hospitalier Lyon Sud", "Pierre Benite", "69495", "France")),
    ],
)  # fmt: skip
def test_renamed_site_pairs_as_one_site(base, old, new) -> None:  # type: ignore[no-untyped-def]
    keep = _site("Ospedale San Raffaele", "Milano", "20132")
    changes = diff_records(_with_sites(base, [keep, old]), _with_sites(base, [keep, new]))
    assert changes and all(c.severity == "low" for c in changes)
    assert not [c for c in changes if c.old is None or c.new is None]  # nothing added/removed
    (event,) = build_events(changes)
    assert (event.kind, event.importance, event.count) == ("sites_renamed", "low", len(changes))
    assert event.summary.startswith("1 site renamed")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # Another country, another zip, or a new name with no zip to anchor it: not the same site.
        (_site("Ospedale Civile", "Napoli", "80131"),
         _site("Ospedale Civile", "Napoli", "80131", "Switzerland")),
        (_site("Ospedale Civile", "Napoli", "80131"), _site("Ospedale Civile", "Naples", "80138")),
        (_site("Ospedale Civile", "Napoli", None), _site("Clinica Mediterranea", "Napoli", None)),
        (_site("Ospedale Civile", "Napoli", "80131"),
         _site("Clinica Mediterranea", "Salerno", "80131")),
    ],
)  # fmt: skip
def test_other_sites_stay_added_and_removed(base, old, new) -> None:  # type: ignore[no-untyped-def]
    changes = diff_records(_with_sites(base, [old]), _with_sites(base, [new]))
    kinds = sorted(classify(c) for c in changes)
    assert kinds == ["sites_added", "sites_removed"]


def test_renamed_site_with_a_new_status_opens_and_renames(base) -> None:  # type: ignore[no-untyped-def]
    old = {**_site("Azienda Ospedaliera dei Colli", "Napoli", "80131"), "status": "SUSPENDED"}
    new = _site("Azienda Ospedaliera dei Colli", "Naples", "80131")
    events = build_events(diff_records(_with_sites(base, [old]), _with_sites(base, [new])))
    assert [e.kind for e in events] == ["sites_opened", "sites_renamed"]
    assert events[0].summary == (
        "site now recruiting: Azienda Ospedaliera dei Colli, Naples, Italy"
    )
