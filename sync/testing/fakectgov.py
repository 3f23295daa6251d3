"""A fake ClinicalTrials.gov API v2 (plus the internal history API) served on loopback."""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import orjson

from sync.testing import archive as fake_archive

API_VERSION = "2.0.5"
DEFAULT_DATA_TIMESTAMP = "2026-11-20T09:00:03"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000

STATUSES = frozenset(
    {
        "ACTIVE_NOT_RECRUITING",
        "COMPLETED",
        "ENROLLING_BY_INVITATION",
        "NOT_YET_RECRUITING",
        "RECRUITING",
        "SUSPENDED",
        "TERMINATED",
        "WITHDRAWN",
        "AVAILABLE",
        "NO_LONGER_AVAILABLE",
        "TEMPORARILY_NOT_AVAILABLE",
        "APPROVED_FOR_MARKETING",
        "WITHHELD",
        "UNKNOWN",
    }
)

SEARCH_PARAMS = frozenset(
    {
        "format",
        "markupFormat",
        "query.cond",
        "query.term",
        "query.locn",
        "query.titles",
        "query.intr",
        "query.outc",
        "query.spons",
        "query.lead",
        "query.id",
        "query.patient",
        "filter.overallStatus",
        "filter.geo",
        "filter.ids",
        "filter.advanced",
        "filter.synonyms",
        "postFilter.overallStatus",
        "postFilter.geo",
        "postFilter.ids",
        "postFilter.advanced",
        "postFilter.synonyms",
        "aggFilters",
        "geoDecay",
        "fields",
        "sort",
        "countTotal",
        "pageSize",
        "pageToken",
    }
)
STUDY_PARAMS = frozenset({"format", "markupFormat", "fields"})
# Later pages may change these without invalidating the page token (spec of GET /studies).
PAGING_PARAMS = frozenset({"pageSize", "pageToken", "countTotal"})

FAULT_KINDS = frozenset(
    {
        "status",
        "drop",
        "slow",
        "drip",
        "truncated",
        "invalid_json",
        "html200",
        "empty_page_with_token",
        "endless_tokens",
        "duplicate_identical",
        "duplicate_different",
        "repeat_previous_different",
        "missing_protocol",
        "wrong_types",
        "unknown_fields",
    }
)
RECORD_FAULTS = frozenset({"missing_protocol", "wrong_types", "unknown_fields"})
# Answers that lie about paging or hold a study twice (GET /api/v2/studies only):
# endless_tokens: a fresh nextPageToken on every page (past the end they come empty);
# duplicate_identical / duplicate_different: every study of the page twice, the second copy
# the same, or with its brief title edited; repeat_previous_different: a page after the first
# also holds the previous page's last study, its brief title edited.
PAGE_FAULTS = frozenset(
    {"endless_tokens", "duplicate_identical", "duplicate_different", "repeat_previous_different"}
)

NCT_PATTERN = re.compile(r"^[Nn][Cc][Tt]0*([1-9]\d{0,7})$")
NCT_ONLY_QUERY = re.compile(r"^\s*(?:[Nn][Cc][Tt]\d{1,8}[\s,]*)+$")
GEO_PATTERN = re.compile(
    r"^distance\((-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?),(\d+(?:\.\d+)?)(km|mi)?\)$"
)
DATE_PATTERN = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")

HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>ClinicalTrials.gov</title></head>\n"
    "<body><h1>Service Unavailable</h1><p>The site is under maintenance.</p></body></html>\n"
)
INVALID_JSON_BODY = b'{"studies": [{"protocolSection": {"identificationModule": <<not json>>'


class BadRequest(Exception):
    """A request the real API would answer with 400."""


# -- study record helpers -------------------------------------------------------------------


def normalize_nct(value: str) -> str:
    """`nct123` -> `NCT00000123`; raises BadRequest for anything that is not an NCT number."""
    m = NCT_PATTERN.match(value.strip())
    if not m:
        raise BadRequest(f"Incorrect format of NCT number: {value}")
    return "NCT" + m.group(1).zfill(8)


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _nct_of(study: dict[str, Any]) -> str:
    nct = _dig(study, "protocolSection", "identificationModule", "nctId")
    if not isinstance(nct, str):
        raise ValueError("study has no protocolSection.identificationModule.nctId")
    return normalize_nct(nct)


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, bool) or obj is None:
        return
    elif isinstance(obj, int | float):
        yield str(obj)
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)


def _each(items: Any, *keys: str) -> list[Any]:
    """Values at `keys` in every element of a list (lists found there are flattened)."""
    out: list[Any] = []
    if not isinstance(items, list):
        return out
    for item in items:
        value = _dig(item, *keys)
        if isinstance(value, list):
            out.extend(value)
        elif value is not None:
            out.append(value)
    return out


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _ps(study: dict[str, Any], module: str, *keys: str) -> Any:
    return _dig(study, "protocolSection", module, *keys)


def _ids_text(s: dict[str, Any]) -> list[Any]:
    ident = _ps(s, "identificationModule") or {}
    return [
        ident.get("nctId"),
        _dig(ident, "orgStudyIdInfo", "id"),
        *_each(ident.get("secondaryIdInfos"), "id"),
        *_listify(ident.get("nctIdAliases")),
    ]


def _titles_text(s: dict[str, Any]) -> list[Any]:
    ident = _ps(s, "identificationModule") or {}
    return [ident.get("briefTitle"), ident.get("officialTitle"), ident.get("acronym")]


def _cond_text(s: dict[str, Any]) -> list[Any]:
    return [
        *_listify(_ps(s, "conditionsModule", "conditions")),
        *_listify(_ps(s, "conditionsModule", "keywords")),
        *_titles_text(s),
    ]


def _intr_text(s: dict[str, Any]) -> list[Any]:
    interventions = _ps(s, "armsInterventionsModule", "interventions")
    arms = _ps(s, "armsInterventionsModule", "armGroups")
    return [
        *_each(interventions, "name"),
        *_each(interventions, "description"),
        *_each(interventions, "otherNames"),
        *_each(arms, "label"),
        *_each(arms, "description"),
        *_each(arms, "interventionNames"),
    ]


