"""Request inputs every router reads the same way: the NCT ID in a path, a form body, and the
404 of something that is not there."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Path, Request

from sync.core.ids import InvalidNCTId, normalise_nct_id


def nct_param(nct: Annotated[str, Path(description="An NCT ID, e.g. NCT07366658.")]) -> str:
    """A valid, normalised NCT ID; anything else is a 422 that says what a valid one looks like."""
    try:
        return normalise_nct_id(nct)
    except InvalidNCTId as exc:
        raise HTTPException(422, str(exc)) from None


Nct = Annotated[str, Depends(nct_param)]


def not_found(exc: LookupError) -> HTTPException:
    return HTTPException(404, str(exc.args[0]) if exc.args else "not found")


async def form_of(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body (the only kind our forms send)."""
    body = (await request.body()).decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=True)
