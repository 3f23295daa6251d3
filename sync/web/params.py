"""Request inputs every router reads the same way: the NCT ID in a path, a date, a form body,
the address links are built from, and the 404 of something that is not there."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Path, Query, Request

from sync.core.ids import InvalidNCTId, normalise_nct_id
from sync.store import views
from sync.web.context import web_of

NCT_PATTERN = r"^NCT\d{8}$"
# A Host header links may be built from: a name or an IPv4 address, or an [IPv6] address; a port.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{{1,5}})?$")


def nct_param(nct: Annotated[str, Path(description="An NCT ID, e.g. NCT07366658.")]) -> str:
    """A valid, normalised NCT ID; anything else is a 422 that says what a valid one looks like."""
    try:
        return normalise_nct_id(nct)
    except InvalidNCTId as exc:
        raise HTTPException(422, str(exc)) from None


Nct = Annotated[str, Depends(nct_param)]


def as_of_param(
    as_of: Annotated[
        str | None,
        Query(description="The record as it stood on this date: " + views.AS_OF_FORMS + "."),
    ] = None,
) -> str | None:
    """A date the record is read as of, checked here: a bad one is a 422 in the web's words."""
    if as_of is None:
        return None
    try:
        views.parse_as_of(as_of)
    except views.BadDate:
        raise HTTPException(
            422, f"as_of: {as_of!r} is not a date: use {views.AS_OF_FORMS}"
        ) from None
    return as_of


AsOf = Annotated[str | None, Depends(as_of_param)]


def not_found(exc: LookupError) -> HTTPException:
    return HTTPException(404, str(exc.args[0]) if exc.args else "not found")


async def form_of(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body (the only kind our forms send)."""
    body = (await request.body()).decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=True)


def base_url(request: Request) -> str:
    """Where the pages live for a reader, for absolute links: [web] base_url; without it the
    address asked, if its host is in [web] allowed_hosts (else 400: a forged Host header must
    not put another site's address in a feed)."""
    settings = web_of(request).settings.web
    if settings.base_url:
        return settings.base_url.rstrip("/")
    host = request.headers.get("host", "")
    name = request.url.hostname or ""
    allowed = "*" in settings.allowed_hosts or name.lower() in settings.allowed_hosts
    if not _HOST_RE.match(host) or not allowed:
        raise HTTPException(
            400,
            f"the host {host!r} is not in [web] allowed_hosts: add it there, or set [web] base_url",
        )
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{request.url.scheme}://{host}{root}"
