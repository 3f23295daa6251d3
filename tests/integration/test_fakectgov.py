"""Tests of the fake ClinicalTrials.gov and the record factory, over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

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
from sync.testing.fakectgov import FakeRegistry, serve


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with serve() as registry:
        yield registry


@pytest.fixture
def http(fake: FakeRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=5) as client:
        yield client


def ids_of(payload: dict[str, Any]) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in payload["studies"]]


def seed(fake: FakeRegistry, n: int, **kwargs: Any) -> list[str]:
    ids = [nct(i) for i in range(1, n + 1)]
    for i in ids:
        fake.put(make_study(i, **kwargs))
    return ids


def assert_text_error(r: httpx.Response, status: int, contains: str = "") -> None:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert contains in r.text


# -- /version and the registry's own API ------------------------------------------------------


def test_version_reports_the_data_timestamp(fake: FakeRegistry, http: httpx.Client) -> None:
    r = http.get("/version")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"apiVersion": "2.0.5", "dataTimestamp": fake.data_timestamp}
    fake.set_data_timestamp("2026-11-20T09:00:03")
    assert fake.bump() == "2026-11-21T09:00:03"
    assert http.get("/version").json()["dataTimestamp"] == "2026-11-21T09:00:03"
    assert fake.data_timestamp == "2026-11-21T09:00:03"
    with pytest.raises(ValueError):
        fake.set_data_timestamp("2026-11-20 09:00")


def test_put_get_delete_copy_the_record(fake: FakeRegistry) -> None:
    study = make_study(nct(1))
    fake.put(study)
    study["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    got = fake.get(nct(1).lower())
    assert got is not None
    assert got["protocolSection"]["statusModule"]["overallStatus"] == "RECRUITING"
    got["hasResults"] = True
    assert fake.get(nct(1))["hasResults"] is False  # type: ignore[index]
    fake.delete(nct(1))
    assert fake.get(nct(1)) is None


def test_request_log_and_count(fake: FakeRegistry, http: httpx.Client) -> None:
    seed(fake, 1)
    http.get("/version")
    http.get(f"/studies/{nct(1)}", params={"format": "json"})
    http.get("/studies/NCT99999999")
    assert [(r.method, r.path, r.status) for r in fake.requests] == [
        ("GET", "/api/v2/version", 200),
        ("GET", f"/api/v2/studies/{nct(1)}", 200),
        ("GET", "/api/v2/studies/NCT99999999", 404),
    ]
    assert fake.requests[1].params == {"format": "json"}
    assert fake.count() == 3
    assert fake.count("/api/v2/studies") == 2
    fake.reset_requests()
    assert fake.count() == 0 and fake.requests == []


# -- single records ------------------------------------------------------------------------


def test_single_study_and_error_shapes(fake: FakeRegistry, http: httpx.Client) -> None:
    study = make_study(nct(1))
    fake.put(study)
    r = http.get(f"/studies/{nct(1)}", params={"format": "json", "markupFormat": "markdown"})
    assert r.status_code == 200 and r.json() == study

    assert_text_error(http.get("/studies/NCT99999999"), 404, "NCT number NCT99999999 not found")
    assert_text_error(http.get("/studies/NCT123X"), 400, "Incorrect format of NCT number")
    assert_text_error(http.get("/studies/12345678"), 400)
    assert_text_error(http.get(f"/studies/{nct(1)}", params={"pageSize": "5"}), 400, "pageSize")
    assert_text_error(http.get(f"/studies/{nct(1)}", params={"markupFormat": "rtf"}), 400)
    assert_text_error(http.get("/nowhere"), 404)


def test_alias_redirects_and_batches_answer_with_the_target(
    fake: FakeRegistry, http: httpx.Client
) -> None:
    old, new = nct(9), nct(1)
    fake.put(make_study(old))
    fake.put(make_study(new))
    fake.alias(old, new)

    r = http.get(f"/studies/{old}", params={"format": "json"})
    assert r.status_code == 301
    assert r.headers["Location"] == f"/api/v2/studies/{new}?format=json"
    followed = http.get(f"/studies/{old}", follow_redirects=True)
    assert followed.status_code == 200
    ident = followed.json()["protocolSection"]["identificationModule"]
    assert ident["nctId"] == new and ident["nctIdAliases"] == [old]

    # filter.ids is searched in NCTId and NCTIdAlias (spec): OLD's own record is gone.
    batch = http.get("/studies", params={"filter.ids": f"{old}|{nct(2)}"}).json()
    assert ids_of(batch) == [new]
    fake.ids_match_aliases = False
    assert ids_of(http.get("/studies", params={"filter.ids": old}).json()) == []

    fake.put(make_study(old))  # a record of its own again: no more redirect
    assert http.get(f"/studies/{old}").status_code == 200


# -- searches -----------------------------------------------------------------------------------


def test_filter_ids_with_pipes_commas_and_spaces(fake: FakeRegistry, http: httpx.Client) -> None:
    ids = seed(fake, 5)
    r = http.get("/studies", params={"filter.ids": f"{ids[3]}|{ids[0]}"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert ids_of(r.json()) == [ids[0], ids[3]]
    r = http.get("/studies", params={"filter.ids": f" {ids[1]}, {ids[4].lower()} ,NCT99999999"})
    assert ids_of(r.json()) == [ids[1], ids[4]]
    assert "nextPageToken" not in r.json()
    assert_text_error(http.get("/studies", params={"filter.ids": "NCT1234567X"}), 400)


def test_unknown_parameter_is_400(fake: FakeRegistry, http: httpx.Client) -> None:
    seed(fake, 1)
    assert http.get("/studies", params={"query.term": "cancer"}).status_code == 200
    assert_text_error(http.get("/studies", params={"filter.phase": "PHASE2"}), 400, "filter.phase")
    assert_text_error(http.get("/studies", params={"limit": "5"}), 400)
    assert_text_error(http.get("/studies", params={"format": "xml"}), 400)
    assert_text_error(http.get("/studies", params={"countTotal": "yes"}), 400)
    assert_text_error(http.get("/studies", params={"pageSize": "ten"}), 400)


def test_overall_status_filter(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.put(make_study(nct(1), status="RECRUITING"))
    fake.put(make_study(nct(2), status="COMPLETED"))
    fake.put(make_study(nct(3), status="WITHDRAWN"))
    for value in ("RECRUITING|COMPLETED", "RECRUITING, COMPLETED"):
        r = http.get("/studies", params={"filter.overallStatus": value})
        assert ids_of(r.json()) == [nct(1), nct(2)]
    r = http.get("/studies", params={"postFilter.overallStatus": "WITHDRAWN"})
    assert ids_of(r.json()) == [nct(3)]
    r = http.get("/studies", params={"filter.overallStatus": "RECRUITING,OPEN"})
    assert_text_error(r, 400, "OPEN")


def test_paging_over_three_pages(fake: FakeRegistry, http: httpx.Client) -> None:
    ids = seed(fake, 5)
    params = {"filter.ids": "|".join(ids), "pageSize": "2", "countTotal": "true"}
    first = http.get("/studies", params=params).json()
    assert ids_of(first) == ids[:2] and first["totalCount"] == 5
    assert list(first) == ["studies", "totalCount", "nextPageToken"]

    params["pageToken"] = first["nextPageToken"]
    second = http.get("/studies", params=params).json()
    assert ids_of(second) == ids[2:4]
    assert "totalCount" not in second

    params["pageToken"] = second["nextPageToken"]
    params["pageSize"] = "3"  # may change between pages, like countTotal
    del params["countTotal"]
    third = http.get("/studies", params=params).json()
    assert ids_of(third) == ids[4:]
    assert "nextPageToken" not in third and "totalCount" not in third

    changed = {**params, "pageToken": first["nextPageToken"], "query.term": "cancer"}
    assert_text_error(http.get("/studies", params=changed), 400, "pageToken")
    dropped = {"pageSize": "2", "pageToken": first["nextPageToken"]}
    assert_text_error(http.get("/studies", params=dropped), 400, "pageToken")
    garbage = {**params, "pageToken": "not-a-token"}
    assert_text_error(http.get("/studies", params=garbage), 400, "pageToken")


def test_page_size_default_and_clamp(fake: FakeRegistry, http: httpx.Client) -> None:
    seed(fake, 12)
    default = http.get("/studies").json()
    assert len(default["studies"]) == 10 and "nextPageToken" in default
    assert "totalCount" not in default
    big = http.get("/studies", params={"pageSize": "5000"}).json()
    assert len(big["studies"]) == 12 and "nextPageToken" not in big
    assert len(http.get("/studies", params={"pageSize": "0"}).json()["studies"]) == 10


def test_last_update_range(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.put(make_study(nct(1), last_update="2026-01-10", phases=["PHASE1"]))
    fake.put(make_study(nct(2), last_update="2026-02-01", phases=["PHASE2"]))
    fake.put(make_study(nct(3), last_update="2026-03-01", phases=["PHASE1", "PHASE2"]))
    undated = make_study(nct(4))
    del undated["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]
    fake.put(undated)

    def hits(advanced: str) -> list[str]:
        r = http.get("/studies", params={"filter.advanced": advanced})
        assert r.status_code == 200, r.text
        return ids_of(r.json())

    assert hits("AREA[LastUpdatePostDate]RANGE[2026-02-01,MAX]") == [nct(2), nct(3)]
    assert hits("AREA[LastUpdatePostDate]RANGE[MIN, 2026-01-31]") == [nct(1)]
    assert hits("AREA[LastUpdatePostDate]RANGE[MIN,MAX]") == [nct(1), nct(2), nct(3)]
    assert hits("AREA[LastUpdatePostDate]RANGE[2026-01,2026-02]") == [nct(1), nct(2)]
    assert hits("AREA[Phase]PHASE2") == [nct(2), nct(3)]
    both = "AREA[LastUpdatePostDate]RANGE[2026-01-15,MAX] AND AREA[Phase]PHASE1"
    assert hits(both) == [nct(3)]
    assert hits("AREA[StudyType]INTERVENTIONAL AND AREA[OverallStatus]RECRUITING") == [
        nct(1),
        nct(2),
        nct(3),
        nct(4),
    ]
    assert hits("AREA[OverallStatus]COMPLETED") == []


@pytest.mark.parametrize(
    "advanced",
    [
        "AREA[LastUpdatePostDate]RANGE[2026-01-01,MAX",
        "AREA[LastUpdatePostDate]RANGE[2026-13-01,MAX]",
        "AREA[LastUpdatePostDate]RANGE[yesterday,MAX]",
        "AREA[LastUpdatePostDate]RANGE[2026-01-01]",
        "AREA[NoSuchField]X",
        "AREA[Phase]RANGE[PHASE1,PHASE2]",
        "(AREA[Phase]PHASE2",
        "AREA[Phase]PHASE2 AND",
        'AREA[Condition]"lung',
        "EXPANSION[None]cancer",
    ],
)
def test_unparseable_advanced_filter_is_400(
    fake: FakeRegistry, http: httpx.Client, advanced: str
) -> None:
    seed(fake, 1)
    assert_text_error(http.get("/studies", params={"filter.advanced": advanced}), 400)


def test_or_terms_match_car_nk_variants(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.put(make_study(nct(1), title="CAR NK Cells in Small Cell Lung Cancer"))
    fake.put(make_study(nct(2), title="A CAR-NK Therapy for Solid Tumours"))
    fake.put(
        make_study(
            nct(3),
            title="Allogeneic Cells in SCLC",
            interventions=[("BIOLOGICAL", "Chimeric Antigen Receptor Natural Killer cells")],
        )
    )
    fake.put(make_study(nct(4), title="CAR-T Cells in Lymphoma", conditions=["Lymphoma"]))

    def hits(name: str, value: str) -> list[str]:
        r = http.get("/studies", params={name: value})
        assert r.status_code == 200, r.text
        return ids_of(r.json())

    car_nk = '"CAR NK" OR CAR-NK OR "chimeric antigen receptor natural killer"'
    assert hits("query.term", car_nk) == [nct(1), nct(2), nct(3)]
    assert hits("query.term", car_nk.lower().replace(" or ", " OR ")) == [nct(1), nct(2), nct(3)]
    assert hits("query.intr", car_nk) == [nct(3)]
    assert hits("query.titles", car_nk) == [nct(1), nct(2)]
    # Every record here has the template's SCLC conditions: group in titles only.
    grouped = f'({car_nk} OR allogeneic) AND (SCLC OR "lung cancer")'
    assert hits("query.titles", grouped) == [nct(1), nct(3)]
    assert hits("query.term", "CAR NOT lymphoma") == [nct(1), nct(2), nct(3)]
    # Essie: AND binds tighter than OR.
    assert hits("query.term", "CAR-T OR CAR-NK AND tumours") == [nct(2), nct(4)]
    assert hits("query.cond", "lymphoma") == [nct(4)]
    assert hits("query.id", f"TW-{nct(2)}") == [nct(2)]


def test_query_areas_search_their_own_fields(fake: FakeRegistry, http: httpx.Client) -> None:
    study = make_study(nct(1), sites=[("Mayo Clinic", "Rochester", "United States")])
    study["protocolSection"]["sponsorCollaboratorsModule"]["leadSponsor"]["name"] = "Acme Bio"
    study["protocolSection"]["sponsorCollaboratorsModule"]["collaborators"] = [
        {"name": "Widget University", "class": "OTHER"}
    ]
    fake.put(study)
    fake.put(make_study(nct(2)))

    def hits(name: str, value: str) -> list[str]:
        return ids_of(http.get("/studies", params={name: value}).json())

    assert hits("query.locn", "rochester") == [nct(1)]
    assert hits("query.cond", "rochester") == []
    assert hits("query.spons", "widget university") == [nct(1)]
    assert hits("query.lead", "widget university") == []
    assert hits("query.lead", "acme") == [nct(1)]
    assert hits("query.outc", "objective response rate") == [nct(1), nct(2)]


def test_query_holding_only_ids_ignores_filters(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.put(make_study(nct(1), status="RECRUITING"))
    params = {"query.term": nct(1), "filter.overallStatus": "COMPLETED"}
    assert ids_of(http.get("/studies", params=params).json()) == [nct(1)]
    params = {"filter.ids": nct(1), "filter.overallStatus": "COMPLETED"}
    assert ids_of(http.get("/studies", params=params).json()) == []


def test_sort_by_last_update(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.put(make_study(nct(1), last_update="2026-02-01"))
    fake.put(make_study(nct(2), last_update="2026-03-01"))
    fake.put(make_study(nct(3), last_update="2026-01-01"))
    undated = make_study(nct(4))
    del undated["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]
    fake.put(undated)

    def order(sort: str) -> list[str]:
        r = http.get("/studies", params={"sort": sort})
        assert r.status_code == 200, r.text
        return ids_of(r.json())

    assert order("LastUpdatePostDate:desc") == [nct(2), nct(1), nct(3), nct(4)]
    assert order("LastUpdatePostDate") == [nct(2), nct(1), nct(3), nct(4)]  # dates: desc
    assert order("LastUpdatePostDate:asc") == [nct(3), nct(1), nct(2), nct(4)]
    assert_text_error(http.get("/studies", params={"sort": "BriefTitle"}), 400)


# -- fields= ------------------------------------------------------------------------------------


def test_fields_trim_like_the_real_api(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.put(load_sample("records/NCT02576665.json"))
    captured = load_sample("fields-subset/get_nct02576665_20260811.json")
    fields = (
        "NCTId,BriefTitle,OverallStatus,StartDate,CompletionDate,LeadSponsorName,BriefSummary,"
        "Condition,StudyType,Phase,EnrollmentCount,InterventionName,InterventionOtherName,"
        "EligibilityCriteria,Sex,MinimumAge,MaximumAge,LocationFacility,LocationCity,"
        "LocationState,LocationZip,LocationCountry,LocationGeoPoint"
    )
    r = http.get("/studies/NCT02576665", params={"fields": fields})
    assert r.status_code == 200, r.text
    got = r.json()
    # The capture is older than the record: compare all but the (since edited) criteria.
    for doc in (got, captured):
        doc["protocolSection"]["eligibilityModule"].pop("eligibilityCriteria")
    assert got == captured
    assert json.dumps(got["protocolSection"], sort_keys=False).index('"identificationModule"') < (
        json.dumps(got["protocolSection"]).index('"statusModule"')
    )


def test_fields_pieces_modules_and_errors(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.put(make_study(nct(1), start="2025-11-03"))
    r = http.get("/studies", params={"fields": "NCTId|StartDate|HasResults|EnrollmentCount"})
    assert r.json()["studies"] == [
        {
            "protocolSection": {
                "identificationModule": {"nctId": nct(1)},
                "statusModule": {"startDateStruct": {"date": "2025-11-03"}},
                "designModule": {"enrollmentInfo": {"count": 24}},
            },
            "hasResults": False,
        }
    ]
    r = http.get(f"/studies/{nct(1)}", params={"fields": "StatusModule,ConditionsModule"})
    assert set(r.json()["protocolSection"]) == {"statusModule", "conditionsModule"}
    assert r.json()["protocolSection"]["statusModule"]["startDateStruct"]["type"] == "ACTUAL"
    r = http.get("/studies", params={"fields": "InterventionName,InterventionType"})
    interventions = r.json()["studies"][0]["protocolSection"]["armsInterventionsModule"]
    assert interventions == {"interventions": [{"type": "DRUG", "name": "HS-20093"}]}
    r = http.get(f"/studies/{nct(1)}", params={"fields": "ProtocolSection"})
    assert set(r.json()) == {"protocolSection"}
    assert_text_error(http.get("/studies", params={"fields": "NCTId,Bogus"}), 400, "Bogus")
    assert_text_error(http.get("/studies", params={"fields": ""}), 400)


# -- history ------------------------------------------------------------------------------------


def test_history_endpoints_in_the_captured_shape(fake: FakeRegistry) -> None:
    capture = load_sample("history/NCT03690141.history-true.json")
    changes = capture["history"]["changes"]
    versions = {c["version"]: capture["study"] for c in changes}
    fake.put(capture["study"])
    fake.set_history("NCT03690141", changes, versions)
    with httpx.Client(base_url=fake.history_url, timeout=5) as http:
        r = http.get("/studies/NCT03690141", params={"history": "true"})
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
        doc = r.json()
        assert set(doc) == set(capture)
        assert set(doc["history"]) == set(capture["history"])
        assert doc["history"]["changes"] == changes
        assert doc["study"] == capture["study"]

        r = http.get("/studies/NCT03690141/history/3")
        assert r.json() == {"studyVersion": 3, "study": capture["study"]}
        assert_text_error(http.get("/studies/NCT03690141/history/99"), 404)
        assert_text_error(http.get("/studies/NCT03690141/history/x"), 404)
        assert_text_error(http.get("/studies/NCT99999999", params={"history": "true"}), 404)


def test_history_without_a_current_record_serves_the_last_version(fake: FakeRegistry) -> None:
    v0 = make_study(nct(1), status="NOT_YET_RECRUITING")
    v1 = with_status(v0, "RECRUITING")
    changes = [
        {"version": 0, "date": "2026-01-05", "status": "NOT_YET_RECRUITING", "moduleLabels": []},
        {"version": 1, "date": "2026-02-05", "status": "RECRUITING", "moduleLabels": ["Status"]},
    ]
    fake.set_history(nct(1), changes, {0: v0, 1: v1})
    with httpx.Client(base_url=fake.history_url, timeout=5) as http:
        doc = http.get(f"/studies/{nct(1)}", params={"history": "true"}).json()
        assert doc["study"] == v1
        assert http.get(f"/studies/{nct(1)}/history/0").json()["study"] == v0


# -- faults -------------------------------------------------------------------------------------


def test_status_fault_with_and_without_retry_after(fake: FakeRegistry, http: httpx.Client) -> None:
    seed(fake, 1)
    fake.add_fault("status", status=429, retry_after="7", path="/api/v2/studies")
    fake.add_fault("status", status=503)
    assert http.get("/version").status_code == 503  # the second fault: the first is for /studies
    r = http.get("/studies")
    assert_text_error(r, 429)
    assert r.headers["Retry-After"] == "7"
    assert http.get("/studies").status_code == 200
    fake.add_fault("status", status=502, times=2)
    r = http.get("/version")
    assert_text_error(r, 502)
    assert "Retry-After" not in r.headers
    assert http.get("/version").status_code == 502
    assert http.get("/version").status_code == 200
    assert [r.status for r in fake.requests] == [503, 429, 200, 502, 502, 200]


def test_clear_faults(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.add_fault("status", status=500, times=5)
    fake.clear_faults()
    assert http.get("/version").status_code == 200
    with pytest.raises(ValueError):
        fake.add_fault("explode")


def test_drop_fault_closes_without_answering(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.add_fault("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/version")
    assert http.get("/version").status_code == 200
    assert [r.status for r in fake.requests] == [0, 200]


def test_slow_fault_delays_the_answer(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.add_fault("slow", delay=0.4)
    start = time.monotonic()
    assert http.get("/version").status_code == 200
    assert time.monotonic() - start >= 0.4
    fake.add_fault("slow", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/version", timeout=0.1)


def test_drip_fault_trickles_the_body(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.add_fault("drip", delay=0.05)
    start = time.monotonic()
    with http.stream("GET", "/version") as r:
        assert r.status_code == 200
        pieces = list(r.iter_raw())
    assert time.monotonic() - start >= 0.25
    assert len(pieces) > 3
    assert json.loads(b"".join(pieces))["apiVersion"] == "2.0.5"
    # Headers come at once, then each piece is late: a short read timeout trips.
    fake.add_fault("drip", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/version", timeout=httpx.Timeout(5, read=0.2))


def test_truncated_fault_cuts_the_body(fake: FakeRegistry, http: httpx.Client) -> None:
    seed(fake, 3)
    fake.add_fault("truncated")
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/studies")
    assert fake.requests[-1].status == 200
    assert len(http.get("/studies").json()["studies"]) == 3


def test_invalid_json_and_html_faults(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.add_fault("invalid_json")
    fake.add_fault("html200")
    r = http.get("/version")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        r.json()
    r = http.get("/version")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<html>" in r.text


def test_empty_page_with_token_leads_back_to_the_data(
    fake: FakeRegistry, http: httpx.Client
) -> None:
    ids = seed(fake, 3)
    fake.add_fault("empty_page_with_token")
    assert http.get("/version").status_code == 200  # not consumed: it is for /studies only
    params = {"pageSize": "2", "countTotal": "true"}
    empty = http.get("/studies", params=params).json()
    assert empty["studies"] == [] and empty["totalCount"] == 3
    page = http.get("/studies", params={**params, "pageToken": empty["nextPageToken"]}).json()
    assert ids_of(page) == ids[:2] and "nextPageToken" in page


def test_record_faults(fake: FakeRegistry, http: httpx.Client) -> None:
    fake.put(make_study(nct(1), enrollment=(30, "ACTUAL"), phases=["PHASE1", "PHASE2"]))
    fake.add_fault("missing_protocol")
    assert http.get("/version").status_code == 200  # no records there: the fault waits
    broken = http.get("/studies").json()["studies"][0]
    assert "protocolSection" not in broken and "derivedSection" in broken

    fake.add_fault("wrong_types")
    design = http.get(f"/studies/{nct(1)}").json()["protocolSection"]["designModule"]
    assert design["enrollmentInfo"]["count"] == "30"
    assert design["phases"] == "PHASE1, PHASE2"

    fake.add_fault("unknown_fields")
    study = http.get("/studies").json()["studies"][0]
    assert set(study) - {"protocolSection", "derivedSection", "hasResults"}
    modules = set(study["protocolSection"]) - set(make_study(nct(1))["protocolSection"])
    assert modules

    assert http.get(f"/studies/{nct(1)}").json() == fake.get(nct(1))  # all used up


# -- the server itself ----------------------------------------------------------------------------


def test_survives_garbage_and_other_methods(fake: FakeRegistry, http: httpx.Client) -> None:
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as sock:
        sock.sendall(b"\x00\x01garbage\r\n\r\n")
        sock.recv(1024)
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as sock:
        sock.sendall(b"GET /api/v2/studies HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert_text_error(http.post("/studies", content=b"{}"), 405)
    assert http.get("/version").status_code == 200
    assert fake.errors == []


def test_concurrent_requests(fake: FakeRegistry, http: httpx.Client) -> None:
    ids = seed(fake, 20)
    results: list[int] = []

    def fetch(i: str) -> None:
        results.append(http.get(f"/studies/{i}").status_code)  # httpx.Client is thread-safe

    threads = [threading.Thread(target=fetch, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 20
    assert fake.count("/api/v2/studies/") == 20


def test_close_stops_serving_even_kept_alive_connections() -> None:
    with serve() as fake, httpx.Client(base_url=fake.base_url, timeout=2) as http:
        assert http.get("/version").status_code == 200
        fake.close()
        with pytest.raises(httpx.TransportError):
            http.get("/version")
    fake.close()  # idempotent


# -- the factory ----------------------------------------------------------------------------------


def test_factory_builds_valid_records() -> None:
    assert nct(1) == "NCT90000001"
    assert samples_dir().joinpath("records").is_dir()
    study = make_study(
        nct(2),
        title="CAR-NK in SCLC",
        status="TERMINATED",
        enrollment=(8, "ACTUAL"),
        conditions=["Small Cell Lung Cancer"],
        interventions=[("BIOLOGICAL", "NK-101")],
        sites=[("Mayo Clinic", "Rochester", "United States")],
        criteria="Inclusion Criteria:\n\n* Adults",
        start=("2025-01-01", "ACTUAL"),
    )
    ps = study["protocolSection"]
    assert ps["identificationModule"]["nctId"] == nct(2)
    assert ps["identificationModule"]["briefTitle"] == "CAR-NK in SCLC"
    assert ps["statusModule"]["overallStatus"] == "TERMINATED"
    assert ps["statusModule"]["whyStopped"]
    assert ps["statusModule"]["lastUpdatePostDateStruct"] == {
        "date": "2026-10-01",
        "type": "ACTUAL",
    }
    assert ps["statusModule"]["lastUpdateSubmitDate"] == "2026-09-29"
    assert ps["designModule"]["enrollmentInfo"] == {"count": 8, "type": "ACTUAL"}
    assert ps["armsInterventionsModule"]["armGroups"][0]["interventionNames"] == [
        "Biological: NK-101"
    ]
    assert ps["contactsLocationsModule"]["locations"][0]["city"] == "Rochester"
    assert ps["eligibilityModule"]["eligibilityCriteria"].startswith("Inclusion")
    assert study["derivedSection"]["miscInfoModule"]["versionHolder"] == "2026-10-01"
    assert "whyStopped" not in make_study(nct(3))["protocolSection"]["statusModule"]


def test_factory_mutators_return_new_records() -> None:
    study = make_study(nct(1), sites=[("A", "Paris", "France")])
    before = json.dumps(study, sort_keys=True)
    changed = with_version_holder(
        with_last_update(
            with_criteria(
                with_enrollment(
                    with_status(study, "SUSPENDED", why_stopped="Funding"), 5, "ACTUAL"
                ),
                "Inclusion Criteria:\n\n* None",
            ),
            "2026-11-02",
        ),
        "2026-11-03",
    )
    assert json.dumps(study, sort_keys=True) == before
    ps = changed["protocolSection"]
    assert ps["statusModule"]["overallStatus"] == "SUSPENDED"
    assert ps["statusModule"]["whyStopped"] == "Funding"
    assert ps["designModule"]["enrollmentInfo"] == {"count": 5, "type": "ACTUAL"}
    assert ps["eligibilityModule"]["eligibilityCriteria"] == "Inclusion Criteria:\n\n* None"
    assert ps["statusModule"]["lastUpdatePostDateStruct"]["date"] == "2026-11-02"
    assert changed["derivedSection"]["miscInfoModule"]["versionHolder"] == "2026-11-03"

    sites = with_site(study, "B", "Lyon", "France", index=0)
    locations = sites["protocolSection"]["contactsLocationsModule"]["locations"]
    assert [loc["facility"] for loc in locations] == ["B", "A"]
    closed = with_site(sites, "A", "Paris", "France", status="COMPLETED")
    locations = closed["protocolSection"]["contactsLocationsModule"]["locations"]
    assert [loc.get("status") for loc in locations] == [None, "COMPLETED"]
