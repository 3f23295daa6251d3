"""What every part of the web app shares: settings, the engines, the template environment and
the sign-ins (near the bottom of the web package: only sessions is below it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jinja2
from fastapi import Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from sync.config import Settings
from sync.report import render as digest_render
from sync.store import database as db
from sync.web import text
from sync.web.sessions import Sessions, Throttle

HERE = Path(__file__).resolve().parent


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
        self.templates = templates()
        self.sessions = Sessions(settings.web.session_hours * 3600)
        self.throttle = Throttle()

    def close(self) -> None:
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        if self._own_engine:
            self.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with db.session_scope(self.read_engine) as session:
            yield session

    def generation(self) -> int:
        """The data generation, read where the pages read (a page rendered after it was read
        shows at least the data it counts)."""
        return db.data_generation(self.read_engine)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        with db.session_scope(self.engine) as session:
            yield session

    @property
    def writes_enabled(self) -> bool:
        return bool(self.settings.web.token)


def templates() -> jinja2.Environment:
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
    env.filters["status_class"] = lambda s: (
        "st-" + (s if s in digest_render.STATUS_COLOURS else "OTHER")
    )
    return env


def web_of(request: Request) -> Web:
    web = request.app.state.web
    assert isinstance(web, Web)
    return web