def _outc_text(s: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for kind in ("primaryOutcomes", "secondaryOutcomes", "otherOutcomes"):
        outcomes = _ps(s, "outcomesModule", kind)
        for key in ("measure", "description", "timeFrame"):
            out.extend(_each(outcomes, key))
    return out


def _spons_text(s: dict[str, Any]) -> list[Any]:
    return [
        _ps(s, "sponsorCollaboratorsModule", "leadSponsor", "name"),
        *_each(_ps(s, "sponsorCollaboratorsModule", "collaborators"), "name"),
    ]


def _locn_text(s: dict[str, Any]) -> list[Any]:
    locations = _ps(s, "contactsLocationsModule", "locations")
    return [
        *_each(locations, "facility"),
        *_each(locations, "city"),
        *_each(locations, "state"),
        *_each(locations, "zip"),
        *_each(locations, "country"),
    ]


def _status_date(key: str) -> Callable[[dict[str, Any]], list[Any]]:
    def get(s: dict[str, Any]) -> list[Any]:
        value = _ps(s, "statusModule", key)
        if isinstance(value, dict):
            value = value.get("date")
        return [value]

    return get


# area name (lower case) -> (kind, extractor). Kinds: text (substring), enum (whole value),
# date (prefix, RANGE), number (equality, RANGE).
Extractor = Callable[[dict[str, Any]], list[Any]]
AREAS: dict[str, tuple[str, Extractor]] = {
    "basicsearch": ("text", lambda s: list(_strings(s.get("protocolSection")))),
    "patientsearch": ("text", lambda s: list(_strings(s.get("protocolSection")))),
    "conditionsearch": ("text", _cond_text),
    "interventionsearch": ("text", _intr_text),
    "titlesearch": ("text", _titles_text),
    "outcomesearch": ("text", _outc_text),
    "sponsorsearch": ("text", _spons_text),
    "leadsponsorname": ("text", lambda s: [_spons_text(s)[0]]),
    "idsearch": ("text", _ids_text),
    "locationsearch": ("text", _locn_text),
    "nctid": ("enum", lambda s: [_ps(s, "identificationModule", "nctId")]),
    "brieftitle": ("text", lambda s: [_ps(s, "identificationModule", "briefTitle")]),
    "officialtitle": ("text", lambda s: [_ps(s, "identificationModule", "officialTitle")]),
    "acronym": ("text", lambda s: [_ps(s, "identificationModule", "acronym")]),
    "condition": ("text", lambda s: _listify(_ps(s, "conditionsModule", "conditions"))),
    "keyword": ("text", lambda s: _listify(_ps(s, "conditionsModule", "keywords"))),
    "interventionname": (
        "text",
        lambda s: _each(_ps(s, "armsInterventionsModule", "interventions"), "name"),
    ),
    "interventiontype": (
        "enum",
        lambda s: _each(_ps(s, "armsInterventionsModule", "interventions"), "type"),
    ),
    "locationfacility": (
        "text",
        lambda s: _each(_ps(s, "contactsLocationsModule", "locations"), "facility"),
    ),
    "locationcity": (
        "text",
        lambda s: _each(_ps(s, "contactsLocationsModule", "locations"), "city"),
    ),
    "locationcountry": (
        "text",
        lambda s: _each(_ps(s, "contactsLocationsModule", "locations"), "country"),
    ),
    "overallstatus": ("enum", lambda s: [_ps(s, "statusModule", "overallStatus")]),
    "phase": ("enum", lambda s: _listify(_ps(s, "designModule", "phases"))),
    "studytype": ("enum", lambda s: [_ps(s, "designModule", "studyType")]),
    "enrollmenttype": ("enum", lambda s: [_ps(s, "designModule", "enrollmentInfo", "type")]),
    "enrollmentcount": ("number", lambda s: [_ps(s, "designModule", "enrollmentInfo", "count")]),
    "hasresults": ("enum", lambda s: [str(s.get("hasResults")).lower()]),
    "lastupdatepostdate": ("date", _status_date("lastUpdatePostDateStruct")),
    "lastupdatesubmitdate": ("date", _status_date("lastUpdateSubmitDate")),
    "studyfirstpostdate": ("date", _status_date("studyFirstPostDateStruct")),
    "studyfirstsubmitdate": ("date", _status_date("studyFirstSubmitDate")),
    "resultsfirstpostdate": ("date", _status_date("resultsFirstPostDateStruct")),
    "startdate": ("date", _status_date("startDateStruct")),
    "primarycompletiondate": ("date", _status_date("primaryCompletionDateStruct")),
    "completiondate": ("date", _status_date("completionDateStruct")),
    "statusverifieddate": ("date", _status_date("statusVerifiedDate")),
}

QUERY_AREAS = {
    "query.term": "basicsearch",
    "query.patient": "patientsearch",
    "query.cond": "conditionsearch",
    "query.intr": "interventionsearch",
    "query.titles": "titlesearch",
    "query.outc": "outcomesearch",
    "query.spons": "sponsorsearch",
    "query.lead": "leadsponsorname",
    "query.id": "idsearch",
    "query.locn": "locationsearch",
}

SORTABLE = {
    name: AREAS[name]
    for name in (
        "lastupdatepostdate",
        "lastupdatesubmitdate",
        "studyfirstpostdate",
        "studyfirstsubmitdate",
        "resultsfirstpostdate",
        "startdate",
        "primarycompletiondate",
        "completiondate",
        "statusverifieddate",
        "enrollmentcount",
    )
}

# -- fields= ---------------------------------------------------------------------------------

_MODULES = {
    "protocolSection": [
        "identificationModule",
        "statusModule",
        "sponsorCollaboratorsModule",
        "oversightModule",
        "descriptionModule",
        "conditionsModule",
        "designModule",
        "armsInterventionsModule",
        "outcomesModule",
        "eligibilityModule",
        "contactsLocationsModule",
        "referencesModule",
        "ipdSharingStatementModule",
    ],
    "resultsSection": [
        "participantFlowModule",
        "baselineCharacteristicsModule",
        "outcomeMeasuresModule",
        "adverseEventsModule",
        "moreInfoModule",
    ],
    "annotationSection": ["annotationModule"],
    "documentSection": ["largeDocumentModule"],
    "derivedSection": [
        "miscInfoModule",
        "conditionBrowseModule",
        "interventionBrowseModule",
    ],
}
_P = "protocolSection."
_PIECES = {
    "NCTId": _P + "identificationModule.nctId",
    "NCTIdAlias": _P + "identificationModule.nctIdAliases",
    "OrgStudyId": _P + "identificationModule.orgStudyIdInfo.id",
    "SecondaryId": _P + "identificationModule.secondaryIdInfos[].id",
    "BriefTitle": _P + "identificationModule.briefTitle",
    "OfficialTitle": _P + "identificationModule.officialTitle",
    "Acronym": _P + "identificationModule.acronym",
    "OrgFullName": _P + "identificationModule.organization.fullName",
    "OverallStatus": _P + "statusModule.overallStatus",
    "LastKnownStatus": _P + "statusModule.lastKnownStatus",
    "WhyStopped": _P + "statusModule.whyStopped",
    "StatusVerifiedDate": _P + "statusModule.statusVerifiedDate",
    "StartDate": _P + "statusModule.startDateStruct.date",
    "StartDateType": _P + "statusModule.startDateStruct.type",
    "PrimaryCompletionDate": _P + "statusModule.primaryCompletionDateStruct.date",
    "PrimaryCompletionDateType": _P + "statusModule.primaryCompletionDateStruct.type",
    "CompletionDate": _P + "statusModule.completionDateStruct.date",
    "CompletionDateType": _P + "statusModule.completionDateStruct.type",
    "StudyFirstSubmitDate": _P + "statusModule.studyFirstSubmitDate",
    "StudyFirstPostDate": _P + "statusModule.studyFirstPostDateStruct.date",
    "LastUpdateSubmitDate": _P + "statusModule.lastUpdateSubmitDate",
    "LastUpdatePostDate": _P + "statusModule.lastUpdatePostDateStruct.date",
    "ResultsFirstPostDate": _P + "statusModule.resultsFirstPostDateStruct.date",
    "LeadSponsor": _P + "sponsorCollaboratorsModule.leadSponsor",
    "LeadSponsorName": _P + "sponsorCollaboratorsModule.leadSponsor.name",
    "LeadSponsorClass": _P + "sponsorCollaboratorsModule.leadSponsor.class",
    "Collaborator": _P + "sponsorCollaboratorsModule.collaborators",
    "CollaboratorName": _P + "sponsorCollaboratorsModule.collaborators[].name",
    "BriefSummary": _P + "descriptionModule.briefSummary",
    "DetailedDescription": _P + "descriptionModule.detailedDescription",
    "Condition": _P + "conditionsModule.conditions",
    "Keyword": _P + "conditionsModule.keywords",
    "StudyType": _P + "designModule.studyType",
    "Phase": _P + "designModule.phases",
    "EnrollmentInfo": _P + "designModule.enrollmentInfo",
    "EnrollmentCount": _P + "designModule.enrollmentInfo.count",
    "EnrollmentType": _P + "designModule.enrollmentInfo.type",
    "ArmGroup": _P + "armsInterventionsModule.armGroups",
    "ArmGroupLabel": _P + "armsInterventionsModule.armGroups[].label",
    "Intervention": _P + "armsInterventionsModule.interventions",
    "InterventionName": _P + "armsInterventionsModule.interventions[].name",
    "InterventionType": _P + "armsInterventionsModule.interventions[].type",
    "InterventionOtherName": _P + "armsInterventionsModule.interventions[].otherNames",
    "PrimaryOutcome": _P + "outcomesModule.primaryOutcomes",
    "SecondaryOutcome": _P + "outcomesModule.secondaryOutcomes",
    "EligibilityCriteria": _P + "eligibilityModule.eligibilityCriteria",
    "MinimumAge": _P + "eligibilityModule.minimumAge",
    "MaximumAge": _P + "eligibilityModule.maximumAge",
    "Sex": _P + "eligibilityModule.sex",
    "Location": _P + "contactsLocationsModule.locations",
    "LocationFacility": _P + "contactsLocationsModule.locations[].facility",
    "LocationCity": _P + "contactsLocationsModule.locations[].city",
    "LocationState": _P + "contactsLocationsModule.locations[].state",
    "LocationZip": _P + "contactsLocationsModule.locations[].zip",
    "LocationCountry": _P + "contactsLocationsModule.locations[].country",
    "LocationGeoPoint": _P + "contactsLocationsModule.locations[].geoPoint",
    "LocationStatus": _P + "contactsLocationsModule.locations[].status",
    "CentralContact": _P + "contactsLocationsModule.centralContacts",
    "Reference": _P + "referencesModule.references",
    "VersionHolder": "derivedSection.miscInfoModule.versionHolder",
    "HasResults": "hasResults",
}


def _field_paths() -> dict[str, list[str]]:
    paths: dict[str, list[str]] = {}
    for section, modules in _MODULES.items():
        paths[section.lower()] = [section]
        for module in modules:
            paths[module.lower()] = [section, module]
    for name, dotted in _PIECES.items():
        paths[name.lower()] = dotted.split(".")
    return paths


FIELD_PATHS = _field_paths()
_MISSING = object()


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[|,]", value) if item.strip()]


def parse_fields(value: str) -> list[list[str]]:
    names = _split_list(value)
    if not names:
        raise BadRequest("fields must be a non-empty comma- or pipe-separated list")
    paths = []
    for name in names:
        path = FIELD_PATHS.get(name.lower())
        if path is None:
            raise BadRequest(f"Unknown field: {name}")
        paths.append(path)
    return paths


def _extract(src: Any, segs: list[str]) -> Any:
    if not segs:
        return copy.deepcopy(src)
    seg, rest = segs[0], segs[1:]
    if not isinstance(src, dict):
        return _MISSING
    if seg.endswith("[]"):
        items = src.get(seg[:-2])
        if not isinstance(items, list):
            return _MISSING
        out = []
        for item in items:
            value = _extract(item, rest)
            out.append({} if value is _MISSING else value)
        return {seg[:-2]: out}
    if seg not in src:
        return _MISSING
    value = _extract(src[seg], rest)
    return _MISSING if value is _MISSING else {seg: value}


def _merge(into: Any, more: Any) -> Any:
    if isinstance(into, dict) and isinstance(more, dict):
        for key, value in more.items():
            into[key] = _merge(into[key], value) if key in into else value
        return into
    if isinstance(into, list) and isinstance(more, list) and len(into) == len(more):
        return [_merge(a, b) for a, b in zip(into, more, strict=True)]
    return more


def _reorder(out: Any, src: Any) -> Any:
    """`out` with its keys in the order of `src` (the real API keeps the record's order)."""
    if isinstance(out, dict) and isinstance(src, dict):
        return {k: _reorder(out[k], src.get(k)) for k in sorted(out, key=list(src).index)}
    if isinstance(out, list) and isinstance(src, list):
        return [_reorder(a, b) for a, b in zip(out, src, strict=False)]
    return out


def trim(study: dict[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    """The record cut down to `paths`, nested the v2 way (what `fields=` answers)."""
    out: dict[str, Any] = {}
    for path in paths:
        part = _extract(study, path)
        if part is not _MISSING:
            _merge(out, part)
    ordered: dict[str, Any] = _reorder(out, study)
    return ordered


# -- Essie-ish expressions -------------------------------------------------------------------


@dataclass
class _Tok:
    kind: str  # ( ) AND OR NOT AREA RANGE PHRASE WORD
    text: str = ""


def _tokenize(expr: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(_Tok(c))
            i += 1
        elif c == '"':
            end = expr.find('"', i + 1)
            if end < 0:
                raise BadRequest(f"Unbalanced quotes in expression: {expr}")
            toks.append(_Tok("PHRASE", expr[i + 1 : end]))
            i = end + 1
        else:
            m = re.match(r"([A-Za-z]+)\[", expr[i:])
            if m:
                op = m.group(1).upper()
                end = expr.find("]", i)
                if end < 0:
                    raise BadRequest(f"Unbalanced brackets in expression: {expr}")
                if op not in ("AREA", "RANGE"):
                    raise BadRequest(f"Operator {op}[] is not supported: {expr}")
                toks.append(_Tok(op, expr[i + len(m.group(0)) : end].strip()))
                i = end + 1
                continue
            m = re.match(r'[^\s()"\[\]]+', expr[i:])
            if not m:
                raise BadRequest(f"Cannot parse expression: {expr}")
            word = m.group(0)
            toks.append(_Tok(word if word in ("AND", "OR", "NOT") else "WORD", word))
            i += len(word)
    return toks


Node = tuple[Any, ...]


class _Parser:
    """OR binds loosest, then AND (explicit or implicit), then NOT and AREA (Essie's order)."""

    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.toks = _tokenize(expr)
        self.pos = 0

    def parse(self) -> Node:
        if not self.toks:
            raise BadRequest("Empty expression")
        node = self._or()
        if self.pos != len(self.toks):
            raise BadRequest(f"Cannot parse expression: {self.expr}")
        return node

    def _peek(self) -> str | None:
        return self.toks[self.pos].kind if self.pos < len(self.toks) else None

    def _or(self) -> Node:
        items = [self._and()]
        while self._peek() == "OR":
            self.pos += 1
            items.append(self._and())
        return items[0] if len(items) == 1 else ("or", items)

    def _and(self) -> Node:
        items = [self._unary()]
        while self._peek() not in (None, "OR", ")"):
            if self._peek() == "AND":
                self.pos += 1
            items.append(self._unary())
        return items[0] if len(items) == 1 else ("and", items)

    def _unary(self) -> Node:
        kind = self._peek()
        if kind == "NOT":
            self.pos += 1
            return ("not", self._unary())
        if kind == "AREA":
            name = self.toks[self.pos].text
            if name.lower() not in AREAS:
                raise BadRequest(f"Unknown search area: AREA[{name}]")
            self.pos += 1
            return ("area", name.lower(), self._unary())
        return self._primary()

    def _primary(self) -> Node:
        kind = self._peek()
        if kind is None:
            raise BadRequest(f"Unexpected end of expression: {self.expr}")
        tok = self.toks[self.pos]
        self.pos += 1
        if kind == "(":
            node = self._or()
            if self._peek() != ")":
                raise BadRequest(f"Unbalanced parentheses in expression: {self.expr}")
            self.pos += 1
            return node
        if kind == "RANGE":
            return ("range", _parse_range(tok.text))
        if kind in ("PHRASE", "WORD"):
            text = " ".join(tok.text.split()).lower()
            if not text:
                raise BadRequest(f"Empty phrase in expression: {self.expr}")
            return ("term", text)
        raise BadRequest(f"Unexpected {tok.text or kind} in expression: {self.expr}")


def _parse_range(text: str) -> tuple[str, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise BadRequest(f"RANGE needs two bounds: RANGE[{text}]")
    return parts[0], parts[1]


def _pad_date(value: str, high: bool) -> str | None:
    if not DATE_PATTERN.match(value):
        return None
    if len(value) == 4:
        value += "-12" if high else "-01"
    if len(value) == 7:
        y, m = int(value[:4]), int(value[5:7])
        if not 1 <= m <= 12:
            return None
        last = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day
        value += f"-{last:02d}" if high else "-01"
    try:
        date.fromisoformat(value)
    except ValueError:
        return None
    return value


def _range_match(kind: str, bounds: tuple[str, str], values: list[Any]) -> bool:
    lo_raw, hi_raw = bounds
    if kind == "date":
        lo = "0000-00-00" if lo_raw.upper() == "MIN" else _pad_date(lo_raw, False)
        hi = "9999-99-99" if hi_raw.upper() == "MAX" else _pad_date(hi_raw, True)
        if lo is None or hi is None:
            raise BadRequest(f"Bad date in RANGE[{lo_raw},{hi_raw}]")
        for value in values:
            if isinstance(value, str) and (padded := _pad_date(value, False)):
                if lo <= padded <= hi:
                    return True
        return False
    if kind == "number":
        try:
            nlo = -math.inf if lo_raw.upper() == "MIN" else float(lo_raw)
            nhi = math.inf if hi_raw.upper() == "MAX" else float(hi_raw)
        except ValueError:
            raise BadRequest(f"Bad number in RANGE[{lo_raw},{hi_raw}]") from None
        return any(
            isinstance(v, int | float) and not isinstance(v, bool) and nlo <= v <= nhi
            for v in values
        )
    raise BadRequest("RANGE[] is only supported on date and number areas")


def validate_expression(node: Node, area: str) -> None:
    """Raise BadRequest for what evaluation would reject, even when no study is there."""
    op = node[0]
    if op in ("or", "and"):
        for child in node[1]:
            validate_expression(child, area)
    elif op == "not":
        validate_expression(node[1], area)
    elif op == "area":
        validate_expression(node[2], node[1])
    elif op == "range":
        _range_match(AREAS[area][0], node[1], [])


class _Entry:
    """A stored record and its lazily built search texts."""

    def __init__(self, study: dict[str, Any]) -> None:
        self.study = study
        self._texts: dict[str, tuple[list[Any], str]] = {}
        self._index(study)

    def _index(self, study: dict[str, Any]) -> None:
        # What filter.ids and the default order read, kept apart so neither decodes a record.
        ident = _ps(study, "identificationModule") or {}
        self.sort_id = str(ident.get("nctId"))
        self.nct = normalize_nct(self.sort_id)
        self.own_aliases = [str(a).upper() for a in _listify(ident.get("nctIdAliases"))]

    def values(self, area: str) -> tuple[list[Any], str]:
        cached = self._texts.get(area)
        if cached is None:
            cached = self._texts[area] = _area_values(self.study, area)
        return cached


def _area_values(study: dict[str, Any], area: str) -> tuple[list[Any], str]:
    """A search area's values in a record, and their text as searches match it."""
    raw = [v for v in AREAS[area][1](study) if v is not None]
    return raw, "\n".join(" ".join(str(v).split()).lower() for v in raw)


class _LeanEntry(_Entry):
    """A record kept only as its JSON (FakeRegistry(lean=True)): tens of thousands of full
    records fit in memory, and search pages are spliced from the stored bytes."""

    def __init__(self, study: dict[str, Any]) -> None:
        self.body = orjson.dumps(study)
        self._texts = {}
        self._index(study)
        for area in LEAN_PRECOMPUTED:
            self._texts[area] = _area_values(study, area)

    @property
    def study(self) -> dict[str, Any]:  # type: ignore[override]
        doc: dict[str, Any] = orjson.loads(self.body)
        return doc


# The incremental sync's date filter: answered without decoding a lean record.
LEAN_PRECOMPUTED = ("lastupdatepostdate",)


class _RawStudies(list[bytes]):
    """Serialised records that _json splices into a page as they are."""


Predicate = Callable[[_Entry, dict[str, str] | None], bool]


def evaluate(node: Node, entry: _Entry, area: str) -> bool:
    op = node[0]
    if op == "or":
        return any(evaluate(child, entry, area) for child in node[1])
    if op == "and":
        return all(evaluate(child, entry, area) for child in node[1])
    if op == "not":
        return not evaluate(node[1], entry, area)
    if op == "area":
        return evaluate(node[2], entry, node[1])
    kind = AREAS[area][0]
    raw, text = entry.values(area)
    if op == "range":
        return _range_match(kind, node[1], raw)
    term: str = node[1]
    if kind == "text":
        return term in text
    if kind == "enum":
        return any(str(v).lower() == term for v in raw)
    if kind == "date":
        return any(isinstance(v, str) and v.startswith(term) for v in raw)
    return any(str(v) == term for v in raw)


def _geo_filter(value: str) -> Predicate:
    m = GEO_PATTERN.match(value.replace(" ", ""))
    if not m:
        raise BadRequest(f"Invalid geo filter: {value}")
    lat0, lon0, dist = float(m.group(1)), float(m.group(2)), float(m.group(3))
    km = dist * (1.609344 if (m.group(4) or "mi") == "mi" else 1.0)

    def match(entry: _Entry, aliases: dict[str, str] | None) -> bool:
        for loc in _listify(_ps(entry.study, "contactsLocationsModule", "locations")):
            point = loc.get("geoPoint") if isinstance(loc, dict) else None
            if not isinstance(point, dict):
                continue
            lat, lon = point.get("lat"), point.get("lon")
            if not isinstance(lat, int | float) or not isinstance(lon, int | float):
                continue
            p1, p2 = math.radians(lat0), math.radians(lat)
            dp, dl = p2 - p1, math.radians(lon - lon0)
            a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
            if 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a))) <= km:
                return True
        return False

    return match


# -- faults and the request log --------------------------------------------------------------


@dataclass
class Request:
    """One request as the fake saw it; `status` is what was sent (0: connection dropped)."""

    method: str
    path: str
    params: dict[str, str]
    status: int = 0
    range: str | None = None  # the Range header of an archive request


@dataclass
class Fault:
    kind: str
    times: int
    path: str = ""
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, message.encode(), "text/plain", headers or {})


def _json(payload: Any) -> Response:
    studies = payload.get("studies") if isinstance(payload, dict) else None
    if isinstance(studies, _RawStudies):
        rest = json.dumps({k: v for k, v in payload.items() if k != "studies"})[1:-1]
        body = b'{"studies":[' + b",".join(studies) + b"]"
        return Response(200, body + (b"," + rest.encode() if rest else b"") + b"}")
    return Response(200, json.dumps(payload, ensure_ascii=False).encode())


def _endpoint(path: str) -> str:
    if path == "/api/v2/version":
        return "version"
    if path in ("/api/v2/studies", "/api/v2/studies/"):
        return "search"
    if re.fullmatch(r"/api/v2/studies/[^/]+", path):
        return "study"
    if re.fullmatch(r"/api/int/studies/[^/]+", path):
        return "history"
    if re.fullmatch(r"/api/int/studies/[^/]+/history/[^/]+", path):
        return "history_version"
    return "other"


def _fault_applies(fault: Fault, path: str, endpoint: str) -> bool:
    if not path.startswith(fault.path):
        return False
    if fault.kind == "empty_page_with_token" or fault.kind in PAGE_FAULTS:
        return endpoint == "search"
    if fault.kind in RECORD_FAULTS:
        return endpoint in ("search", "study", "history", "history_version")
    return True


def _break_record(kind: str, study: dict[str, Any]) -> None:
    if kind == "missing_protocol":
        study.pop("protocolSection", None)
    elif kind == "wrong_types":
        design = _dig(study, "protocolSection", "designModule")
        if isinstance(design, dict):
            info = design.get("enrollmentInfo")
            if isinstance(info, dict) and "count" in info:
                info["count"] = str(info["count"])
            if isinstance(design.get("phases"), list):
                design["phases"] = ", ".join(map(str, design["phases"]))
    elif kind == "unknown_fields":
        study["futureSection"] = {"futureModule": {"futureField": "added by a newer API"}}
        protocol = study.get("protocolSection")
        if isinstance(protocol, dict):
            protocol["aiSummaryModule"] = {"summary": "A module this client has never seen."}


def _edited(study: dict[str, Any]) -> dict[str, Any]:
    """A copy of a study with its brief title edited (a lying second copy)."""
    ident = study.setdefault("protocolSection", {}).setdefault("identificationModule", {})
    ident["briefTitle"] = f"{ident.get('briefTitle') or 'Untitled'} (edited copy)"
    return study


def _add_aliases(study: dict[str, Any], olds: list[str]) -> None:
    if not olds:
        return
    ident = study.setdefault("protocolSection", {}).setdefault("identificationModule", {})
    ident["nctIdAliases"] = sorted({*_listify(ident.get("nctIdAliases")), *olds})


def _token(offset: int, digest: str) -> str:
    raw = json.dumps({"o": offset, "h": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
        offset, digest = doc["o"], doc["h"]
    except (ValueError, KeyError, TypeError):
        raise BadRequest(f"Invalid pageToken: {token}") from None
    if not isinstance(offset, int) or offset < 0 or not isinstance(digest, str):
        raise BadRequest(f"Invalid pageToken: {token}")
    return offset, digest


# -- the registry ------------------------------------------------------------------------------


class FakeRegistry:
    """A mutable, thread-safe ClinicalTrials.gov served over HTTP on 127.0.0.1."""

    def __init__(self, *, lean: bool = False) -> None:
        # lean: records kept as JSON bytes, filter.ids answered from an index (benchmarks with
        # tens of thousands of full records); filter.ids then matches a record's own ID and the
        # aliases made with alias(), not nctIdAliases a record was put with.
        self.lean = lean
        self._entry: type[_Entry] = _LeanEntry if lean else _Entry
        self._lock = threading.RLock()
        self._studies: dict[str, _Entry] = {}
        self._aliases: dict[str, str] = {}
        self._history: dict[str, tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]] = {}
        self._timestamp = DEFAULT_DATA_TIMESTAMP
        self._requests: list[Request] = []
        self._faults: list[Fault] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []  # handler crashes, answered with 500; for debugging tests
        # The spec: filter.ids is "searched in NCTId and NCTIdAlias", so asking for an alias
        # answers with the record it now belongs to. False: aliases match nothing in searches.
        self.ids_match_aliases = True
        # The whole-registry archive (sync.testing.archive): bytes or a file, None until
        # published; Range requests honoured unless archive_ranges is off; each number in
        # archive_cuts cuts one answer's body after that many bytes; archive_delay sleeps
        # between 256 KB pieces (a slow download to kill).
        self.archive: bytes | Path | None = None
        self.archive_etag = '"ctg-studies-1"'
        self.archive_ranges = True
        self.archive_cuts: list[int] = []
        self.archive_delay = 0.0

    # -- lifecycle

    def start(self) -> FakeRegistry:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.registry = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake registry is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2"

    @property
    def history_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/int"

    # -- data

    def put(self, study: dict[str, Any]) -> None:
        """Add or replace a record; it lists the aliases that point to it, as the registry's do."""
        nct = _nct_of(study)
        with self._lock:
            self._aliases.pop(nct, None)
            olds = [old for old, new in self._aliases.items() if new == nct]
            # A lean entry serialises the record: no copy is needed to keep the caller's apart.
            stored = study if self.lean and not olds else copy.deepcopy(study)
            _add_aliases(stored, olds)
            self._studies[nct] = self._entry(stored)

    def ids(self) -> list[str]:
        """Every study's NCT ID, sorted."""
        with self._lock:
            return sorted(self._studies)

    def publish_archive(self, dest: Path | None = None) -> bytes | Path:
        """Make the whole-registry archive of the studies as they are now (see archive)."""
        return fake_archive.publish(self, dest)

    def get(self, nct_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._studies.get(normalize_nct(nct_id))
            return copy.deepcopy(entry.study) if entry else None

    def delete(self, nct_id: str) -> None:
        with self._lock:
            self._studies.pop(normalize_nct(nct_id), None)

    def alias(self, old_id: str, new_id: str) -> None:
        """OLD now redirects to NEW: OLD's own record (if any) is gone and NEW's lists OLD in
        identificationModule.nctIdAliases."""
        old, new = normalize_nct(old_id), normalize_nct(new_id)
        with self._lock:
            self._studies.pop(old, None)
            self._aliases[old] = new
            entry = self._studies.get(new)
            if entry is not None:
                stored = copy.deepcopy(entry.study)
                _add_aliases(stored, [old])
                self._studies[new] = self._entry(stored)

    def set_history(
        self, nct_id: str, changes: list[dict[str, Any]], versions: dict[int, dict[str, Any]]
    ) -> None:
        with self._lock:
            self._history[normalize_nct(nct_id)] = (
                copy.deepcopy(changes),
                {int(k): copy.deepcopy(v) for k, v in versions.items()},
            )

    @property
    def data_timestamp(self) -> str:
        with self._lock:
            return self._timestamp

    @data_timestamp.setter
    def data_timestamp(self, ts: str) -> None:
        self.set_data_timestamp(ts)

    def set_data_timestamp(self, ts: str) -> None:
        datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S")  # the real format; fail early on typos
        with self._lock:
            self._timestamp = ts

    def bump(self) -> str:
        with self._lock:
            when = datetime.strptime(self._timestamp, "%Y-%m-%dT%H:%M:%S") + timedelta(days=1)
            self._timestamp = when.strftime("%Y-%m-%dT%H:%M:%S")
            return self._timestamp

    # -- requests and faults

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def count(self, path_prefix: str = "") -> int:
        with self._lock:
            return sum(1 for r in self._requests if r.path.startswith(path_prefix))

    def add_fault(
        self,
        kind: str,
        *,
        times: int = 1,
        path: str = "",
        status: int = 503,
        retry_after: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queue a misbehaviour for the next `times` requests under `path` it applies to.

        Record faults (missing_protocol, wrong_types, unknown_fields) only apply to answers
        that carry records, `empty_page_with_token` only to GET /api/v2/studies.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(Fault(kind, times, path, status, retry_after, delay))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _log(
        self, method: str, path: str, params: dict[str, str], *, consume: bool = True
    ) -> tuple[Request, Fault | None]:
        """Log a request on arrival and take the first queued fault that applies to it."""
        endpoint = _endpoint(path)
        with self._lock:
            request = Request(method, path, params)
            self._requests.append(request)
            for fault in self._faults if consume else []:
                if _fault_applies(fault, path, endpoint):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return request, copy.copy(fault)
            return request, None

    # -- answering

    def answer(self, path: str, params: dict[str, str], fault: Fault | None) -> Response:
        endpoint = _endpoint(path)
        kind = fault.kind if fault else None
        try:
            if endpoint == "version":
                return _json({"apiVersion": API_VERSION, "dataTimestamp": self.data_timestamp})
            if endpoint == "search":
                payload = self._search(
                    params,
                    empty_page=kind == "empty_page_with_token",
                    raw_ok=kind not in RECORD_FAULTS and kind not in PAGE_FAULTS,
                    lie=kind if kind in PAGE_FAULTS else None,
                )
                records = payload["studies"]
            elif endpoint == "study":
                found = self._study(path.rsplit("/", 1)[1], params)
                if isinstance(found, Response):
                    return found
                payload, records = found, [found]
            elif endpoint == "history":
                payload = self._history_summary(path.rsplit("/", 1)[1], params)
                records = [payload["study"]]
            elif endpoint == "history_version":
                parts = path.split("/")
                payload = self._history_version(parts[4], parts[6])
                records = [payload["study"]]
            else:
                return _text(404, f"Not Found: {path}")
        except BadRequest as exc:
            return _text(400, str(exc))
        except LookupError as exc:
            return _text(404, str(exc.args[0]) if exc.args else "Not Found")
        if kind in RECORD_FAULTS:
            for record in records:
                if isinstance(record, dict):
                    _break_record(kind, record)
        return _json(payload)

    def _study(self, raw_id: str, params: dict[str, str]) -> dict[str, Any] | Response:
        _check_params(params, STUDY_PARAMS)
        _check_format(params)
        paths = parse_fields(params["fields"]) if "fields" in params else None
        nct = normalize_nct(raw_id)
        with self._lock:
            entry = self._studies.get(nct)
            target = self._aliases.get(nct)
            study = copy.deepcopy(entry.study) if entry else None
        if study is None and target is not None:
            query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
            location = f"/api/v2/studies/{target}" + (f"?{query}" if query else "")
            return Response(301, b"", "text/plain", {"Location": location})
        if study is None:
            raise LookupError(f"NCT number {nct} not found")
        return trim(study, paths) if paths else study

    def _history_summary(self, raw_id: str, params: dict[str, str]) -> dict[str, Any]:
        if params.get("history", "").lower() != "true":
            raise BadRequest("the fake serves /api/int/studies/{nctId} only with history=true")
        nct = normalize_nct(raw_id)
        with self._lock:
            found = self._history.get(nct)
            entry = self._studies.get(nct)
            if found is None:
                raise LookupError(f"NCT number {nct} not found")
            changes, versions = found
            if entry is not None:
                current = entry.study
            elif versions:
                current = versions[max(versions)]
            else:
                current = {}
            return {
                "study": copy.deepcopy(current),
                "topics": {},
                "history": {
                    "changes": copy.deepcopy(changes),
                    "originalData": {},
                    "lastUpdateVersions": {},
                    "outcomesUpdateCount": 0,
                },
            }

    def _history_version(self, raw_id: str, raw_version: str) -> dict[str, Any]:
        nct = normalize_nct(raw_id)
        with self._lock:
            found = self._history.get(nct)
            version = int(raw_version) if raw_version.isdigit() else -1
            if found is None or version not in found[1]:
                raise LookupError(f"Version {raw_version} of {nct} not found")
            return {"studyVersion": version, "study": copy.deepcopy(found[1][version])}

    def _search(
        self,
        params: dict[str, str],
        *,
        empty_page: bool,
        raw_ok: bool = False,
        lie: str | None = None,
    ) -> dict[str, Any]:
        _check_params(params, SEARCH_PARAMS)
        _check_format(params)
        size = _page_size(params.get("pageSize"))
        count_total = params.get("countTotal", "false").lower()
        if count_total not in ("true", "false"):
            raise BadRequest(f"countTotal must be true or false, not {params['countTotal']}")
        digest = hashlib.sha256(
            json.dumps(sorted((k, v) for k, v in params.items() if k not in PAGING_PARAMS)).encode()
        ).hexdigest()[:16]
        first = "pageToken" not in params
        offset = 0
        if not first:
            offset, token_digest = _untoken(params["pageToken"])
            if token_digest != digest:
                raise BadRequest(
                    "pageToken does not belong to these parameters: repeat every parameter of "
                    "the first page except pageSize, pageToken and countTotal"
                )
        paths = parse_fields(params["fields"]) if "fields" in params else None
        predicates = _search_predicates(params)
        sorters = _parse_sort(params.get("sort", ""))

        with self._lock:
            aliases = dict(self._aliases) if self.ids_match_aliases else None
            candidates = self._id_candidates(params, aliases)
            hits = [e for e in candidates if all(p(e, aliases) for p in predicates)]
            hits.sort(key=lambda e: e.sort_id)
            for area, desc in reversed(sorters):
                hits.sort(key=functools.partial(_sort_key, area=area, desc=desc), reverse=desc)
            total = len(hits)
            chosen = [] if empty_page else hits[offset : offset + size]
            if self.lean and raw_ok and not paths:
                studies: list[Any] = _RawStudies(
                    e.body for e in chosen if isinstance(e, _LeanEntry)
                )
            else:
                page = [copy.deepcopy(e.study) for e in chosen]
                if lie == "repeat_previous_different" and 0 < offset <= len(hits):
                    page.append(_edited(copy.deepcopy(hits[offset - 1].study)))
                elif lie in ("duplicate_identical", "duplicate_different"):
                    twice = [copy.deepcopy(x) for x in page]
                    if lie == "duplicate_different":
                        twice = [_edited(x) for x in twice]
                    page = page + twice
                studies = [trim(s, paths) for s in page] if paths else page

        payload: dict[str, Any] = {"studies": studies}
        if first and count_total == "true":
            payload["totalCount"] = total
        if empty_page:
            payload["nextPageToken"] = _token(offset, digest)
        elif lie == "endless_tokens":
            payload["nextPageToken"] = _token(offset + size, digest)
        elif offset + size < total:
            payload["nextPageToken"] = _token(offset + size, digest)
        return payload

    def _id_candidates(
        self, params: dict[str, str], aliases: dict[str, str] | None
    ) -> Iterable[_Entry]:
        """Every record, or in lean mode the few a filter.ids query can match (looked up)."""
        ids = params.get("filter.ids", "").strip()
        if not self.lean or not ids or any(params.get(name) for name in QUERY_AREAS):
            return self._studies.values()
        found: dict[str, _Entry] = {}
        for raw in re.split(r"[|,\s]+", ids):
            if not raw:
                continue
            nct = normalize_nct(raw)
            for name in (nct, (aliases or {}).get(nct)):
                entry = self._studies.get(name) if name else None
                if entry is not None:
                    found[entry.nct] = entry
        return found.values()


def _check_params(params: dict[str, str], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise BadRequest(f"Unknown parameter: {name}")


def _check_format(params: dict[str, str]) -> None:
    if params.get("format", "json") != "json":
        raise BadRequest(f"format={params['format']} is not served by the fake (json only)")
    if params.get("markupFormat", "markdown") not in ("markdown", "legacy"):
        raise BadRequest(f"Invalid markupFormat: {params['markupFormat']}")


def _page_size(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise BadRequest(f"pageSize must be an integer, not {raw}") from None
    if size < 0:
        raise BadRequest(f"pageSize must not be negative: {raw}")
    return min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _parse_sort(value: str) -> list[tuple[str, bool]]:
    items = _split_list(value)
    if len(items) > 2:
        raise BadRequest("sort takes at most two items")
    out = []
    for item in items:
        name, _, direction = item.partition(":")
        name, direction = name.strip(), direction.strip().lower()
        if direction not in ("", "asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {item}")
        if name == "@relevance":
            continue  # no ranking in the fake: relevance order is nctId order
        if name.lower() not in SORTABLE:
            raise BadRequest(f"Cannot sort by {name}: only date and numeric fields")
        kind = SORTABLE[name.lower()][0]
        desc = direction == "desc" if direction else kind == "date"
        out.append((name.lower(), desc))
    return out


def _sort_key(entry: _Entry, area: str, desc: bool) -> tuple[int, Any]:
    raw, _ = entry.values(area)
    value = next((v for v in raw if v is not None), None)
    kind = SORTABLE[area][0]
    if value is None:
        # Studies missing the sort field are always last, whatever the direction.
        return (0 if desc else 1, "" if kind == "date" else 0)
    return (1 if desc else 0, value if kind == "date" else float(value))


def _ids_predicate(value: str) -> Predicate:
    wanted = {normalize_nct(v) for v in re.split(r"[|,\s]+", value) if v}
    if not wanted:
        raise BadRequest("filter.ids needs at least one NCT number")

    def match(entry: _Entry, aliases: dict[str, str] | None) -> bool:
        nct = entry.nct
        names = {nct}
        if aliases is not None:
            names.update(a for a, target in aliases.items() if target == nct)
            names.update(entry.own_aliases)
        return not wanted.isdisjoint(names)

    return match


def _status_predicate(value: str) -> Predicate:
    wanted = set(_split_list(value))
    if not wanted:
        raise BadRequest("overallStatus filter needs at least one status")
    for status in wanted:
        if status not in STATUSES:
            raise BadRequest(f"Invalid overallStatus value: {status}")

    def match(entry: _Entry, aliases: dict[str, str] | None) -> bool:
        return _ps(entry.study, "statusModule", "overallStatus") in wanted

    return match


def _expr_predicate(value: str, area: str) -> Predicate:
    node = _Parser(value).parse()
    validate_expression(node, area)

    def match(entry: _Entry, aliases: dict[str, str] | None) -> bool:
        return evaluate(node, entry, area)

    return match


def _search_predicates(params: dict[str, str]) -> list[Predicate]:
    predicates: list[Predicate] = []
    ids_only = False
    for name, area in QUERY_AREAS.items():
        value = params.get(name, "").strip()
        if not value:
            continue
        if NCT_ONLY_QUERY.match(value):
            # The real API looks such queries up as IDs and then ignores every filter.
            ids_only = True
            predicates.append(_ids_predicate(value))
        else:
            predicates.append(_expr_predicate(value, area))
    filters: list[Predicate] = []
    for prefix in ("filter.", "postFilter."):
        if value := params.get(prefix + "ids", "").strip():
            filters.append(_ids_predicate(value))
        if prefix + "overallStatus" in params:
            filters.append(_status_predicate(params[prefix + "overallStatus"]))
        if value := params.get(prefix + "advanced", "").strip():
            filters.append(_expr_predicate(value, "basicsearch"))
        if value := params.get(prefix + "geo", "").strip():
            filters.append(_geo_filter(value))
    return predicates if ids_only else predicates + filters


# -- HTTP ------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    registry: FakeRegistry

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def drop_connections(self) -> None:
        """Close kept-alive connections, so a closed fake stops answering at once."""
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away is not the fake's problem; never print to stderr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeCtgov/1.0"
    sys_version = ""
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        registry = self.server.registry
        split = urlsplit(self.path)
        params: dict[str, str] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            # Repeated parameters are joined, the way the real (Spring) server binds lists.
            params[key] = f"{params[key]},{value}" if key in params else value
        request, fault = registry._log("GET", split.path, params)
        try:
            if split.path == fake_archive.ARCHIVE_PATH and (
                fault is None or fault.kind not in ("status", "drop")
            ):
                request.range = self.headers.get("Range")
                request.status = fake_archive.serve(self, registry, params)
                return
            self._answer(registry, request, split.path, params, fault)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # the server thread must survive anything
            registry.errors.append(f"{type(exc).__name__}: {exc}")
            self.close_connection = True
            with suppress(Exception):
                request.status = 500
                self._write(_text(500, f"fake ctgov internal error: {exc}"))

    def _answer(
        self,
        registry: FakeRegistry,
        request: Request,
        path: str,
        params: dict[str, str],
        fault: Fault | None,
    ) -> None:
        kind = fault.kind if fault else None
        if fault is not None and kind == "drop":
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            try:
                phrase = HTTPStatus(fault.status).phrase
            except ValueError:
                phrase = "Error"
            response = _text(fault.status, f"{fault.status} {phrase}", headers)
        elif kind == "invalid_json":
            response = Response(200, INVALID_JSON_BODY)
        elif kind == "html200":
            response = Response(200, HTML_ERROR_PAGE.encode(), "text/html; charset=utf-8")
        else:
            if fault is not None and kind == "slow":
                time.sleep(fault.delay)
            response = registry.answer(path, params, fault)
        request.status = response.status
        if fault is not None and kind == "drip":
            self._write(response, drip=fault.delay)
        elif kind == "truncated":
            self._write(response, truncate=True)
        else:
            self._write(response)

    def _write(
        self, response: Response, *, drip: float | None = None, truncate: bool = False
    ) -> None:
        body = response.body
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if truncate:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        elif drip is not None:
            self.wfile.flush()
            # At most 10 pieces: the whole trickle takes about 10 * delay, whatever the size.
            step = max(8, -(-len(body) // 10))
            for start in range(0, len(body), step):
                time.sleep(drip)
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
        else:
            self.wfile.write(body)

    def _not_allowed(self) -> None:
        split = urlsplit(self.path)
        request, _ = self.server.registry._log(self.command, split.path, {}, consume=False)
        request.status = 405
        self.close_connection = True  # the request body, if any, was not read
        with suppress(OSError):
            # Say so: a client that is not told keeps the connection and its next request
            # meets a closed socket.
            self._write(
                _text(405, f"Method {self.command} not allowed", headers={"Connection": "close"})
            )

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815


@contextmanager
def serve() -> Iterator[FakeRegistry]:
    """A started fake registry, closed on exit."""
    registry = FakeRegistry().start()
    try:
        yield registry
    finally:
        registry.close()

