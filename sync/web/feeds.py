"""Atom 1.0 feeds: one entry per trial-version with its events (their ETags and 304s are the
page cache's, sync/web/cache.py, as every GET's)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from sync.report import pageviews
from sync.store import views
from sync.watches import definitions as watches
from sync.web.context import web_of
from sync.web.params import ApiNct, base_url
from sync.web.responses import errors

ATOM = "application/atom+xml; charset=utf-8"


class AtomResponse(Response):
    media_type = ATOM


# Atom documents; errors are pages (a feed reader shows neither), a 304 has no body.
router = APIRouter(
    prefix="/feeds",
    tags=["feeds"],
    default_response_class=AtomResponse,
    responses={
        200: {
            "description": "An Atom 1.0 feed",
            "content": {"application/atom+xml": {"schema": {"type": "string"}}},
        },
        304: {"description": errors(304)[304]["description"]},
        **errors(400, 404, 422, html=True),
    },
)
# Control characters are invalid in XML even when escaped; registry text may carry them.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _render(
    request: Request, *, feed_id: str, title: str, path: str, entries: list[dict[str, Any]],
    watch_events: list[dict[str, Any]] | None = None, page: str = "/",
) -> Response:
    web = web_of(request)
    times = [e["detected"] for e in entries + (watch_events or []) if e.get("detected")]
    # An empty feed's date must not move with the clock, or its ETag would never match.
    updated = max(times) if times else datetime(2000, 1, 1, tzinfo=UTC).isoformat()
    body = web.templates.get_template("feed.atom").render(
        feed_id=feed_id,
        title=title,
        base=base_url(request),
        self_path=path,
        # The page that shows what the feed shows: its `alternate` link.
        page_path=page,
        updated=updated,
        entries=entries,
        watch_events=watch_events or [],
    )
    return AtomResponse(_CONTROL_RE.sub("", body).encode("utf-8"))


@router.get("/changes.atom", summary="Every tracked trial's new versions")
def changes(request: Request) -> Response:
    with web_of(request).reading() as s:
        entries = pageviews.recent_versions(s)
    return _render(request, feed_id="urn:trialwatch:feed:changes", title="trialwatch: all changes",
                   path="/feeds/changes.atom", entries=entries)  # fmt: skip


@router.get("/trials/{nct}.atom", summary="One trial's new versions")
def trial(request: Request, nct: ApiNct) -> Response:
    try:
        with web_of(request).reading() as s:
            t = views.require_trial(s, nct)
            entries = pageviews.recent_versions(s, [nct])
    except views.UnknownTrial as exc:
        raise HTTPException(404, str(exc)) from None
    return _render(request, feed_id=f"urn:trialwatch:feed:trial:{nct}",
                   title=f"trialwatch: {nct} {t.title or ''}".strip(),
                   path=f"/feeds/trials/{nct}.atom", entries=entries,
                   page=f"/trials/{nct}")  # fmt: skip


@router.get("/watches/{name}.atom", summary="A watch's members' new versions, who entered and left")
def watch(request: Request, name: str) -> Response:
    try:
        with web_of(request).reading() as s:
            members = pageviews.watch_members(s, name)
            entries = pageviews.recent_versions(s, members)
            events = pageviews.watch_feed_events(s, name)
    except watches.UnknownWatch as exc:
        raise HTTPException(404, str(exc)) from None
    return _render(request, feed_id=f"urn:trialwatch:feed:watch:{name}",
                   title=f"trialwatch: watch {name}", path=f"/feeds/watches/{name}.atom",
                   entries=entries, watch_events=events, page=f"/watches/{name}")  # fmt: skip
