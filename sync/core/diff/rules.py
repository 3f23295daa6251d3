"""How a changed path reads and weighs: category, severity, labels, values and date slips."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import orjson

from sync.core.diff.lists import MISSING
from sync.core.states import Category, Severity

HIGH_STATUSES = {"SUSPENDED", "TERMINATED", "WITHDRAWN"}
KEY_DATES = {
    "startDateStruct": "start",
    "primaryCompletionDateStruct": "primary completion",
    "completionDateStruct": "completion",
}
_LABELS = {
    "overallStatus": "status",
    "statusVerifiedDate": "status verified",
    "studyFirstPostDateStruct": "first posted",
    "resultsFirstPostDateStruct": "results first posted",
    "dispFirstPostDateStruct": "results delay request first posted",
    "dispFirstSubmitDate": "results delay request submitted",
    "stdAges": "age groups",
    "nctId": "NCT ID",
    "orgStudyIdInfo": "org study ID",
    "ipdSharingStatementModule": "IPD sharing",
    "hasResults": "has results",
}
_ENTITIES = {
    "locations": "site",
    "contacts": "contact",
    "centralContacts": "central contact",
    "overallOfficials": "overall official",
    "armGroups": "arm",
    "interventions": "intervention",
    "primaryOutcomes": "primary outcome",
    "secondaryOutcomes": "secondary outcome",
    "otherOutcomes": "other outcome",
    "collaborators": "collaborator",
    "references": "reference",
    "seeAlsoLinks": "link",
    "secondaryIdInfos": "secondary ID",
    "largeDocs": "document",
    "unpostedEvents": "unposted event",
    "availIpds": "IPD document",
}
_GENERIC_KEYS = {"date", "type", "value", "name", "id", "description", "class", "link"}
_KEY_DESIGN = {
    "phases", "studyType", "allocation", "masking", "interventionModel", "primaryPurpose",
    "observationalModel", "timePerspective",
}  # fmt: skip
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def empty(value: Any) -> bool:
    # Absent, null and empty are one state: a sponsor cannot tell them apart on the form.
    return value is MISSING or value is None or value == "" or value == [] or value == {}


def humanise(key: str) -> str:
    if key in _LABELS:
        return _LABELS[key]
    return _CAMEL_RE.sub(" ", key.removesuffix("Struct").removesuffix("Module")).lower()


def field_label(keys: list[str]) -> str:
    if not keys:
        return "value"
    label = humanise(keys[-1])
    if keys[-1] in _GENERIC_KEYS and len(keys) > 1:
        label = f"{humanise(keys[-2])} {label}"
    return label


def entity_of(field: str) -> str:
    if field in _ENTITIES:
        return _ENTITIES[field]
    word = humanise(field)
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt(value: Any) -> str:
    if empty(value):
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return short(value)
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return short(", ".join(str(v) for v in value))
    return short(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())


def category_of(keys: list[str]) -> Category:
    if not keys:
        return Category.OTHER
    if keys[0] in ("resultsSection", "hasResults"):
        return Category.RESULTS
    if keys[0] != "protocolSection" or len(keys) < 3:
        return Category.OTHER
    module, field = keys[1], keys[2]
    if module == "statusModule":
        if field in ("overallStatus", "whyStopped", "lastKnownStatus"):
            return Category.STATUS
        return Category.DATES if "Date" in field else Category.OTHER
    simple = {
        "eligibilityModule": Category.ELIGIBILITY,
        "contactsLocationsModule": Category.SITES,
        "outcomesModule": Category.OUTCOMES,
        "sponsorCollaboratorsModule": Category.SPONSOR,
        "identificationModule": Category.IDENTIFICATION,
    }
    if module in simple:
        return simple[module]
    if module == "designModule":
        return Category.ENROLLMENT if field == "enrollmentInfo" else Category.DESIGN
    if module == "armsInterventionsModule":
        return Category.INTERVENTIONS if field == "interventions" else Category.ARMS
    return Category.OTHER


def severity_of(category: str, keys: list[str], whole_item: bool) -> Severity:
    if category in (
        Category.ELIGIBILITY, Category.ARMS, Category.INTERVENTIONS, Category.STATUS,
        Category.RESULTS,
    ):  # fmt: skip
        return Severity.MEDIUM
    if category == Category.SITES:
        is_site = len(keys) >= 3 and keys[2] == "locations"
        if is_site and (whole_item and len(keys) == 3 or keys[3:] == ["status"]):
            return Severity.MEDIUM
        return Severity.LOW
    if category == Category.OUTCOMES:
        return Severity.HIGH if "primaryOutcomes" in keys else Severity.MEDIUM
    if category == Category.SPONSOR:
        if "leadSponsor" in keys:
            return Severity.HIGH
        return Severity.MEDIUM if "collaborators" in keys else Severity.LOW
    if category == Category.DESIGN:
        return Severity.MEDIUM if any(k in _KEY_DESIGN for k in keys) else Severity.LOW
    if category == Category.IDENTIFICATION:
        title = keys[-1:] in (["briefTitle"], ["officialTitle"], ["acronym"])
        return Severity.MEDIUM if title else Severity.LOW
    if category == Category.OTHER and len(keys) > 1:
        described = keys[1] in ("descriptionModule", "conditionsModule")
        return Severity.MEDIUM if described else Severity.LOW
    return Severity.LOW


def _parse_date(text: Any) -> tuple[int, int, int | None] | None:
    if not isinstance(text, str):
        return None
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", text.strip())
    if not m:
        return None
    return int(m[1]), int(m[2]), int(m[3]) if m[3] else None


def date_slip(old: Any, new: Any) -> dict[str, Any] | None:
    """How far a date moved, in days always and in months. A month-only date counts from its
    first day (as the export's date columns have it), and the slip then says
    "precision": "month" (its days are the months' lengths, not the registry's)."""
    a, b = _parse_date(old), _parse_date(new)
    if a is None or b is None:
        return None
    months = (b[0] - a[0]) * 12 + (b[1] - a[1])
    try:
        days = (date(b[0], b[1], b[2] or 1) - date(a[0], a[1], a[2] or 1)).days
    except ValueError:
        return {"months": months}
    if a[2] is not None and b[2] is not None:
        return {"days": days, "months": round(days / 30.4375)}
    return {"days": days, "months": months, "precision": "month"}


def slip_text(slip: dict[str, Any]) -> str:
    if "days" in slip and slip.get("precision", "day") == "day":
        n, unit = slip["days"], "day"
    else:
        n, unit = slip["months"], "month"
    if n == 0:
        return ""
    amount = f"{abs(n)} {unit}{'' if abs(n) == 1 else 's'}"
    if unit == "day" and abs(n) >= 60:
        amount += f", ~{abs(slip['months'])} months"
    return f" (slipped {amount})" if n > 0 else f" (moved earlier by {amount})"
