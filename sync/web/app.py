"""The app factory, on top of the web package: the engines, the middleware, the error handlers
and the routers (api, feeds, pages), which import nothing from here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from sync.config import Settings
from sync.store import database as db
from sync.watches import definitions as watches
from sync.web import api, feeds, pages
from sync.web.cache import UNCACHED, PageCache
from sync.web.context import HERE, Web
from sync.web.middleware import (
    SECURITY_HEADERS,
    BodyLimit,
    HeadAsGet,
    Methods,
    SecurityHeaders,
)
from sync.web.responses import conditional, error

log = logging.getLogger("trialwatch.web")
GZIP_MIN_BYTES = 1000


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The web app over the database in settings (or the given engine)."""
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
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    # Outermost last: the security headers, then the proxy's word on the client, then HEAD as
    # GET, then the body cap, then the answers kept per data generation, then compression,
    # then the routes. Compression inside the cache: an answer is gzipped once per generation
    # (GZipMiddleware's level 9 costs milliseconds a page), its gzipped form kept beside the
    # plain one, each with its own ETag.
    # Pages, lists and feeds shrink five- to tenfold; answers under a kilobyte are sent as
    # they are (gzip would cost more than it saves).
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES)
    app.add_middleware(PageCache, max_bytes=int(settings.web.cache_mb * 1_000_000))
    app.add_middleware(BodyLimit, limit=settings.web.max_body_bytes)
    app.add_middleware(HeadAsGet)
    app.add_middleware(Methods)
    if settings.web.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.web.trusted_proxies)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        status = exc.status_code
        if status == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        if status == 400 and message == "There was an error parsing the body":
            # FastAPI's word for a body that is not even text: as invalid JSON is, a 422.
            status, message = 422, "the body is not valid JSON"
        response = error(request, status, message)
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
        return error(request, 422, "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        # Never a traceback on a page: the log has it.
        log.exception("%s %s failed", request.method, request.url.path)
        response = error(request, 500, "internal error; the server log says more")
        # Starlette answers a crash outside every middleware: the headers are set here.
        response.headers.update(SECURITY_HEADERS)
        return response

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(pages.router)
    app.include_router(feeds.router)
    app.include_router(api.router)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's description, with the Bearer scheme the writes name."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "[web] token"}
        }
        for path, ops in schema.get("paths", {}).items():
            if "get" in ops and not path.startswith(UNCACHED):
                conditional(ops["get"])
        app.openapi_schema = schema
    return app.openapi_schema
