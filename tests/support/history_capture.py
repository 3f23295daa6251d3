"""The real history capture of NCT03690141 (ten registry versions) as the fake registry serves
it: the backfill and export tests share it."""

from __future__ import annotations

import copy
import json
import re
from datetime import date, timedelta
from typing import Any

from sync.testing.factory import load_sample
from tests.support.apitext import api_markdown

NCT = "NCT03690141"
CAPTURE = "history/NCT03690141.history-true.json"
CENTRAL_CONTACT = {
    "name": "Clinical Trial Information Desk",
    "role": "CONTACT",
    "phone": "555-0100",
    "email": "trials@example.org",
}
SITES_AT = {0: 0, 1: 2, 2: 4, 3: 5, 4: 7, 5: 8, 6: 10}
CUT_AT_V5 = "<li>Treatment with 5-alpha reductase inhibitors within 4 weeks of enrollment.</li>"


def capture() -> dict[str, Any]:
    return load_sample(CAPTURE)


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _renamed(module: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(module, ensure_ascii=False)
    for name in ("Tomivosertib (eFT508)", "tomivosertib (eFT508)"):
        text = text.replace(name, "eFT508")
    renamed: dict[str, Any] = json.loads(text)
    return renamed


def registry_versions(cap: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The ten registry versions of NCT03690141 as the history endpoint sends them (HTML text).

    The capture holds the current record (version 9) and the version list: each version's
    date, overall status and the modules it touched. Earlier versions are the current record
    walked back, each module changed only in versions whose moduleLabels name it:
    - every version: overallStatus from the list, lastUpdateSubmitDate = the list's date,
      posted the next day, status verified that month;
    - start 2018-10 ESTIMATED at v0, the actual 2018-10-12 from v1 (recruiting);
    - completion 2019-12 ESTIMATED until v7, 2020-06 ESTIMATED at v8 (Study Status only),
      2020-04-27 ACTUAL at v9 (the capture);
    - enrollment 30 ESTIMATED until v7 (originalData; lastUpdateVersions.enrollmentInfo = 7),
      the primary outcome says RECIST until v5 (originalData; lastUpdateVersions.outcomes = 5);
    - sites (Contacts/Locations, v1-v7): none at v0, then 2, 4, 5, 7, 8, 10 recruiting sites
      and a central contact; at v7 the site statuses and the contact go, as in the capture;
    - v2 (Identification, Conditions, Study Design, Arms, Description): eFT508 gets its name
      tomivosertib, the keyword "tomivosertib" and the intervention model description appear;
    - v5 (Identification, Description, Arms, Outcomes, Eligibility): "Non-randomized" in the
      official title, the summary's second paragraph, the arm's second sentence, iRECIST in
      the criteria and the 5-alpha reductase exclusion appear.
    """
    original = cap["history"]["originalData"]
    out: dict[int, dict[str, Any]] = {}
    for entry in cap["history"]["changes"]:
        v, day = entry["version"], entry["date"]
        study = copy.deepcopy(cap["study"])
        ps = study["protocolSection"]
        status = ps["statusModule"]
        status["overallStatus"] = entry["status"]
        status["statusVerifiedDate"] = day[:7]
        status["lastUpdateSubmitDate"] = day
        status["lastUpdatePostDateStruct"] = {"date": _next_day(day), "type": "ACTUAL"}
        if v < 1:
            status["startDateStruct"] = {"date": "2018-10", "type": "ESTIMATED"}
        if v < 9:
            planned = {"date": "2020-06" if v == 8 else "2019-12", "type": "ESTIMATED"}
            status["primaryCompletionDateStruct"] = dict(planned)
            status["completionDateStruct"] = dict(planned)
        if v < 7:
            ps["designModule"]["enrollmentInfo"] = dict(original["enrollmentInfo"])
            contacts = ps["contactsLocationsModule"]
            sites = contacts.pop("locations")[: SITES_AT[v]]
            if sites:
                contacts["locations"] = [dict(site, status="RECRUITING") for site in sites]
            contacts["centralContacts"] = [dict(CENTRAL_CONTACT)]
        if v < 5:
            ps["outcomesModule"]["primaryOutcomes"] = copy.deepcopy(original["primaryOutcomes"])
            ident = ps["identificationModule"]
            ident["officialTitle"] = ident["officialTitle"].replace("Non-randomized ", "")
            summary = ps["descriptionModule"]["briefSummary"]
            ps["descriptionModule"]["briefSummary"] = re.match(r"<p>(.*?)</p>", summary)[1]
            arm = ps["armsInterventionsModule"]["armGroups"][0]
            arm["description"] = arm["description"].split("\n")[0]
            elig = ps["eligibilityModule"]
            assert "iRECIST&#x2F;RECIST 1.1" in elig["eligibilityCriteria"]
            assert CUT_AT_V5 in elig["eligibilityCriteria"]
            elig["eligibilityCriteria"] = (
                elig["eligibilityCriteria"]
                .replace("iRECIST&#x2F;RECIST 1.1", "RECIST 1.1")
                .replace(CUT_AT_V5, "")
            )
        if v < 2:
            for key in ("identificationModule", "descriptionModule", "armsInterventionsModule"):
                ps[key] = _renamed(ps[key])
            ps["conditionsModule"]["keywords"].remove("tomivosertib")
            del ps["designModule"]["designInfo"]["interventionModelDescription"]
        out[v] = study
    return out


def api_record(value: Any) -> Any:
    """A history body as API v2 sends the same record: its HTML text fields as Markdown."""
    if isinstance(value, str):
        return api_markdown(value) if ("<" in value or "&" in value) else value
    if isinstance(value, dict):
        return {k: api_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [api_record(v) for v in value]
    return value


def serve(fake: Any, *, polled: dict[str, Any] | None = None) -> dict[int, dict[str, Any]]:
    """Put the history on the fake registry, and `polled` as the record API v2 serves."""
    cap = capture()
    bodies = registry_versions(cap)
    fake.set_history(NCT, cap["history"]["changes"], bodies)
    if polled is not None:
        fake.put(polled)
    return bodies


def current_markdown() -> dict[str, Any]:
    """What API v2 sends for NCT03690141 now: the registry's version 9 in Markdown."""
    study: dict[str, Any] = api_record(capture()["study"])
    return study
