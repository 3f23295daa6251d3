"""Who may write: a Bearer token for the API; for HTML forms a server-side sign-in session (a
random cookie) and its CSRF token. Wrong tokens are throttled per client."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response

from sync.web.context import Web, web_of
from sync.web.params import form_of
from sync.web.sessions import Session

COOKIE = "trialwatch_session"


def client_of(request: Request) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For has already been applied)."""
    return request.client.host if request.client else "unknown"


def check_throttle(request: Request) -> None:
    """429 with Retry-After for a client that gave too many wrong tokens lately."""
    wait = web_of(request).throttle.wait(client_of(request))
    if wait:
        raise HTTPException(
            429,
            f"too many wrong tokens from {client_of(request)}; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def _right_token(request: Request, given: str, token: str) -> bool:
    if hmac.compare_digest(given.encode(), token.encode()):
        return True
    web_of(request).throttle.failed(client_of(request))
    return False


def require_bearer(request: Request) -> None:
    """The API's writes: `Authorization: Bearer <[web] token>`, else 401 (also with no token
    configured: then the app is read-only); 429 after too many wrong ones."""
    token = web_of(request).settings.web.token
    if not token:
        raise HTTPException(
            401, "writes are disabled: set [web] token (or TRIALWATCH_WEB__TOKEN) to allow them"
        )
    check_throttle(request)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not _right_token(request, value.strip(), token):
        raise HTTPException(
            401, "a valid `Authorization: Bearer <token>` header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip


def session_of(request: Request, web: Web) -> Session | None:
    return web.sessions.get(request.cookies.get(COOKIE, ""), web.settings.web.token)


def signed_in(request: Request, web: Web) -> bool:
    return session_of(request, web) is not None


def csrf_token(request: Request, web: Web) -> str:
    """The hidden field every form carries: the session's own, unknown to another site."""
    session = session_of(request, web)
    return session.csrf if session else ""


async def sign_in(request: Request, response: Response) -> bool:
    """Check the form's token (throttled per client); when right, open a session and set its
    cookie on the response."""
    web = web_of(request)
    token = web.settings.web.token
    if not token:
        raise HTTPException(401, "writes are disabled: no [web] token is configured")
    check_throttle(request)
    form = await form_of(request)
    if not _right_token(request, (form.get("token") or [""])[0], token):
        return False
    session = web.sessions.open(token)
    response.set_cookie(COOKIE, session.id, max_age=int(web.sessions.lifetime), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")  # fmt: skip
    return True


def sign_out(request: Request, response: Response) -> None:
    web_of(request).sessions.close(request.cookies.get(COOKIE, ""))
    response.delete_cookie(COOKIE)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def require_form_auth(request: Request) -> dict[str, list[str]]:
    """A form post from a signed-in user of this site: the session, the CSRF field, the origin."""
    web = web_of(request)
    if not web.writes_enabled:
        raise HTTPException(401, "writes are disabled: no [web] token is configured")
    if not signed_in(request, web):
        raise HTTPException(401, "sign in first")
    form = await form_of(request)
    sent = (form.get("csrf") or [""])[0]
    if not _same_origin(request) or not hmac.compare_digest(sent.encode(),
                                                            csrf_token(request, web).encode()):
        raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")
    return form
