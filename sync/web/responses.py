"""The answers routers build: an HTML page from a template (with the sign-in state every page
shows) and an error, as JSON under /api/ or as a page elsewhere."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from sync.web import auth
from sync.web.context import web_of

TITLES = {
    400: "Bad request", 401: "Not signed in", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 413: "Too large", 422: "Bad request", 429: "Too many attempts",
}  # fmt: skip


def render(request: Request, name: str, status_code: int = 200, **data: Any) -> Response:
    """The template `name` rendered for this request."""
    web = web_of(request)
    html = web.templates.get_template(name).render(
        request=request,
        web=web,
        signed_in=auth.signed_in(request, web),
        csrf=auth.csrf_token(request, web),
        **data,
    )
    return HTMLResponse(html, status_code=status_code)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/openapi.json"))


def error(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    return render(
        request,
        "error.html",
        status_code=status,
        title=TITLES.get(status, "Error"),
        message=message,
        status=status,
    )


class ErrorBody(BaseModel):
    """What every error under /api/ answers."""

    detail: str


WHY = {
    304: "Not modified: the ETag sent in If-None-Match is still current",
    400: "A Host that [web] allowed_hosts does not list (links cannot be built from it)",
    401: "No valid Bearer token (or no token configured: read-only)",
    404: "No such trial, watch or version",
    413: "The body is larger than [web] max_body_bytes",
    422: "A parameter or body that is not valid, and why",
    429: "Too many wrong tokens from this client lately: wait Retry-After seconds",
}


def errors(*codes: int, html: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of these error statuses, as `error` sends them: JSON under
    /api/, an HTML page elsewhere."""
    if html:
        content = {"text/html": {"schema": {"type": "string"}}}
        return {c: {"description": WHY[c], "content": content} for c in codes}
    return {c: {"description": WHY[c], "model": ErrorBody} for c in codes}


ETAG = {
    "ETag": {
        "description": "Moves with every write to the database: send it back in If-None-Match",
        "schema": {"type": "string"},
    }
}


def conditional(operation: dict[str, Any]) -> None:
    """A GET the page cache answers (sync/web/cache.py): its 200 carries an ETag, and
    If-None-Match with that ETag answers 304 with no body."""
    responses = operation.setdefault("responses", {})
    responses.setdefault("200", {"description": "Successful Response"}).setdefault(
        "headers", {}
    ).update(ETAG)
    responses["304"] = {"description": WHY[304], "headers": ETAG}
