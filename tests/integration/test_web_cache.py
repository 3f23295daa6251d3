"""Answers rendered once per data generation (sync/web/cache.py), on SQLite and PostgreSQL: a
write from anywhere shows on the next request and moves every ETag, If-None-Match answers 304
with the security headers, a signed-in page is kept for its own session only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from models import Trial
from models.db import session_scope
from sync.core.diff import walk
from sync.report import pageviews
from sync.store import snapshots as store
from sync.testing.factory import make_study, nct, with_status
from sync.web.middleware import SECURITY_HEADERS
from tests.support.web_seed import TOKEN, make_app

FIRST = nct(1)
PATHS = [
    "/",
    "/trials",
    f"/trials/{FIRST}",
    f"/trials/{FIRST}/diff",
    "/feeds/changes.atom",
    "/api/trials",
    f"/api/trials/{FIRST}/history",
]


def _track(engine: sa.Engine, nct_id: str, *statuses: str) -> None:
    """A trial with one version per status (and the changes between them), written as a
    sync in another process would: through its own engine, not the app."""
    with session_scope(engine) as s:
        trial = s.exec(sa.select(Trial).where(Trial.nct_id == nct_id)).scalars().first()  # type: ignore[call-overload]
        if trial is None:
            trial = Trial(nct_id=nct_id)
            s.add(trial)
            s.flush()
        study = make_study(nct_id, title=f"Trial {nct_id}")
        for status in statuses:
            new = with_status(study, status)
            stored = store.store_version(s, trial, new)
            s.flush()
            if stored is not None and stored.previous is not None:
                v = stored.snapshot.version
                store.add_changes(s, trial, v - 1, v, walk.diff_records(stored.previous, new))
            study = new


@pytest.fixture
def writer(db_url: str) -> Iterator[sa.Engine]:
    from models import db

    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def web(db_url: str, engine: sa.Engine, writer: sa.Engine) -> Iterator[TestClient]:
    _track(writer, FIRST, "NOT_YET_RECRUITING", "RECRUITING")
    with TestClient(make_app(db_url, engine, token=TOKEN), base_url="http://localhost") as c:
        yield c


def test_a_write_shows_on_the_next_request_and_moves_every_etag(web, writer) -> None:  # type: ignore[no-untyped-def]
    first = {p: web.get(p) for p in PATHS}
    assert all(r.status_code == 200 and r.headers.get("etag") for r in first.values()), {
        p: r.status_code for p, r in first.items()
    }
    # Asked again: the same answer, the same ETag (kept, not rendered again).
    assert all(web.get(p).headers["etag"] == r.headers["etag"] for p, r in first.items())

    _track(writer, FIRST, "COMPLETED")  # a third version of FIRST
    second = {p: web.get(p) for p in PATHS}
    for p in PATHS:
        assert second[p].headers["etag"] != first[p].headers["etag"], p
    assert "Completed" in second[f"/trials/{FIRST}"].text
    assert "Completed" not in first[f"/trials/{FIRST}"].text
    assert len(second[f"/api/trials/{FIRST}/history"].json()) == 3

    new = nct(2)
    _track(writer, new, "RECRUITING")
    assert new in web.get("/trials").text
    assert new in web.get("/api/trials").text

    # A write that changes nothing shown (a setting row) still moves every ETag.
    before = web.get("/").headers["etag"]
    with writer.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO meta (key, updated_at) VALUES ('unrelated', CURRENT_TIMESTAMP)"
        )
    assert web.get("/").headers["etag"] != before


def test_a_page_is_rendered_once_per_generation(web, writer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    real = pageviews.overview

    def counted(session: Any) -> Any:
        calls.append(1)
        return real(session)

    monkeypatch.setattr(pageviews, "overview", counted)
    for _ in range(5):
        assert web.get("/").status_code == 200
        assert web.head("/").status_code == 200
    assert len(calls) == 1
    _track(writer, FIRST, "COMPLETED")
    web.get("/")
    web.get("/")
    assert len(calls) == 2


def test_if_none_match_answers_304_with_the_security_headers(web) -> None:  # type: ignore[no-untyped-def]
    for path in PATHS:
        r = web.get(path)
        etag = r.headers["etag"]
        assert r.headers["cache-control"] == "no-cache"
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again = web.get(path, headers={"If-None-Match": header})
            assert again.status_code == 304, (path, header)
            assert again.content == b""
            assert again.headers["etag"] == etag
            for k, v in SECURITY_HEADERS.items():
                assert again.headers[k] == v, (path, k)
        assert web.get(path, headers={"If-None-Match": '"g0-stale"'}).status_code == 200
        # A kept answer carries them too.
        for k, v in SECURITY_HEADERS.items():
            assert web.get(path).headers[k] == v


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, "no CSRF field in the page"
    return m.group(1)


def test_a_signed_in_page_is_kept_for_its_own_session_only(db_url, engine, writer) -> None:  # type: ignore[no-untyped-def]
    _track(writer, FIRST, "RECRUITING")
    app = make_app(db_url, engine, token=TOKEN)
    with TestClient(app, base_url="http://localhost") as a, \
            TestClient(app, base_url="http://localhost") as b, \
            TestClient(app, base_url="http://localhost") as anonymous:  # fmt: skip
        anonymous.get("/trials")  # kept first, for nobody signed in
        for c in (a, b):
            signed = c.post("/login", data={"token": TOKEN}, follow_redirects=False)
            assert signed.status_code == 303
        page_a, page_b = a.get("/trials").text, b.get("/trials").text
        assert _csrf(page_a) != _csrf(page_b)
        assert 'name="csrf"' not in anonymous.get("/trials").text.split("<main")[0]
        assert _csrf(a.get("/trials").text) == _csrf(page_a)
        # Signed out: the session's page is not served to its old cookie.
        cookie = a.cookies["trialwatch_session"]
        a.post("/logout", data={"csrf": _csrf(page_a)}, headers={"Origin": "http://localhost"},
               follow_redirects=False)  # fmt: skip
        a.cookies.set("trialwatch_session", cookie)
        assert _csrf(page_a) not in a.get("/trials").text


def test_the_daemons_status_is_never_kept(web) -> None:  # type: ignore[no-untyped-def]
    """Its heartbeat age moves with the clock, not with the data."""
    r = web.get("/api/runs")
    assert r.status_code == 200 and "etag" not in r.headers
