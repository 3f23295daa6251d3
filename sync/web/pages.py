"""The HTML pages: overview, trials, a trial's story, diffs, versions, watches, and the forms."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from sync.config import OVERALL_STATUSES
from sync.report import pageviews
from sync.store import listing, views
from sync.store import outcomes as outcomes_view
from sync.watches import definitions as watches
from sync.web import actions, auth
from sync.web.auth import require_form_auth
from sync.web.context import HERE, web_of
from sync.web.params import Nct
from sync.web.responses import render

router = APIRouter(include_in_schema=False)
STATIC = HERE / "static"
PAGE_SIZE = 50
# Past it a page number is no page anyone reached by the pager (and an OFFSET that large, work).
MAX_PAGE = 100_000


@router.get("/")
def overview(request: Request) -> Response:
    web = web_of(request)
    with web.reading() as s:
        data = pageviews.overview(s)
    return render(request, "overview.html", o=data)


@router.get("/favicon.ico")
def favicon() -> Response:
    """The icon for browsers that ask for it by its old name (pages link the SVG)."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@router.get("/trials")
def trials(
    request: Request,
    status: str | None = None,
    watch: str | None = None,
    q: str | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    web = web_of(request)
    try:
        query = listing.TrialQuery.of(status, q, watch)
    except listing.BadQuery as exc:
        raise HTTPException(422, f"status: {exc}") from None
    with web.reading() as s:
        names = [w.name for w in watches.watch_rows(s)]
        if query.watch:
            try:
                watches.get_watch(s, query.watch)
            except watches.UnknownWatch as exc:
                raise HTTPException(404, str(exc)) from None
        shown = listing.trial_page(s, query, PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        last = pageviews.last_changes(s, [r.nct_id for r in shown.rows])
    pages = max(1, -(-shown.total // PAGE_SIZE))
    return render(
        request, "trials.html", rows=shown.rows, total=shown.total, page=page, pages=pages,
        pager=pager(page, pages), href=lambda n: page_href(query, n), last=last, query=query,
        statuses=OVERALL_STATUSES, watch_names=names, searched=listing.SEARCHED,
    )  # fmt: skip


def page_href(query: listing.TrialQuery, page: int) -> str:
    """The address of one page of the trials list, its filters kept."""
    params = query.params() | ({"page": page} if page > 1 else {})
    return "/trials" + ("?" + urlencode(params) if params else "")


def pager(page: int, pages: int, around: int = 2) -> list[int | None]:
    """The page numbers a pager shows: the first, the last, and those around this one; None
    where numbers are left out."""
    numbers = sorted(n for n in {1, pages, *range(page - around, page + around + 1)}
                     if 1 <= n <= pages)  # fmt: skip
    out: list[int | None] = []
    for n in numbers:
        if out and n > (out[-1] or 0) + 1:
            out.append(None)
        out.append(n)
    return out


@router.get("/trials/{nct}")
def trial(request: Request, nct: Nct) -> Response:
    web = web_of(request)
    try:
        with web.reading() as s:
            data = pageviews.trial_page(s, nct)
            try:
                outcomes = outcomes_view.outcomes(s, nct)
            except views.NothingFound:
                outcomes = None
    except views.UnknownTrial as exc:
        raise HTTPException(404, str(exc)) from None
    return render(request, "trial.html", d=data, t=data["trial"], outcomes=outcomes)


@router.get("/trials/{nct}/diff")
def diff(
    request: Request,
    nct: Nct,
    from_: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    web = web_of(request)
    try:
        with web.reading() as s:
            data = pageviews.diff_page(s, nct, from_, to)
    except views.UnknownTrial as exc:
        raise HTTPException(404, str(exc)) from None
    except views.NoSuchVersion as exc:
        raise HTTPException(422, str(exc)) from None
    return render(request, "diff.html", d=data)


@router.get("/trials/{nct}/versions/{version}")
def version(request: Request, nct: Nct, version: Annotated[int, Path(ge=1)]) -> Response:
    web = web_of(request)
    try:
        with web.reading() as s:
            data = pageviews.version_page(s, nct, version)
    except (views.UnknownTrial, views.NoSuchVersion) as exc:
        raise HTTPException(404, str(exc)) from None
    return render(request, "version.html", d=data)


@router.get("/watches")
def watch_list(request: Request) -> Response:
    web = web_of(request)
    with web.reading() as s:
        rows = watches.watch_rows(s)
    return render(request, "watches.html", rows=rows, describe=watches.describe)


@router.get("/watches/{name}")
def watch(request: Request, name: str) -> Response:
    web = web_of(request)
    try:
        with web.reading() as s:
            data = pageviews.watch_page(s, name)
    except watches.UnknownWatch as exc:
        raise HTTPException(404, str(exc)) from None
    return render(request, "watch.html", d=data)


@router.get("/docs")
def docs(request: Request) -> Response:
    """The OpenAPI description as a page (Swagger UI would load its script from elsewhere)."""
    schema = request.app.openapi()
    routes = [
        {"method": method.upper(), "path": path, "summary": op.get("summary", ""),
         "params": [p["name"] for p in op.get("parameters", [])]}  # fmt: skip
        for path, ops in schema.get("paths", {}).items()
        for method, op in ops.items()
    ]
    return render(request, "docs.html", routes=routes)


# --- forms (only when a token is configured) ----------------------------------------------------


@router.get("/login")
def login_form(request: Request) -> Response:
    return render(request, "login.html", error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    if not await auth.sign_in(request, response):
        return render(request, "login.html", status_code=401, error="That is not the token.")
    return response


@router.post("/logout")
async def logout(request: Request, _form: Annotated[dict, Depends(require_form_auth)]) -> Response:
    response = RedirectResponse("/", status_code=303)
    auth.sign_out(request, response)
    return response


@router.post("/trials")
async def add_form(request: Request, form: Annotated[dict, Depends(require_form_auth)]) -> Response:
    raw = " ".join(form.get("nct_ids") or []).replace(",", " ").split()
    if not raw:
        raise HTTPException(422, "nct_ids: give at least one NCT ID")
    actions.add_trials(request, raw)
    return RedirectResponse("/trials", status_code=303)


@router.post("/trials/{nct}/remove")
async def remove_form(
    request: Request, nct: Nct, form: Annotated[dict, Depends(require_form_auth)]
) -> Response:
    # Destructive: the first post asks (a page, no script), the second, confirmed, acts.
    if (form.get("confirm") or [""])[0] != "yes":
        return render(request, "confirm.html", nct=nct)
    actions.remove_trial(request, nct)
    return RedirectResponse("/trials", status_code=303)


@router.post("/ack")
async def ack_form(request: Request, form: Annotated[dict, Depends(require_form_auth)]) -> Response:
    try:
        ids = [int(x) for x in form.get("change_ids") or []]
    except ValueError:
        raise HTTPException(422, "change_ids: change IDs are numbers") from None
    actions.acknowledge(request, actions.AckRequest(change_ids=ids))
    back = (form.get("next") or ["/"])[0]
    return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/",
                            status_code=303)  # fmt: skip
