"""Which parts of an API v2 record each AACT table's rows are read from, so that a version
that leaves a table's parts as they were is not mapped again for that table (most versions
change a date or two of the status module and nothing else). Pure.

A part is a path from the top: a section, a module ("protocolSection", "statusModule"), or a
field of one. A table not listed here is mapped at every version. tests/unit/test_aact_parts.py
checks on every real record that a table's rows come from its parts alone (the rest of the
record removed, the same rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

Part = tuple[str, ...]

_PS = "protocolSection"
_RS = "resultsSection"


def _ps(*modules: str) -> tuple[Part, ...]:
    return tuple((_PS, m) for m in modules)


_CONTACTS = _ps("contactsLocationsModule")
_ARMS = _ps("armsInterventionsModule")
# The results tables find their groups in every results module: the whole section.
_RESULTS: tuple[Part, ...] = ((_RS,),)

READS: dict[str, tuple[Part, ...]] = {
    "studies": (
        *_ps("armsInterventionsModule", "designModule", "identificationModule",
             "ipdSharingStatementModule", "oversightModule", "statusModule"),
        *_RESULTS,
    ),
    "brief_summaries": _ps("descriptionModule"),
    "detailed_descriptions": _ps("descriptionModule"),
    "designs": _ps("designModule"),
    "eligibilities": _ps("eligibilityModule"),
    "conditions": _ps("conditionsModule"),
    "keywords": _ps("conditionsModule"),
    "browse_conditions": (("derivedSection", "conditionBrowseModule"),),
    "browse_interventions": (("derivedSection", "interventionBrowseModule"),),
    "design_groups": _ARMS,
    "interventions": _ARMS,
    "intervention_other_names": _ARMS,
    "design_group_interventions": _ARMS,
    "design_outcomes": _ps("outcomesModule"),
    "facilities": _CONTACTS,
    "facility_contacts": _CONTACTS,
    "facility_investigators": _CONTACTS,
    "countries": (*_CONTACTS, ("derivedSection", "miscInfoModule")),
    "central_contacts": _CONTACTS,
    "overall_officials": _CONTACTS,
    "sponsors": _ps("sponsorCollaboratorsModule"),
    "responsible_parties": _ps("sponsorCollaboratorsModule"),
    "id_information": _ps("identificationModule"),
    "study_references": _ps("referencesModule"),
    "links": _ps("referencesModule"),
    "ipd_information_types": _ps("ipdSharingStatementModule"),
    # Not the whole status module, which every update changes (its last-update dates).
    "calculated_values": (
        *_ps("contactsLocationsModule", "eligibilityModule", "outcomesModule"),
        *((_PS, "statusModule", key) for key in (
            "startDateStruct", "primaryCompletionDateStruct", "resultsFirstSubmitDate",
            "studyFirstSubmitDate",
        )),
        (_RS, "adverseEventsModule"),
        (_RS, "outcomeMeasuresModule"),
    ),
    **dict.fromkeys(
        (
            "result_groups", "outcomes", "outcome_measurements", "outcome_counts",
            "outcome_analyses", "outcome_analysis_groups", "baseline_measurements",
            "baseline_counts", "milestones", "drop_withdrawals", "reported_events",
            "reported_event_totals", "participant_flows",
        ),
        _RESULTS,
    ),
}  # fmt: skip


def only(study: Any, parts: tuple[Part, ...]) -> dict[str, Any]:
    """The record with nothing but `parts` (what a table must read its rows from)."""
    out: dict[str, Any] = {}
    for part in parts:
        node, copy = study, out
        for depth, key in enumerate(part):
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
            if depth == len(part) - 1:
                copy[key] = node
            elif isinstance(node, dict):
                copy = copy.setdefault(key, {})
            else:
                copy[key] = node  # not an object: the table sees it as it is
                break
    return out


class Changes:
    """A study's parts, version after version: which differ from the version before. Each
    part is encoded once a version, as JSON bytes: equal bytes are equal JSON values (`==`
    would take 1, 1.0 and true for one another)."""

    def __init__(self, wanted: Iterable[Part]) -> None:
        self.wanted = tuple(dict.fromkeys(wanted))
        self.last: dict[Part, object] = {}

    def next(self, study: Any) -> set[Part]:
        now = {part: encode(study, part) for part in self.wanted}
        changed = {part for part, value in now.items() if self.last.get(part) != value}
        self.last = now
        return changed


def encode(study: Any, part: Part) -> object:
    """The part's value as JSON; a missing key, or a level that is not an object, encoded
    apart from a JSON null (a table may tell them apart). A value JSON cannot encode (a
    record not read from JSON) gives a key equal to no other: mapped every time."""
    try:
        return _encode(study, part)
    except orjson.JSONEncodeError:
        return object()


def _encode(study: Any, part: Part) -> bytes:
    node = study
    for key in part:
        if not isinstance(node, dict):
            return b"~" + orjson.dumps(node)
        if key not in node:
            return b"-"
        node = node[key]
    return orjson.dumps(node)


def reads(tables: Mapping[str, Any]) -> dict[str, tuple[Part, ...]]:
    """The parts of each of `tables` that has them listed."""
    return {name: READS[name] for name in tables if name in READS}
