"""The answers routers build: an HTML page from a template (with the sign-in state every page
shows) and an error, as JSON under /api/ or as a page elsewhere."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

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
