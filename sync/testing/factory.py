"""Study records for tests and benchmarks: real samples from ctgov/ and a factory of valid v2
records."""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

# The checkout this package sits in (tests and benchmarks run on an editable install): the
# samples are looked for beside it.
CHECKOUT = Path(__file__).resolve().parents[2]
STOPPED = frozenset({"SUSPENDED", "TERMINATED", "WITHDRAWN"})
ARM_LABEL = "Cohort A"
# How interventionNames spell the intervention type ("Drug: HS-20093").
TYPE_LABELS = {
    "BEHAVIORAL": "Behavioral",
    "BIOLOGICAL": "Biological",
    "COMBINATION_PRODUCT": "Combination Product",
    "DEVICE": "Device",
    "DIAGNOSTIC_TEST": "Diagnostic Test",
    "DIETARY_SUPPLEMENT": "Dietary Supplement",
    "DRUG": "Drug",
    "GENETIC": "Genetic",
    "OTHER": "Other",
    "PROCEDURE": "Procedure",
    "RADIATION": "Radiation",
}

DateArg = str | tuple[str, str] | None
Site = tuple[str, str, str] | dict[str, Any]


class SamplesMissing(RuntimeError):
    """The real ClinicalTrials.gov samples are not where they are looked for.

    The tests' plugin turns it into a skip with this reason, or a failure under CI; the
    benchmarks print it and exit 2. This module knows nothing of pytest, so bench can use it.
    """


def samples_dir() -> Path:
    """The real API samples: $TRIALWATCH_SAMPLES, else ../shared/ctgov beside the checkout."""
    env = os.environ.get("TRIALWATCH_SAMPLES")
    path = Path(env) if env else CHECKOUT.parent / "shared" / "ctgov"
    if not (path / "records").is_dir():
        raise SamplesMissing(
            f"real ClinicalTrials.gov samples not found at {path} (set TRIALWATCH_SAMPLES)"
        )
    return path


@functools.lru_cache(maxsize=128)
def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def load_sample(relpath: str) -> dict[str, Any]:
    """A fresh copy of a sample, e.g. `records/NCT05280470.json`."""
    sample: dict[str, Any] = copy.deepcopy(_load(samples_dir() / relpath))
    return sample


def nct(i: int) -> str:
    """A valid synthetic NCT ID well clear of real ones: nct(1) == "NCT90000001"."""
    if not 0 <= i < 10_000_000:
        raise ValueError(f"nct() takes 0 <= i < 10,000,000, not {i}")
    return f"NCT{90_000_000 + i:08d}"


def _days_before(day: str, days: int) -> str:
    try:
        return (date.fromisoformat(day) - timedelta(days=days)).isoformat()
    except ValueError:
        return day  # month-only or odd dates are kept as given


def _date_struct(value: str | tuple[str, str], today: str) -> dict[str, str]:
    if isinstance(value, tuple):
        return {"date": value[0], "type": value[1]}
    return {"date": value, "type": "ACTUAL" if value <= today else "ESTIMATED"}


def _location(site: Site) -> dict[str, Any]:
    if isinstance(site, dict):
        return copy.deepcopy(site)
    facility, city, country = site
    return {"facility": facility, "city": city, "country": country}


def _interventions(items: Iterable[tuple[str, str]]) -> tuple[list[Any], list[Any]]:
    interventions = []
    names = []
    for type_, name in items:
        interventions.append(
            {
                "type": type_,
                "name": name,
                "description": f"{name}, as assigned by the protocol.",
                "armGroupLabels": [ARM_LABEL],
            }
        )
        names.append(f"{TYPE_LABELS.get(type_, type_.title())}: {name}")
    arm = {
        "label": ARM_LABEL,
        "type": "EXPERIMENTAL",
        "description": "All participants receive the study treatment.",
        "interventionNames": names,
    }
    return [arm], interventions


