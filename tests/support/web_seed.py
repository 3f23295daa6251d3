"""Stored histories for the web tests: the real captured versions synced through the CLI, and
an app over the same database."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from typing import Any

from sqlmodel import select

from models import Trial, Watch, WatchEvent, WatchMatch
from models.db import session_scope
from sync.testing.factory import samples_dir

# Real successive captures (ctgov/README.md): status and eligibility, enrollment
# estimated -> actual with dates over 6 versions, arms and enrollment, sites.
REAL = ["NCT06821503", "NCT04514484", "NCT05414032", "NCT06754501"]
WATCH = "car-t-sclc"
TOKEN = "s3cret-token-for-tests-0123456789"


def collecting(cli: Callable[..., Any]) -> Callable[..., Any]:
    """The CLI, collecting the engine each call leaves behind: on a PostgreSQL server shared by
    parallel test workers, their idle pooled connections would add up to max_connections."""

    def call(*args: str) -> Any:
        try:
            return cli(*args)
        finally:
            gc.collect()

    return call


def captures(nct_id: str) -> list[dict[str, Any]]:
    folder = samples_dir() / "versions" / nct_id
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def sync_real_versions(cli, fake) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Each REAL study synced once per capture, in order: real versions, real changes."""
    from tests.support.aact_samples import sync_all

    stored = sync_all(cli, fake, {n: [(None, c) for c in captures(n)] for n in REAL})
    # Captures that differ in registry dates only are not new versions.
    assert all(stored[n] >= 2 for n in REAL), stored
    return {n: stored[n] for n in REAL}


def add_watch(engine) -> None:  # type: ignore[no-untyped-def]
    """A watch with two current members, one that left, and their events."""
    with session_scope(engine) as s:
        watch = Watch(name=WATCH, params={"term": "CAR-T", "cond": "small cell lung cancer"})
        s.add(watch)
        s.flush()
        titles = dict(s.exec(select(Trial.nct_id, Trial.title)).all())
        for n in REAL[:2]:
            s.add(WatchMatch(watch_id=watch.id or 0, nct_id=n, title=titles.get(n),
                             status="RECRUITING"))  # fmt: skip
            s.add(WatchEvent(watch_id=watch.id or 0, nct_id=n, event="entered",
                             reason="matches the search", summary=f"{n} entered {WATCH}"))
        from datetime import UTC, datetime

        s.add(WatchMatch(watch_id=watch.id or 0, nct_id=REAL[2], title=titles.get(REAL[2]),
                         left_at=datetime.now(UTC), left_reason="status changed to COMPLETED"))
        s.add(WatchEvent(watch_id=watch.id or 0, nct_id=REAL[2], event="left",
                         reason="status changed to COMPLETED", summary=f"{REAL[2]} left {WATCH}"))


def make_app(db_url: str, engine, token: str | None = None, base_url: str | None = None,  # type: ignore[no-untyped-def]  # noqa: E501
             **web: Any):  # fmt: skip
    """The app over this database; `web` is any other [web] setting."""
    from sync.web.app import create_app

    return create_app(web_settings(db_url, token=token, base_url=base_url, **web), engine)


def web_settings(db_url: str, **web: Any):  # type: ignore[no-untyped-def]
    from sync.config import Settings, WebSettings

    return Settings(database_url=db_url, web=WebSettings(**web))


def sync_one(cli, fake) -> str:  # type: ignore[no-untyped-def]
    """REAL[0]'s first two captures synced: one trial, two versions (a lighter story)."""
    first, second = captures(REAL[0])[:2]
    fake.put(first)
    for args in (("add", REAL[0]), ("sync", "--full")):
        r = cli(*args)
        assert r.exit_code == 0, r.stderr
    fake.put(second)
    fake.bump()
    r = cli("sync", "--full")
    assert r.exit_code == 0, r.stderr
    return REAL[0]
