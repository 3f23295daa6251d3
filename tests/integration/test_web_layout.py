"""Every page of the web app at a phone's width (390 px) and a desktop's (1280 px), in Debian's
Chromium over the real captured versions, signed in (so the forms show): the page is no wider
than the viewport, no element sticks out of it or out of its own box, no word is broken inside,
and a diff shows old beside new on a desktop and old above new on a phone.

TRIALWATCH_LAYOUT_SHOTS=DIR keeps a screenshot of every page at each width there (the first
900 px of each); TRIALWATCH_LAYOUT_SHOTS=docs/screenshots refreshes the manual's.

Layout does not touch storage: SQLite only."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sync.testing.scope import bulk_scope
from sync.web.server import Background, bind
from tests.support import PROJECT_ROOT
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.layout import WIDTHS, measure, problems
from tests.support.web_seed import REAL, TOKEN, WATCH, add_watch, make_app, sync_real_versions

# The pages the manual shows at both widths (docs/how-to/web.md, docs/screenshots/).
DOC_PAGES = ("overview", "trials", "trial-NCT06754501", "diff-NCT06754501",
             "version-NCT06754501", "watches", "watch", "api", "login")  # fmt: skip
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
MIRRORED = 60


def pages(latest: dict[str, int]) -> dict[str, str]:
    """Every page kind, with the real records that stretch it most."""
    most = max(REAL, key=lambda n: latest[n])
    return {
        "overview": "/",
        "trials": "/trials",
        "trials-filtered": f"/trials?watch={WATCH}",
        "trials-page-2": "/trials?page=2",
        "trials-searched": "/trials?q=lung+cancer&status=RECRUITING",
        **{f"trial-{n}": f"/trials/{n}" for n in REAL},
        **{f"diff-{n}": f"/trials/{n}/diff" for n in REAL},
        "diff-first-last": f"/trials/{most}/diff?from=1&to={latest[most]}",
        **{f"version-{n}": f"/trials/{n}/versions/{latest[n]}" for n in REAL},
        "watches": "/watches",
        "watch": f"/watches/{WATCH}",
        "api": "/docs",
        "not-found": "/trials/NCT99999999",
    }


@pytest.fixture
def served(cli, fake_ctgov, engine, db_url) -> Iterator[tuple[str, dict[str, int]]]:  # type: ignore[no-untyped-def]  # noqa: E501
    latest = sync_real_versions(cli, fake_ctgov)
    gc.collect()
    add_watch(engine)
    # Past one page of 50: the trials list shows its pager.
    bulk_scope(engine, MIRRORED, watch="car-nk")
    settings = make_app(db_url, engine, token=TOKEN).state.web.settings
    server = Background(settings, bind("127.0.0.1", 0), engine).start()
    try:
        deadline = time.monotonic() + 20
        while not server.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.server.started, "uvicorn did not start"
        yield server.url, latest
    finally:
        server.stop()


def _sign_in(page: Any, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/")


def _diff_cells(page: Any) -> list[dict[str, float]]:
    return page.evaluate("""() => [...document.querySelectorAll('tr')].map(tr => {
        const o = tr.querySelector('.old'), n = tr.querySelector('.new');
        if (!o || !n) return null;
        const a = o.getBoundingClientRect(), b = n.getBoundingClientRect();
        return {old_left: a.left, old_top: a.top, old_bottom: a.bottom, old_width: a.width,
                new_left: b.left, new_top: b.top, new_width: b.width};
      }).filter(x => x)""")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_page_reads_well_on_a_phone_and_a_desktop(served) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    from playwright.sync_api import sync_playwright

    url, latest = served
    wrong: dict[str, list[str]] = {}
    cells: dict[int, list[dict[str, float]]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                _sign_in(page, url)
                for name, path in {**pages(latest), "login": "/login"}.items():
                    answer = page.goto(url + path)
                    page.wait_for_load_state("load")
                    # A page that failed would have the error page's layout measured.
                    status = answer.status if answer is not None else None
                    if status != (404 if name == "not-found" else 200):
                        wrong[f"{name} at {width} px"] = [f"answered {status}"]
                        continue
                    m = measure(page)
                    found = problems(m)
                    # The table in the notes: page, width, page width, height, overflowing.
                    print(
                        f"| {name} | {width} | {m['width']} | {m['height']} | "
                        f"{len(m['overflowing'])} | {len(m['broken'])} |"
                    )
                    if found:
                        wrong[f"{name} at {width} px"] = found
                    if os.environ.get("TRIALWATCH_LAYOUT_SHOTS") and (
                        name in DOC_PAGES or "docs" not in os.environ["TRIALWATCH_LAYOUT_SHOTS"]
                    ):
                        folder = os.environ["TRIALWATCH_LAYOUT_SHOTS"]
                        page.screenshot(path=f"{folder}/{name}-{width}.png")
                    if name == "diff-first-last":
                        cells[width] = _diff_cells(page)
                page.close()
        finally:
            browser.close()
    assert wrong == {}, "\n".join(f"{k}: {v}" for k, v in wrong.items())
    # Old beside new on a desktop, each with room to read; old above new on a phone.
    assert cells[1280] and cells[390], cells
    for c in cells[1280]:
        assert c["old_top"] == c["new_top"] and c["new_left"] >= c["old_left"] + c["old_width"] - 1
        assert c["new_width"] >= 200, c
    for c in cells[390]:
        assert c["new_top"] >= c["old_bottom"] - 1, c


def test_the_manual_shows_every_page_at_both_widths() -> None:
    """Screenshots made by the test above from the real seed, small, and in the manual."""
    manual = (PROJECT_ROOT / "docs" / "how-to" / "web.md").read_text(encoding="utf-8")
    for name in DOC_PAGES:
        for width in WIDTHS:
            shot = SCREENSHOTS / f"{name}-{width}.png"
            assert shot.exists(), f"{shot} is missing: TRIALWATCH_LAYOUT_SHOTS=docs/screenshots"
            head = shot.read_bytes()[:24]
            assert head[:8] == b"\x89PNG\r\n\x1a\n"
            assert int.from_bytes(head[16:20], "big") == width, shot
            assert shot.stat().st_size < 400_000, f"{shot} is {shot.stat().st_size} bytes"
            assert f"../screenshots/{name}-{width}.png" in manual, shot
