"""The HTML digest in headless Chromium (Debian's, driven by Playwright): no console errors, the
expected sections, nothing fetched, and hostile registry text shown as inert text.

Set TRIALWATCH_SCREENSHOT=docs/img/digest.png to refresh the manual's screenshot from this test."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models import db
from models.db import session_scope
from sync.report import digest as dg
from sync.report.render import render
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.digest_seed import HOSTILE, IMG_TEXT, SCRIPT_TEXT, SITES, SUSPENDED, seed


@pytest.fixture
def digest_file(tmp_path: Path, fake_ctgov, client) -> Path:  # type: ignore[no-untyped-def]
    # Rendering does not depend on the database: SQLite alone keeps the browser test short.
    engine = db.make_engine(f"sqlite:///{tmp_path / 'digest.db'}")
    db.upgrade(engine)
    seed(engine, fake_ctgov, client)
    now = datetime.now(UTC) + timedelta(seconds=1)
    with session_scope(engine) as s:
        data = dg.build_digest(s, dg.Selection(since=now - timedelta(days=7), until=now))
    engine.dispose()
    path = tmp_path / "digest.html"
    path.write_text(render(data, "html"), encoding="utf-8")
    return path


def test_html_digest_in_chromium(digest_file: Path, tmp_path: Path) -> None:
    # Not a skip: make test installs Debian's chromium (.ci/prereqs); missing is a failure.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing (make test installs it)"
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    fetched: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: console.append(f"requestfailed: {r.url}"))

            def route(r):  # type: ignore[no-untyped-def]
                if not r.request.url.startswith("file://"):
                    fetched.append(r.request.url)
                    r.abort()
                else:
                    r.continue_()

            page.route("**/*", route)
            page.goto(digest_file.as_uri())
            page.wait_for_load_state("load")

            assert console == [] and fetched == []
            for section in ("#health", "#changes", "#watch-events", "#runs"):
                assert page.locator(section).is_visible(), section
            assert page.locator("#health").inner_text().startswith("Warning: 1 of 4 runs")
            trials = page.locator("article.trial").evaluate_all("els => els.map(e => e.id)")
            assert trials == [SUSPENDED, SITES, HOSTILE]
            assert page.locator("article.trial svg").count() == 3
            assert page.locator(f"#{SUSPENDED} svg rect").count() == 3
            assert page.locator("del").first.inner_text() == "or 1"
            # Events, most important first, one line each; the full detail is one command away.
            events = page.locator(f"#{SUSPENDED} li.event .summary").all_inner_texts()
            assert len(events) == 5 and events[0].startswith("v3: recruitment closed")
            assert "trialwatch diff" in page.locator(f"#{SUSPENDED} p.detail").inner_text()

            # Hostile registry text: shown, never run.
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert page.locator("script").count() == 0 and page.locator("img").count() == 0
            hostile = page.locator(f"#{HOSTILE}")
            assert hostile.get_by_text(SCRIPT_TEXT).is_visible()
            assert hostile.get_by_text(IMG_TEXT).is_visible()
            assert "<b>bold</b> & co" in hostile.locator("h3").inner_text()

            shot = Path(os.environ.get("TRIALWATCH_SCREENSHOT") or tmp_path / "digest.png")
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
