"""A study record's canonical form: what is hashed, and its key fields."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

import orjson

# Bump when the canonical form changes; stored next to every hash so old hashes stay interpretable.
CANON_VERSION = 1

# What the sponsor submits. derivedSection is the registry's own (MeSH indexing, the daily
# versionHolder date) and moves without any sponsor change: stored, never hashed.
SUBMITTED_SECTIONS = (
    "protocolSection",
    "resultsSection",
    "hasResults",
    "documentSection",
    "annotationSection",
)

# Dates that move with every submission: they date a change, they are not one.
_STATUS_NOISE = ("lastUpdatePostDateStruct", "lastUpdateSubmitDate")

NCT_RE = re.compile(r"^NCT\d{8}$")


class RecordError(ValueError):
    """A body that is not a usable study record."""


def nct_id_of(study: dict[str, Any]) -> str:
    """The record's NCT ID, or RecordError when the body is not a study record."""
    try:
        nct = study["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError) as exc:
        raise RecordError("record has no protocolSection.identificationModule.nctId") from exc
    if not isinstance(nct, str) or not NCT_RE.match(nct):
        raise RecordError(f"record has an invalid nctId: {nct!r}")
    return nct


def _normalise_text(text: str) -> str:
    # Line endings and trailing blanks are formatting, not content.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _sort_key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _canon(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, list):
        # Registry lists carry no IDs and their order means nothing (sites, arms, outcomes,
        # conditions): sort them so a reordered record hashes the same.
        items = [_canon(v) for v in value]
        return sorted(items, key=_sort_key)
    if isinstance(value, str):
        return _normalise_text(value)
    return value


def submitted_content(study: dict[str, Any]) -> dict[str, Any]:
    """The part of a record a sponsor can change, without the per-submission dates.

    Registry-filled noise is removed too: site map coordinates (geoPoint) are computed by the
    registry from the address.
    """
    content: dict[str, Any] = {}
    for key in SUBMITTED_SECTIONS:
        if key in study:
            content[key] = copy.deepcopy(study[key])
    protocol = content.get("protocolSection")
    if isinstance(protocol, dict):
        status = protocol.get("statusModule")
        if isinstance(status, dict):
            for key in _STATUS_NOISE:
                status.pop(key, None)
        contacts = protocol.get("contactsLocationsModule")
        if isinstance(contacts, dict) and isinstance(contacts.get("locations"), list):
            for site in contacts["locations"]:
                if isinstance(site, dict):
                    site.pop("geoPoint", None)
    return content


def canonical(study: dict[str, Any]) -> dict[str, Any]:
    """The canonical form that is hashed: submitted content, lists sorted, text normalised."""
    result = _canon(submitted_content(study))
    assert isinstance(result, dict)
    return result


def canonical_bytes(study: dict[str, Any]) -> bytes:
    return orjson.dumps(canonical(study), option=orjson.OPT_SORT_KEYS)


def content_hash(study: dict[str, Any]) -> str:
    """sha256 of the canonical form (see CANON_VERSION)."""
    return hashlib.sha256(canonical_bytes(study)).hexdigest()


def _get(study: dict[str, Any], *path: str) -> Any:
    node: Any = study
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def key_fields(study: dict[str, Any]) -> dict[str, Any]:
    """The fields a user lists and shows, read defensively from a full record."""
    ps = ("protocolSection",)
    enrollment = _get(study, *ps, "designModule", "enrollmentInfo") or {}
    locations = _get(study, *ps, "contactsLocationsModule", "locations")
    phases = _get(study, *ps, "designModule", "phases")
    return {
        "nct_id": _get(study, *ps, "identificationModule", "nctId"),
        "title": _get(study, *ps, "identificationModule", "briefTitle"),
        "official_title": _get(study, *ps, "identificationModule", "officialTitle"),
        "acronym": _get(study, *ps, "identificationModule", "acronym"),
        "status": _get(study, *ps, "statusModule", "overallStatus"),
        "enrollment": {
            "count": enrollment.get("count") if isinstance(enrollment, dict) else None,
            "type": enrollment.get("type") if isinstance(enrollment, dict) else None,
        },
        "phases": list(phases) if isinstance(phases, list) else [],
        "study_type": _get(study, *ps, "designModule", "studyType"),
        "start_date": _get(study, *ps, "statusModule", "startDateStruct", "date"),
        "primary_completion_date": _get(
            study, *ps, "statusModule", "primaryCompletionDateStruct", "date"
        ),
        "completion_date": _get(study, *ps, "statusModule", "completionDateStruct", "date"),
        "last_update_posted": _get(study, *ps, "statusModule", "lastUpdatePostDateStruct", "date"),
        "last_update_submitted": _get(study, *ps, "statusModule", "lastUpdateSubmitDate"),
        "sponsor": _get(study, *ps, "sponsorCollaboratorsModule", "leadSponsor", "name"),
        "site_count": len(locations) if isinstance(locations, list) else 0,
        "has_results": bool(study.get("hasResults")),
    }