def make_study(
    nct_id: str,
    *,
    title: str | None = None,
    status: str = "RECRUITING",
    enrollment: tuple[int, str] = (24, "ESTIMATED"),
    phases: Sequence[str] | None = ("PHASE1",),
    last_update: str = "2026-10-01",
    conditions: Sequence[str] | None = None,
    interventions: Sequence[tuple[str, str]] | None = None,
    sites: Sequence[Site] | None = None,
    criteria: str | None = None,
    start: DateArg = None,
    primary_completion: DateArg = None,
    completion: DateArg = None,
    template: str = "records/NCT06052423.json",
) -> dict[str, Any]:
    """A valid full v2 record built on a real sample, with the given facts set.

    Dates are "YYYY-MM-DD" (typed ACTUAL when not after `last_update`, else ESTIMATED) or
    (date, type) tuples; `sites` are (facility, city, country) tuples or location dicts;
    `interventions` are (type, name) pairs, all given to one arm. Unset parts keep the
    template's real text (e.g. its eligibility criteria).
    """
    study = load_sample(template)
    title = title or f"Synthetic Study {nct_id} of a CAR-NK Cell Therapy"
    ps = study.setdefault("protocolSection", {})

    ident = ps.setdefault("identificationModule", {})
    ident["nctId"] = nct_id
    ident["orgStudyIdInfo"] = {"id": f"TW-{nct_id}"}
    ident["briefTitle"] = title
    ident["officialTitle"] = f"An Open-Label Study: {title}"
    for key in ("acronym", "secondaryIdInfos", "nctIdAliases"):
        ident.pop(key, None)

    status_module = ps.setdefault("statusModule", {})
    status_module["overallStatus"] = status
    status_module.pop("lastKnownStatus", None)
    if status in STOPPED:
        status_module["whyStopped"] = "Sponsor decision."
    else:
        status_module.pop("whyStopped", None)
    status_module["statusVerifiedDate"] = last_update[:7]
    status_module["startDateStruct"] = _date_struct(start or "2025-11-03", last_update)
    status_module["primaryCompletionDateStruct"] = _date_struct(
        primary_completion or ("2027-06-30", "ESTIMATED"), last_update
    )
    status_module["completionDateStruct"] = _date_struct(
        completion or ("2028-06-30", "ESTIMATED"), last_update
    )
    _set_last_update(study, last_update)

    design = ps.setdefault("designModule", {})
    design["enrollmentInfo"] = {"count": enrollment[0], "type": enrollment[1]}
    if phases:
        design["phases"] = list(phases)
    else:
        design.pop("phases", None)

    if conditions is not None:
        ps.setdefault("conditionsModule", {})["conditions"] = list(conditions)
    if interventions is not None:
        arms, items = _interventions(interventions)
        ps["armsInterventionsModule"] = {"armGroups": arms, "interventions": items}
    if criteria is not None:
        ps.setdefault("eligibilityModule", {})["eligibilityCriteria"] = criteria
    if sites is not None:
        ps.setdefault("contactsLocationsModule", {})["locations"] = [_location(s) for s in sites]

    study.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = (
        last_update
    )
    study["hasResults"] = False
    return study


def _set_last_update(study: dict[str, Any], day: str) -> None:
    status_module = study["protocolSection"].setdefault("statusModule", {})
    status_module["lastUpdateSubmitDate"] = _days_before(day, 2)
    status_module["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}


def _module(study: dict[str, Any], name: str) -> dict[str, Any]:
    module: dict[str, Any] = study.setdefault("protocolSection", {}).setdefault(name, {})
    return module


def with_status(
    study: dict[str, Any], status: str, *, why_stopped: str | None = None
) -> dict[str, Any]:
    """A copy with a new overallStatus; whyStopped is set to `why_stopped` or removed."""
    new = copy.deepcopy(study)
    module = _module(new, "statusModule")
    module["overallStatus"] = status
    if why_stopped is not None:
        module["whyStopped"] = why_stopped
    else:
        module.pop("whyStopped", None)
    return new


def with_enrollment(study: dict[str, Any], count: int, type_: str) -> dict[str, Any]:
    new = copy.deepcopy(study)
    _module(new, "designModule")["enrollmentInfo"] = {"count": count, "type": type_}
    return new


def with_criteria(study: dict[str, Any], text: str) -> dict[str, Any]:
    new = copy.deepcopy(study)
    _module(new, "eligibilityModule")["eligibilityCriteria"] = text
    return new


def with_site(
    study: dict[str, Any],
    facility: str,
    city: str,
    country: str,
    *,
    index: int | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """A copy with the site added (at `index`, else last).

    Without `index`, a site already there (same facility, city and country) is updated in
    place instead: its status set to `status` (removed when None).
    """
    new = copy.deepcopy(study)
    locations = _module(new, "contactsLocationsModule").setdefault("locations", [])
    if index is None:
        for loc in locations:
            if (loc.get("facility"), loc.get("city"), loc.get("country")) == (
                facility,
                city,
                country,
            ):
                if status is None:
                    loc.pop("status", None)
                else:
                    loc["status"] = status
                return new
    site: dict[str, Any] = {"facility": facility}
    if status is not None:
        site["status"] = status
    site.update(city=city, country=country)
    locations.insert(len(locations) if index is None else index, site)
    return new


def with_last_update(study: dict[str, Any], day: str) -> dict[str, Any]:
    """A copy last posted on `day` (lastUpdatePostDateStruct and lastUpdateSubmitDate)."""
    new = copy.deepcopy(study)
    _set_last_update(new, day)
    return new


def with_version_holder(study: dict[str, Any], day: str) -> dict[str, Any]:
    """A copy whose derivedSection.miscInfoModule.versionHolder (the daily data date) is `day`."""
    new = copy.deepcopy(study)
    new.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = day
    return new


@functools.lru_cache(maxsize=1)
def _record_names() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in (samples_dir() / "records").glob("NCT*.json")))


def registry_study(i: int, day: str) -> dict[str, Any]:
    """Study nct(i) for a registry-sized fake: a real record (cycled) under a new ID, last
    updated on `day` (many studies share a day, as in the registry's daily releases)."""
    names = _record_names()
    study = load_sample(f"records/{names[i % len(names)]}")
    ident = study.setdefault("protocolSection", {}).setdefault("identificationModule", {})
    ident["nctId"] = nct(i)
    ident.pop("nctIdAliases", None)
    ident["orgStudyIdInfo"] = {"id": f"TW-MIRROR-{i:06d}"}
    _set_last_update(study, day)
    return study
