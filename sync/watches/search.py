"""The registry side of a watch: the paged, fields-trimmed membership search and the
lookups that say why a study left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.core import record
from sync.core.util import chunks, dig
from sync.registry.client import ApiError, CtgovClient, Moved, NotFound
from sync.watches.definitions import search_params
from sync.watches.similar import phase_label

# What a departure's cause is read from: cheap, one small request per batch of leavers.
LOOKUP_FIELDS = ("NCTId", "OverallStatus")
NO_LONGER_MATCHES = "the record no longer matches the search"


class IncompleteSearch(ApiError):
    """The pages did not add up to the registry's own count: no departure can be trusted."""


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


def search(client: CtgovClient, params: dict[str, Any]) -> dict[str, Match]:
    """Every study the watch's search finds now, page by page.

    Raises (ApiError, IncompleteSearch) rather than return a partial list: a study missing
    from a partial list would be reported as leaving.
    """
    found: dict[str, Match] = {}
    total: int | None = None
    for page in client.pages({**search_params(params), "countTotal": "true"}):
        if total is None and isinstance(page.get("totalCount"), int):
            total = page["totalCount"]
        for study in page.get("studies") or []:
            try:
                m = match_of(study)
            except record.RecordError as exc:
                raise IncompleteSearch(f"the search answer held an unusable record: {exc}") from exc
            found[m.nct_id] = m
    if total is not None and len(found) < total:
        raise IncompleteSearch(
            f"the search pages held {len(found)} studies but the registry counts {total}"
        )
    return found


@dataclass
class Departure:
    reason: str
    status: str | None = None  # the status the registry gives now, when it was seen


def departures(
    client: CtgovClient, params: dict[str, Any], leaving: dict[str, str | None]
) -> dict[str, Departure]:
    """Why each study (NCT ID -> status when last matched) left, where it can be seen."""
    ids = sorted(leaving)
    now: dict[str, str | None] = {}
    try:
        for chunk in chunks(ids, client.settings.batch_size):
            query = {"filter.ids": "|".join(chunk), "fields": ",".join(LOOKUP_FIELDS)}
            for page in client.pages(query):
                for study in page.get("studies") or []:
                    m = match_of(study)
                    now[m.nct_id] = m.status
    except (ApiError, record.RecordError) as exc:
        # The search itself succeeded, so they did leave; only the why is unknown.
        unchecked = f"{NO_LONGER_MATCHES} (the record could not be checked: {exc})"
        return {nct: Departure(unchecked) for nct in ids}
    wanted = set(params.get("status") or [])
    out = {}
    for nct in ids:
        before = leaving[nct]
        if nct not in now:
            out[nct] = Departure(_absent_reason(client, nct))
            continue
        status = now[nct]
        was = f" (was {before})" if before and before != status else ""
        if wanted and status not in wanted:
            reason = f"its status changed to {status}{was}"
        elif was:
            reason = f"{NO_LONGER_MATCHES}; its status also changed to {status}{was}"
        else:
            reason = NO_LONGER_MATCHES
        out[nct] = Departure(reason, status)
    return out


def _absent_reason(client: CtgovClient, nct: str) -> str:
    try:
        client.get(f"{client.api_url}/studies/{nct}", {"format": "json", "fields": "NCTId"})
    except NotFound:
        return "the record is gone from the registry (404)"
    except Moved as moved:
        return f"the record moved to {moved.new_id}"
    except ApiError as exc:
        return f"{NO_LONGER_MATCHES} (the record could not be checked: {exc})"
    return NO_LONGER_MATCHES
