"""A study record's canonical form: what is hashed, and its key fields."""

from __future__ import annotations

import copy
import functools
import hashlib
import re
from typing import Any

import orjson

from sync.core.text import comparable
from sync.core.util import dig

# Bump when the canonical form changes; stored next to every hash so old hashes stay interpretable.
# 2: text compared in htmltext's comparable form (HTML and Markdown of one text hash the same).
# 3: object members that are null or empty, and hasResults false, are left out (absent, null
#    and empty are one state, as in the diff).
# 4: whole numbers sent as floats (24.0) hash as integers.
CANON_VERSION = 4
# 0: the submitted content as received (NOISE_PATHS out, keys sorted; text and lists as sent).
#    A first version is hashed in this form: nothing is compared with it until a second record
#    of the study arrives, and for most of a registry that never happens. Equal received forms
#    are equal content; unequal ones are settled in the canonical form (snapshots.same_content).
RECEIVED_FORM = 0

# What the sponsor submits. derivedSection is the registry's own (MeSH indexing, the daily
# versionHolder date) and moves without any sponsor change: stored, never hashed.
SUBMITTED_SECTIONS = (
    "protocolSection",
    "resultsSection",
    "hasResults",
    "documentSection",
    "annotationSection",
)

# Paths that are not content ("[]" stands for every item of a list): the dates that move with
# every submission (they date a change, they are not one) and site map coordinates, which the
# registry computes from the address. The hash drops them and the diff ignores them.
NOISE_PATHS = frozenset(
    {
        ("protocolSection", "statusModule", "lastUpdatePostDateStruct"),
        ("protocolSection", "statusModule", "lastUpdateSubmitDate"),
        ("protocolSection", "contactsLocationsModule", "locations", "[]", "geoPoint"),
    }
)

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


# The documented types of the fields trialwatch reads. A record that breaks them is a bad body
# (refused and fetched again later), not a change: stored, it would turn into two false changes.
_TYPED_FIELDS: tuple[tuple[tuple[str, ...], type | tuple[type, ...]], ...] = (
    (("identificationModule", "briefTitle"), str),
    (("statusModule", "overallStatus"), str),
    (("designModule", "enrollmentInfo"), dict),
    (("designModule", "enrollmentInfo", "count"), int),
    (("designModule", "phases"), list),
    (("designModule", "studyType"), str),
    (("eligibilityModule", "eligibilityCriteria"), str),
    (("conditionsModule", "conditions"), list),
    (("contactsLocationsModule", "locations"), list),
    (("armsInterventionsModule", "armGroups"), list),
    (("armsInterventionsModule", "interventions"), list),
    (("sponsorCollaboratorsModule", "leadSponsor"), dict),
)


def shape_problems(study: dict[str, Any]) -> list[str]:
    """Known fields of the wrong type ([] for a sound record; absent fields are fine)."""
    protocol = study.get("protocolSection")
    if not isinstance(protocol, dict):
        return ["protocolSection is not an object"]
    problems = [f"protocolSection.{k} is not an object" for k, v in protocol.items()
                if not isinstance(v, dict)]
    for path, kind in _TYPED_FIELDS:
        value: Any = protocol
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            problems.append(f"protocolSection.{'.'.join(path)} is {type(value).__name__}")
    if "hasResults" in study and not isinstance(study["hasResults"], bool | None):
        problems.append(f"hasResults is {type(study['hasResults']).__name__}")
    return problems


# A C-level callable: the sort key is computed for every item of every list.
_sort_key = functools.partial(orjson.dumps, option=orjson.OPT_SORT_KEYS)


def _canon(value: Any) -> Any:
    if isinstance(value, dict):
        return _canon_dict(value)
    if isinstance(value, list):
        return _canon_list(value)
    if isinstance(value, str):
        # The history endpoints send HTML, the documented API Markdown: compare the text.
        return comparable(value)
    if type(value) is float and value.is_integer() and abs(value) < 2**53:
        return int(value)  # 24.0 is the number 24: JSON does not tell them apart
    return value


# _canon_dict and _canon_list dispatch on exact types inline: canonicalising is most of an
# ingest's CPU time, and a record has hundreds of leaves (strings, numbers) per dict and list.
def _canon_dict(value: dict[str, Any]) -> dict[str, Any]:
    # Absent, null and empty are one state (as in the diff): a field that flips between them
    # is no new version.
    out: dict[str, Any] = {}
    for k, v in value.items():
        t = type(v)
        if t is str:
            if c := comparable(v):
                out[k] = c
        elif t is dict:
            if d := _canon_dict(v):
                out[k] = d
        elif t is list:
            if v:
                out[k] = _canon_list(v)
        elif t is int or t is bool:
            out[k] = v
        elif v is not None:
            out[k] = _canon(v)
    return out


def _canon_list(value: list[Any]) -> list[Any]:
    # Registry lists carry no IDs and their order means nothing (sites, arms, outcomes,
    # conditions): sort them so a reordered record hashes the same.
    items = [comparable(v) if type(v) is str else _canon(v) for v in value]
    if len(items) > 1:
        items.sort(key=_sort_key)
    return items


def _without(node: Any, path: tuple[str, ...]) -> Any:
    """node without path; only the containers on the way are copied, the rest is shared."""
    head, rest = path[0], path[1:]
    if head == "[]":
        if not isinstance(node, list):
            return node
        if len(rest) == 1:  # a key of every item (geoPoint of 1,148 sites): no call per item
            key = rest[0]
            return [
                {k: v for k, v in item.items() if k != key}
                if isinstance(item, dict) and key in item
                else item
                for item in node
            ]
        return [_without(item, rest) for item in node]
    if not isinstance(node, dict) or head not in node:
        return node
    if not rest:
        return {k: v for k, v in node.items() if k != head}
    out = dict(node)
    out[head] = _without(node[head], rest)
    return out


