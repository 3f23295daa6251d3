"""The JSON API under /api/: the objects the CLI's `--json` prints, and token-guarded writes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response

from sync.daemon.status import status_report
from sync.report import pageviews
from sync.store import outcomes as outcomes_view
from sync.store import views
from sync.watches import definitions as watches
from sync.web.actions import AckRequest, TrackRequest, acknowledge, add_trials, remove_trial
from sync.web.auth import require_bearer
from sync.web.context import web_of
from sync.web.params import AsOf, Nct, not_found

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/trials", summary="Tracked trials (`trialwatch list --json`)")
def trials(request: Request, all: bool = False) -> list[dict[str, Any]]:  # noqa: A002
    with web_of(request).reading() as s:
        return [r.to_dict() for r in views.trial_list(s, include_inactive=all)]


@router.get("/trials/{nct}", summary="A trial's key fields (`trialwatch show --json`)")
def trial(request: Request, nct: Nct, as_of: AsOf = None) -> dict[str, Any]:
    try:
        with web_of(request).reading() as s:
            return views.show(s, nct, as_of=as_of).to_dict()
    except views.UnknownTrial as exc:
        raise not_found(exc) from None
    except views.NoSuchVersion as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/trials/{nct}/history", summary="Versions (`trialwatch history --json`)")
def history(request: Request, nct: Nct) -> list[dict[str, Any]]:
    try:
        with web_of(request).reading() as s:
            return [h.to_dict() for h in views.history(s, nct)]
    except views.UnknownTrial as exc:
        raise not_found(exc) from None


@router.get(
    "/trials/{nct}/outcomes",
    summary="Pre-specified primary outcomes and later changes (`trialwatch outcomes --json`)",
)
def outcomes(request: Request, nct: Nct) -> dict[str, Any] | None:
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
    nct: Nct,
    from_: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to: Annotated[int | None, Query(ge=1)] = None,
) -> list[dict[str, Any]]:
    try:
        with web_of(request).reading() as s:
            return views.diff(s, nct, from_, to).changes_json()
    except views.UnknownTrial as exc:
        raise not_found(exc) from None
    except views.NoSuchVersion as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/trials/{nct}/versions/{version}", summary="One stored version, as received")
def version(request: Request, nct: Nct, version: Annotated[int, Path(ge=1)]) -> Response:
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
)
def post_trials(request: Request, body: TrackRequest) -> dict[str, Any]:
    return add_trials(request, body.nct_ids)


@router.delete(
    "/trials/{nct}",
    summary="Stop tracking (`trialwatch remove --json`); needs the Bearer token",
    dependencies=[Depends(require_bearer)],
)
def delete_trial(request: Request, nct: Nct) -> dict[str, Any]:
    return remove_trial(request, nct)


@router.post(
    "/ack",
    summary="Mark changes reviewed (`trialwatch ack --json`); needs the Bearer token",
    dependencies=[Depends(require_bearer)],
)
def post_ack(request: Request, body: AckRequest) -> dict[str, Any]:
    return acknowledge(request, body)
