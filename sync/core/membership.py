"""A study's membership facts (what a watch keeps of each member): pure, so that a worker
process can read them from a record as a search's answer is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.core import record
from sync.core.util import dig


def phase_label(phase: str) -> str:
    """PHASE1 -> Phase 1, EARLY_PHASE1 -> Early Phase 1, NA -> n/a."""
    if phase == "NA":
        return "n/a"
    return phase.replace("EARLY_", "Early ").replace("PHASE", "Phase ")


@dataclass
class Match:
    """One study as a membership search returns it (trimmed by `fields=`)."""

    nct_id: str
    title: str | None
    status: str | None
    phases: list[str]
    sponsor: str | None
    conditions: list[str]
    interventions: list[str]

    def info(self) -> dict[str, Any]:
        return {
            "phases": self.phases,
            "sponsor": self.sponsor,
            "conditions": self.conditions,
            "interventions": self.interventions,
        }

    def line(self) -> str:
        phases = "/".join(phase_label(p) for p in self.phases) or "phase not given"
        return (
            f"{self.nct_id}, {self.title or 'untitled'}, {self.status or 'status unknown'}, "
            f"{phases}, {self.sponsor or 'sponsor unknown'}"
        )


def _text(ps: Any, *path: str) -> str | None:
    value = dig(ps, *path)
    if value is not None and not isinstance(value, str):
        raise record.RecordError(f"{'.'.join(path)} is {type(value).__name__}, not text")
    return value


def _texts(ps: Any, *path: str) -> list[str]:
    value = dig(ps, *path)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise record.RecordError(f"{'.'.join(path)} is not a list of text")
    return value


def match_of(study: Any) -> Match:
    """The membership facts of a (trimmed) record.

    RecordError when it is not a record or a field has the wrong type: storing a phase list
    that came as one string would be a silent loss, so such an answer fails the search.
    """
    if not isinstance(study, dict):
        raise record.RecordError("a study in the answer is not an object")
    nct = record.nct_id_of(study)
    ps = study.get("protocolSection") or {}
    interventions = dig(ps, "armsInterventionsModule", "interventions") or []
    if not isinstance(interventions, list) or not all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in interventions
    ):
        raise record.RecordError("armsInterventionsModule.interventions are not named objects")
    return Match(
        nct_id=nct,
        title=_text(ps, "identificationModule", "briefTitle"),
        status=_text(ps, "statusModule", "overallStatus"),
        phases=_texts(ps, "designModule", "phases"),
        sponsor=_text(ps, "sponsorCollaboratorsModule", "leadSponsor", "name"),
        conditions=_texts(ps, "conditionsModule", "conditions"),
        interventions=[i["name"] for i in interventions],
    )


def summary_of(study: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any] | None]:
    """A member's title, status and similarity facts (None when the record cannot say)."""
    try:
        m = match_of(study)
    except record.RecordError:
        return None, None, None
    return m.title, m.status, m.info()