def _submitted_view(study: dict[str, Any]) -> dict[str, Any]:
    # Shares everything but the paths cut out, so canonical() needs no deep copy.
    content: dict[str, Any] = {key: study[key] for key in SUBMITTED_SECTIONS if key in study}
    for path in NOISE_PATHS:
        content = _without(content, path)
    return content


def submitted_content(study: dict[str, Any]) -> dict[str, Any]:
    """The part of a record a sponsor can change, without NOISE_PATHS."""
    content: dict[str, Any] = copy.deepcopy(_submitted_view(study))
    return content


def canonical(study: dict[str, Any]) -> dict[str, Any]:
    """The canonical form that is hashed: submitted content, lists sorted, text normalised."""
    out = _canon_dict(_submitted_view(study))
    if out.get("hasResults") is False:
        del out["hasResults"]  # no results: absent, null and false are one state (as in the diff)
    return out


def canonical_bytes(study: dict[str, Any]) -> bytes:
    return orjson.dumps(canonical(study), option=orjson.OPT_SORT_KEYS)


def content_hash(study: dict[str, Any]) -> str:
    """sha256 of the canonical form (see CANON_VERSION)."""
    return hashlib.sha256(canonical_bytes(study)).hexdigest()


def received_hash(study: dict[str, Any]) -> str:
    """sha256 of the submitted content as received (RECEIVED_FORM): a tenth of the canonical
    hash's cost, since no text is normalised and no list sorted."""
    view = _submitted_view(study)
    return hashlib.sha256(orjson.dumps(view, option=orjson.OPT_SORT_KEYS)).hexdigest()


def hash_in_form(study: dict[str, Any], form: int) -> str:
    """The study's hash in a stored form: RECEIVED_FORM or CANON_VERSION."""
    if form == RECEIVED_FORM:
        return received_hash(study)
    if form == CANON_VERSION:
        return content_hash(study)
    raise ValueError(f"no hash of form {form}: known are {RECEIVED_FORM} and {CANON_VERSION}")


def last_update_posted(study: dict[str, Any]) -> Any:
    """The record's last update posted date (YYYY-MM-DD as sent), or None."""
    return dig(study, "protocolSection", "statusModule", "lastUpdatePostDateStruct", "date")


def _texts(value: Any) -> list[str]:
    """The non-empty strings of a list the record may lack or hold wrongly typed."""
    if not isinstance(value, list):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


# Conditions are one text column on the trial row (searched with LIKE on both databases):
# one a line, as no condition holds a line break.
CONDITIONS_SEPARATOR = "\n"


def listed_fields(keys: dict[str, Any]) -> dict[str, Any]:
    """The trial row's copies of its latest version (from key_fields), for listing and search
    without decoding records."""
    conditions = [" ".join(c.split()) for c in keys["conditions"]]
    return {
        "title": keys["title"],
        "status": keys["status"],
        "last_update_posted": keys["last_update_posted"],
        "sponsor": keys["sponsor"] if isinstance(keys["sponsor"], str) else None,
        "conditions": CONDITIONS_SEPARATOR.join(conditions) or None,
    }


def key_fields(study: dict[str, Any]) -> dict[str, Any]:
    """The fields a user lists and shows, read defensively from a full record."""
    ps = ("protocolSection",)
    enrollment = dig(study, *ps, "designModule", "enrollmentInfo") or {}
    locations = dig(study, *ps, "contactsLocationsModule", "locations")
    phases = dig(study, *ps, "designModule", "phases")
    return {
        "nct_id": dig(study, *ps, "identificationModule", "nctId"),
        "title": dig(study, *ps, "identificationModule", "briefTitle"),
        "official_title": dig(study, *ps, "identificationModule", "officialTitle"),
        "acronym": dig(study, *ps, "identificationModule", "acronym"),
        "status": dig(study, *ps, "statusModule", "overallStatus"),
        "enrollment": {
            "count": enrollment.get("count") if isinstance(enrollment, dict) else None,
            "type": enrollment.get("type") if isinstance(enrollment, dict) else None,
        },
        "phases": list(phases) if isinstance(phases, list) else [],
        "study_type": dig(study, *ps, "designModule", "studyType"),
        "start_date": dig(study, *ps, "statusModule", "startDateStruct", "date"),
        "primary_completion_date": dig(
            study, *ps, "statusModule", "primaryCompletionDateStruct", "date"
        ),
        "completion_date": dig(study, *ps, "statusModule", "completionDateStruct", "date"),
        "last_update_posted": last_update_posted(study),
        "last_update_submitted": dig(study, *ps, "statusModule", "lastUpdateSubmitDate"),
        "sponsor": dig(study, *ps, "sponsorCollaboratorsModule", "leadSponsor", "name"),
        "conditions": _texts(dig(study, *ps, "conditionsModule", "conditions")),
        "site_count": len(locations) if isinstance(locations, list) else 0,
        # ACTUAL or ESTIMATED: a date that slips while estimated is a different story.
        "start_date_type": dig(study, *ps, "statusModule", "startDateStruct", "type"),
        "primary_completion_date_type": dig(
            study, *ps, "statusModule", "primaryCompletionDateStruct", "type"
        ),
        "completion_date_type": dig(study, *ps, "statusModule", "completionDateStruct", "type"),
        "countries": sorted(
            {loc["country"] for loc in locations if isinstance(loc, dict) and loc.get("country")}
        )
        if isinstance(locations, list)
        else [],
        "has_results": bool(study.get("hasResults")),
    }
