"""The registry side of a watch: the paged, fields-trimmed membership search and the
lookups that say why a study left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.core import record
from sync.core.membership import Match as Match
from sync.core.membership import match_of as match_of
from sync.core.util import chunks
from sync.registry.client import ApiError, CtgovClient, Moved, NotFound
from sync.watches.definitions import search_params

# What a departure's cause is read from: cheap, one small request per batch of leavers.
LOOKUP_FIELDS = ("NCTId", "OverallStatus")
NO_LONGER_MATCHES = "the record no longer matches the search"


class IncompleteSearch(ApiError):
    """The pages did not add up to the registry's own count: no departure can be trusted."""


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
