"""Who may write: a Bearer token for the API; for HTML forms a sign-in cookie and a CSRF token."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from sync.web.context import Web, web_of
from sync.web.params import form_of

COOKIE = "trialwatch_auth"


def _sign(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def require_bearer(request: Request) -> None:
    """The API's writes: `Authorization: Bearer <[web] token>`, else 401 (also with no token
    configured: then the app is read-only)."""
    token = web_of(request).settings.web.token
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if not token:
        raise HTTPException(
            401, "writes are disabled: set [web] token (or TRIALWATCH_WEB__TOKEN) to allow them"
        )
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                             token.encode()):  # fmt: skip
        raise HTTPException(
            401, "a valid `Authorization: Bearer <token>` header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _secret(web: Web) -> str | None:
    return web.settings.web.token


def signed_in(request: Request, web: Web) -> bool:
    secret = _secret(web)
    if not secret:
        return False
    cookie = request.cookies.get(COOKIE, "")
    return hmac.compare_digest(cookie.encode(), _sign(secret, "auth").encode())


def csrf_token(request: Request, web: Web) -> str:
    """The hidden field every form carries: bound to the sign-in, unknown to another site."""
    secret = _secret(web)
    if not secret or not signed_in(request, web):
        return ""
    return _sign(secret, "csrf:" + request.cookies.get(COOKIE, ""))


def auth_cookie(token: str) -> str:
    return _sign(token, "auth")


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def require_form_auth(request: Request) -> dict[str, list[str]]:
    """A form post from a signed-in user of this site: the cookie, the CSRF field, the origin."""
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
