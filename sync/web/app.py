"""The app factory: settings, database engines, templates, security headers and error pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync.config import Settings
from sync.report import render as digest_render
from sync.store import database as db
from sync.watches import definitions as watches
from sync.web import text

HERE = Path(__file__).resolve().parent
# No script at all, styles from our own file only, nothing from elsewhere, never in a frame.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """The security headers on every answer (plain ASGI: no per-request task, unlike
    BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
            await send(message)

        await self.app(scope, receive, with_headers)


class Web:
    """What the routes share: settings, the engines and the template environment."""

    def __init__(self, settings: Settings, engine: Engine, own_engine: bool = False) -> None:
        self.settings = settings
        self.engine = engine
        self._own_engine = own_engine
        # SQLite: pages read through deferred, query-only transactions (the shared engine begins
        # IMMEDIATE, which would queue a page behind a sync's write lock). PostgreSQL readers
        # never wait for writers.
        self.read_engine = (
            db.make_engine(
                engine.url.render_as_string(hide_password=False),
                read_only=True,
                timeouts=db.timeouts(settings.database),
            )
            if db.is_sqlite(engine.url)
            else engine
        )
        self.templates = _templates()

    def close(self) -> None:
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        if self._own_engine:
            self.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with db.session_scope(self.read_engine) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        with db.session_scope(self.engine) as session:
            yield session

    @property
    def writes_enabled(self) -> bool:
        return bool(self.settings.web.token)

    def page(self, request: Request, name: str, status_code: int = 200, **data: Any) -> Response:
        from sync.web import auth

        html = self.templates.get_template(name).render(
            request=request,
            web=self,
            signed_in=auth.signed_in(request, self),
            csrf=auth.csrf_token(request, self),
            **data,
        )
        return HTMLResponse(html, status_code=status_code)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        # The app's own templates, then the digest's (the timeline marks they share).
        loader=jinja2.FileSystemLoader([str(HERE / "templates"), str(digest_render.TEMPLATES)]),
        # Registry text is untrusted: everything is escaped, in HTML and in Atom.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The digest's filters and timeline geometry, shared rather than written again.
    base = digest_render.env()
    env.filters.update({k: base.filters[k] for k in ("value", "shorten", "when", "status_label")})
    env.globals.update(
        word_diff=digest_render.word_diff,
        criterion=digest_render.criterion,
        timeline_svg=digest_render.timeline_svg,
    )
    env.filters.update(text.FILTERS)
    env.filters["status_class"] = lambda s: "st-" + (
        s if s in digest_render.STATUS_COLOURS else "OTHER"
    )
    return env


def web_of(request: Request) -> Web:
    web = request.app.state.web
    assert isinstance(web, Web)
    return web


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/openapi.json"))


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    titles = {401: "Not signed in", 403: "Forbidden", 404: "Not found", 422: "Bad request"}
    return web_of(request).page(
        request,
        "error.html",
        status_code=status,
        title=titles.get(status, "Error"),
        message=message,
        status=status,
    )


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The web app over the database in settings (or the given engine)."""
    from sync.web import api, feeds, pages

    own = engine is None
    if engine is None:
        engine = db.make_engine(
            settings.database_url_resolved, timeouts=db.timeouts(settings.database)
        )
        db.ensure_schema(engine)
    web = Web(settings, engine, own_engine=own)
    with web.writing() as session:
        # As `watch list` does: the config's watches exist as rows before anything reads them.
        watches.sync_config_watches(session, settings.watches)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        web.close()

    app = FastAPI(
        lifespan=lifespan,
        title="trialwatch",
        summary="Versioned ClinicalTrials.gov records and what changed in them.",
        version="0.1.0",
        # Swagger UI loads its script from a CDN: /docs is a server-rendered page instead.
        docs_url=None,
        redoc_url=None,
    )
    app.state.web = web

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        response = _error(request, exc.status_code, message)
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                parts.append("the body is not valid JSON")
                continue
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("path", "query", "body"))
            parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else e.get("msg", ""))
        return _error(request, 422, "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        # Never a traceback on a page: the log has it.
        import logging

        logging.getLogger("trialwatch.web").exception("%s %s failed", request.method,
                                                      request.url.path)  # fmt: skip
        return _error(request, 500, "internal error; the server log says more")

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(pages.router)
    app.include_router(feeds.router)
    app.include_router(api.router)
    return app
