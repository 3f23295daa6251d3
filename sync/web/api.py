"""The JSON API under /api/: the objects the CLI's `--json` prints, and token-guarded writes."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from sync.config import OVERALL_STATUSES
from sync.daemon.status import status_report
from sync.report import pageviews
from sync.store import listing, views
from sync.store import outcomes as outcomes_view
from sync.watches import definitions as watches
from sync.web.actions import AckRequest, TrackRequest, acknowledge, add_trials, remove_trial
from sync.web.auth import require_bearer
from sync.web.context import web_of
from sync.web.params import NCT_PATTERN, ApiNct, AsOf, not_found
from sync.web.responses import errors

# Every answer of a read: its object, or {"detail": "..."} saying why not.
router = APIRouter(prefix="/api", tags=["api"], responses=errors(404, 422))
WRITE = errors(401, 413, 429)


# A page of a list: `limit` rows at most, the next page's address in Link, the total in
# X-Total-Count (the body stays the list `--json` prints, a page of it).
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "Link": {
                "description": 'The next page, `</api/...?cursor=...>; rel="next"`, while '
                "more follow (absent on the last page)",
                "schema": {"type": "string"},
            },
            "X-Total-Count": {
                "description": "How many the query finds in all, over every page",
                "required": True,
                "schema": {"type": "integer", "minimum": 0},
            },
        }
    }
}
Status = Enum("Status", {s: s for s in OVERALL_STATUSES}, type=str)  # type: ignore[misc]


def paged(request: Request, response: Response, total: int, after: str | None) -> None:
    """The paging headers: the total, and the next page's address (this one's parameters,
    the cursor moved) relative to this server, never built from the Host header."""
    response.headers["X-Total-Count"] = str(total)
    if after is not None:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query = urlencode([*params, ("cursor", after)])
        response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'


@router.get(
    "/trials",
    summary="Tracked trials, paged by NCT ID (`trialwatch list --json`)",
    responses=PAGED,
)
def trials(
    request: Request,
    response: Response,
    all: bool = False,  # noqa: A002
    status: Annotated[Status | None, Query(description="Only this overall status.")] = None,
    q: Annotated[
        str | None,
        Query(description="Words each found in the NCT ID, title, lead sponsor or conditions."),
    ] = None,
    watch: Annotated[
        str | None, Query(description="Only the studies of this watch (ever its members).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Trials a page.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(pattern=NCT_PATTERN, description="Where the page starts: from the Link header."),
    ] = None,
) -> list[dict[str, Any]]:
    query = listing.TrialQuery.of(status.value if status else None, q, watch, all)
    try:
        with web_of(request).reading() as s:
            if query.watch:
                watches.get_watch(s, query.watch)
            page = listing.trial_page(s, query, limit, after=cursor)
    except watches.UnknownWatch as exc:
        raise not_found(exc) from None
    paged(request, response, page.total, page.after)
    return [r.to_dict() for r in page.rows]


@router.get("/trials/{nct}", summary="A trial's key fields (`trialwatch show --json`)")
def trial(request: Request, nct: ApiNct, as_of: AsOf = None) -> dict[str, Any] | None:
    try:
        with web_of(request).reading() as s:
            return views.show(s, nct, as_of=as_of).to_dict()
    except views.NothingFound as exc:
        return exc.data  # type: ignore[no-any-return]  # a date before the first version
    except (views.UnknownTrial, views.NoSuchVersion) as exc:
        raise not_found(exc) from None


@router.get("/trials/{nct}/history", summary="Versions (`trialwatch history --json`)")
def history(request: Request, nct: ApiNct) -> list[dict[str, Any]]:
    try:
        with web_of(request).reading() as s:
            return [h.to_dict() for h in views.history(s, nct)]
    except views.UnknownTrial as exc:
        raise not_found(exc) from None


@router.get(
    "/trials/{nct}/outcomes",
    summary="Pre-specified primary outcomes and later changes (`trialwatch outcomes --json`)",
)
def outcomes(request: Request, nct: ApiNct) -> dict[str, Any] | None:
    try:
        with web_of(request).reading() as s:
            return outcomes_view.outcomes(s, nct)
    except views.NothingFound:
        return None  # no version stored: what `outcomes --json` prints
    except views.UnknownTrial as exc:
        raise not_found(exc) from None


@router.get("/trials/{nct}/diff", summary="Changes between versions (`trialwatch diff --json`)")
def diff(
    request: Request,
    nct: ApiNct,
    from_: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to: Annotated[int | None, Query(ge=1)] = None,
) -> list[dict[str, Any]]:
    try:
        with web_of(request).reading() as s:
            return views.diff(s, nct, from_, to).changes_json()
    except views.NothingFound as exc:
        return exc.data  # type: ignore[no-any-return]  # fewer than two versions: `diff --json`
    except (views.UnknownTrial, views.NoSuchVersion) as exc:
        raise not_found(exc) from None


@router.get(
    "/trials/{nct}/versions/{version}",
    summary="One stored version, as received",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
def version(request: Request, nct: ApiNct, version: Annotated[int, Path(ge=1)]) -> Response:
    import orjson

    try:
        with web_of(request).reading() as s:
            study = pageviews.version_record(s, nct, version)
    except (views.UnknownTrial, views.NoSuchVersion) as exc:
        raise not_found(exc) from None
    return Response(orjson.dumps(study), media_type="application/json")


@router.get("/watches", summary="Watches (`trialwatch watch list --json`)")
def watch_list(request: Request, all: bool = False) -> list[dict[str, Any]]:  # noqa: A002
    with web_of(request).reading() as s:
        return [w.to_dict() for w in watches.watch_rows(s, include_inactive=all)]


@router.get("/watches/{name}/members", summary="Members (`trialwatch watch members --json`)")
def watch_members(request: Request, name: str, current: bool = False) -> list[dict[str, Any]]:
    try:
        with web_of(request).reading() as s:
            return [m.to_dict() for m in watches.member_rows(s, name, current_only=current)]
    except watches.UnknownWatch as exc:
        raise not_found(exc) from None


@router.get("/runs", summary="Runs and daemon state (`trialwatch status --json`)")
def runs(request: Request) -> dict[str, Any]:
    with web_of(request).reading() as s:
        return status_report(s).to_dict()


# --- writes -------------------------------------------------------------------------------------


@router.post(
    "/trials",
    summary="Track trials (`trialwatch add --json`); needs the Bearer token",
    dependencies=[Depends(require_bearer)],
    responses=WRITE,
    openapi_extra={"security": [{"bearer": []}]},
)
def post_trials(request: Request, body: TrackRequest) -> dict[str, Any]:
    return add_trials(request, body.nct_ids)


@router.delete(
    "/trials/{nct}",
    summary="Stop tracking (`trialwatch remove --json`); needs the Bearer token",
    dependencies=[Depends(require_bearer)],
    responses=WRITE,
    openapi_extra={"security": [{"bearer": []}]},
)
def delete_trial(request: Request, nct: ApiNct) -> dict[str, Any]:
    return remove_trial(request, nct)


@router.post(
    "/ack",
    summary="Mark changes reviewed (`trialwatch ack --json`); needs the Bearer token",
    dependencies=[Depends(require_bearer)],
    responses=WRITE,
    openapi_extra={"security": [{"bearer": []}]},
)
def post_ack(request: Request, body: AckRequest) -> dict[str, Any]:
    return acknowledge(request, body)
