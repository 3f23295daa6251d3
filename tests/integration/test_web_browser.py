"""The web app in Debian's Chromium (Playwright) against a real uvicorn on a loopback port, on
SQLite and PostgreSQL: overview -> trial -> diff -> watch with no console error and nothing
fetched from elsewhere, axe-core with no serious or critical violation on any page, keyboard
focus, and hostile registry text shown as text.

Set TRIALWATCH_SCREENSHOTS=docs/img to refresh the manual's screenshots from this test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models import Watch, WatchMatch
from models.db import session_scope
from sync.web.server import Background, bind
from tests.support import PROJECT_ROOT
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.digest_seed import HOSTILE, IMG_TEXT, SCRIPT_TEXT, SITES, SUSPENDED, seed
from tests.support.web_seed import make_app

AXE = Path(
    os.environ.get("TRIALWATCH_AXE")
    or PROJECT_ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
)
AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                 nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""


@pytest.fixture
def served(engine, db_url, fake_ctgov, client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    seed(engine, fake_ctgov, client)
    with session_scope(engine) as s:
        from sqlmodel import select

        watch = s.exec(select(Watch).where(Watch.name == "car-nk")).one()
        watch.params = {"intr": "CAR-NK"}  # as `watch add --intr` stores it
        s.add(watch)
        for n, title in ((SUSPENDED, "DLL3-targeted CAR-NK Cells"), (SITES, "iPSC CAR-NK")):
            s.add(WatchMatch(watch_id=watch.id or 0, nct_id=n, title=title, status="RECRUITING"))
    server = Background(make_app(db_url, engine).state.web.settings, bind("127.0.0.1", 0),
                        engine).start()  # fmt: skip
    try:
        import time

        deadline = time.monotonic() + 20
        while not server.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.server.started, "uvicorn did not start"
        yield server.url
    finally:
        server.stop()


def test_walk_overview_trial_diff_watch(served: str, tmp_path: Path) -> None:
    # Not skips: CI installs Debian's chromium (.ci/run) and `make test` installs axe-core.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    assert AXE.exists(), f"{AXE} is missing: run `make axe` (make test does)"
    from playwright.sync_api import sync_playwright

    axe_source = AXE.read_text(encoding="utf-8")
    shots = Path(os.environ.get("TRIALWATCH_SCREENSHOTS") or tmp_path)
    console: list[str] = []
    elsewhere: list[str] = []
    violations: dict[str, list[Any]] = {}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)  # fmt: skip
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

            def route(r):  # type: ignore[no-untyped-def]
                if r.request.url.startswith(served):
                    r.continue_()
                else:
                    elsewhere.append(r.request.url)
                    r.abort()

            page.route("**/*", route)

            def check(name: str) -> None:
                page.wait_for_load_state("load")
                assert page.locator("script").count() == 0
                # Evaluated through the DevTools protocol, which the page's CSP (no script at
                # all) does not govern; the page itself never runs a script.
                page.evaluate(axe_source)
                found = [v for v in page.evaluate(AXE_RUN)
                         if v["impact"] in ("serious", "critical")]  # fmt: skip
                if found:
                    violations[name] = found
                # The manual shows the walk; the other pages' screenshots stay in tmp_path.
                folder = shots if name in ("overview", "trial", "diff", "watch") else tmp_path
                page.screenshot(path=str(folder / f"web-{name}.png"), full_page=name != "trial")

            page.goto(served + "/")
            assert page.get_by_role("heading", name="Overview").is_visible()
            assert page.locator(".health.unclean").is_visible()  # the failed run, in red
            check("overview")
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Skip to content"
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.id") == "main"

            page.locator(f'#recent a[href="/trials/{SUSPENDED}"]').first.click()
            page.wait_for_url(f"**/trials/{SUSPENDED}")
            assert page.locator("figure.timeline svg rect").count() == 3
            assert page.get_by_role("heading", name="Versions, newest first").is_visible()
            check("trial")

            page.locator(f'a[href="/trials/{SUSPENDED}/diff?from=2&to=3"]').click()
            page.wait_for_url("**/diff?from=2&to=3")
            assert page.locator("del").first.inner_text() == "or 1"
            assert page.locator("ins").count() > 0
            check("diff")

            page.get_by_role("navigation", name="Main").get_by_role("link", name="Watches").click()
            page.locator('a[href="/watches/car-nk"]').first.click()
            page.wait_for_url("**/watches/car-nk")
            assert page.get_by_role("heading", name="Watch car-nk").is_visible()
            assert page.locator("table").first.get_by_text(SUSPENDED).is_visible()
            # Studies nobody tracks link to the registry's page, not to a 404 here.
            assert page.locator(f'a[href="/trials/{SUSPENDED}"]').count() == 1
            assert page.locator('a[href^="https://clinicaltrials.gov/study/"]').count() == 2
            check("watch")

            # Hostile registry text: shown, never run.
            page.goto(f"{served}/trials/{HOSTILE}/diff?from=1&to=2")
            assert page.get_by_text(SCRIPT_TEXT).first.is_visible()
            assert page.get_by_text(IMG_TEXT).first.is_visible()
            assert page.locator("main img").count() == 0
            assert "<b>bold</b> & co" in page.locator("main p.muted").first.inner_text()
            assert page.evaluate("typeof window.__pwned") == "undefined"
            check("hostile")
            for path in ("/trials", f"/trials/{HOSTILE}/versions/2", "/docs"):
                page.goto(served + path)
                check(path.strip("/").replace("/", "-"))
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert console == [], console
            # The error page: Chromium reports the 404 itself, and nothing else.
            page.goto(served + "/nope")
            check("not-found")
            assert console == [
                "error: Failed to load resource: the server responded with a status of 404 "
                "(Not Found)"
            ]
        finally:
            browser.close()

    assert elsewhere == [], elsewhere
    assert violations == {}, violations
