"""The registry's record history read and planned: its version list, bodies, what to fetch."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sync.core import record
from sync.core import text as htmltext

OVERALL_STATUS = "Overall Status"

# --only-modules names -> the registry's moduleLabels (the history list names the modules each
# version touched with these labels).
MODULES: dict[str, tuple[str, ...]] = {
    "identification": ("Study Identification",),
    "status": ("Study Status",),
    "sponsor": ("Sponsor/Collaborators",),
    "oversight": ("Oversight",),
    "description": ("Study Description",),
    "conditions": ("Conditions",),
    "design": ("Study Design",),
    "arms": ("Arms and Interventions",),
    "interventions": ("Arms and Interventions",),
    "outcomes": ("Outcome Measures",),
    "eligibility": ("Eligibility",),
    "contacts": ("Contacts/Locations",),
    "locations": ("Contacts/Locations",),
    "sites": ("Contacts/Locations",),
    "ipd": ("IPD Sharing Statement",),
    "references": ("References",),
    # Not a registry label: the versions whose listed overall status differs from the one
    # before. Every submission touches "Study Status" (its last-update dates live there), so
    # this is the cheap way to the status timeline; date-only updates are left out.
    "overall-status": (OVERALL_STATUS,),
    "results": (
        "Participant Flow",
        "Baseline Characteristics",
        "Results Outcome Measures",
        "Adverse Events",
        "More Information",
    ),
}
_LABELS = {label.lower(): label for labels in MODULES.values() for label in labels}
_DATE_RE = re.compile(r"^\d{4}-\d{2}(?:-\d{2})?$")


class HistoryShapeError(ValueError):
    """The history endpoints answered in a shape backfill does not know (they are undocumented)."""


def parse_modules(spec: str) -> list[str]:
    """`status,eligibility` (names or the registry's own labels) -> the moduleLabels wanted."""
    labels: set[str] = set()
    for raw in spec.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name in MODULES:
            labels.update(MODULES[name])
        elif name in _LABELS:
            labels.add(_LABELS[name])
        else:
            raise ValueError(f"unknown module {raw.strip()!r}; known: {', '.join(MODULES)}")
    if not labels:
        raise ValueError("--only-modules needs at least one module, e.g. status,eligibility")
    return sorted(labels)


@dataclass(frozen=True)
class ListedVersion:
    """One entry of the registry's version list."""

    version: int
    date: str | None
    status: str | None
    labels: tuple[str, ...]


def parse_history_list(doc: Any, nct_id: str) -> list[ListedVersion]:
    """The `history.changes` of a `?history=true` answer, checked and sorted by version."""
    history = doc.get("history") if isinstance(doc, dict) else None
    changes = history.get("changes") if isinstance(history, dict) else None
    if not isinstance(changes, list):
        raise HistoryShapeError(f"history of {nct_id}: no history.changes list in the answer")
    out: dict[int, ListedVersion] = {}
    for item in changes:
        version = item.get("version") if isinstance(item, dict) else None
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise HistoryShapeError(f"history of {nct_id}: an entry without a version number")
        date, status, labels = item.get("date"), item.get("status"), item.get("moduleLabels")
        if date is not None and not (isinstance(date, str) and _DATE_RE.match(date)):
            raise HistoryShapeError(f"history of {nct_id} v{version}: bad date {date!r}")
        if status is not None and not isinstance(status, str):
            raise HistoryShapeError(f"history of {nct_id} v{version}: bad status {status!r}")
        if labels is None:
            labels = []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise HistoryShapeError(f"history of {nct_id} v{version}: bad moduleLabels")
        if version in out:
            raise HistoryShapeError(f"history of {nct_id}: version {version} listed twice")
        out[version] = ListedVersion(version, date, status, tuple(labels))
    if not out:
        raise HistoryShapeError(f"history of {nct_id}: the registry lists no versions")
    return [out[v] for v in sorted(out)]


def parse_version_doc(doc: Any, nct_id: str, version: int) -> dict[str, Any]:
    """The record of one `/history/{v}` answer, its HTML text fields as Markdown."""
    study = doc.get("study") if isinstance(doc, dict) else None
    if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
        raise HistoryShapeError(f"history of {nct_id} v{version}: no study.protocolSection")
    try:
        found = record.nct_id_of(study)
    except record.RecordError as exc:
        raise HistoryShapeError(f"history of {nct_id} v{version}: {exc}") from None
    if found != nct_id:
        raise HistoryShapeError(f"history of {nct_id} v{version}: the record is {found}")
    if problems := record.shape_problems(study):
        # Stored, a bad body would read as two false changes (to it and back).
        raise HistoryShapeError(f"history of {nct_id} v{version}: {problems[0]}")
    number = doc.get("studyVersion")
    if number is not None and number != version:
        raise HistoryShapeError(f"history of {nct_id} v{version}: the answer is v{number!r}")
    converted = htmltext.markdown_record(study)
    assert isinstance(converted, dict)
    return converted


@dataclass(frozen=True)
class Plan:
    fetch: list[int]  # registry versions to fetch now, in order
    not_fetched: list[int]  # known, left out by --only-modules
    seam: int | None  # the registry version the first polled version stands for, if polled


def stands_for(
    listed: list[ListedVersion], submitted: str | None, posted: str | None, *, exact: bool = False
) -> int | None:
    """The registry version a polled record is: the one listed on its submission date, else
    on its posting date (some history lists date versions by when they were posted), else
    (unless `exact`) the last one listed before its submission. None when there is none."""
    for day in (submitted, posted):
        same = [lv.version for lv in listed if day and lv.date == day]
        if same:
            return same[-1]
    if submitted is None or exact:
        return None
    before = [lv.version for lv in listed if lv.date is not None and lv.date <= submitted]
    return before[-1] if before else None


def plan(
    listed: list[ListedVersion],
    done: set[int],
    seam: int | None,
    polled: bool,
    wanted: frozenset[str] | None,
) -> Plan:
    """Which registry versions to fetch: those up to `seam`, the version the first polled
    record stands for (all when nothing was polled), not imported yet; with `wanted`
    (lower-case labels) only the first, the last and those that touched a wanted module."""
    eligible = [lv for lv in listed if not polled or (seam is not None and lv.version <= seam)]
    fetch, skipped = [], []
    ends = {eligible[0].version, eligible[-1].version} if eligible else set()
    status_before = {b.version: a.status for a, b in zip(listed, listed[1:], strict=False)}
    for lv in eligible:
        if lv.version in done:
            continue
        touched = {label.lower() for label in lv.labels}
        if lv.version in status_before and lv.status != status_before[lv.version]:
            touched.add(OVERALL_STATUS.lower())
        if wanted is None or lv.version in ends or touched & wanted:
            fetch.append(lv.version)
        else:
            skipped.append(lv.version)
    return Plan(fetch, skipped, seam if polled else None)
