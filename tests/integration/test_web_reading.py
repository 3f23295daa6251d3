"""What the pages say, over the real captured versions (and real records from the registry), on
SQLite and PostgreSQL: the overview by trial with each version's own status and title, the
version page in words with the raw record folded, links that are links (http and https only,
PMIDs to PubMed), event lines that say their category once, feeds whose `alternate` is their
page, a favicon."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from sync.testing.factory import samples_dir
from tests.support.web_seed import (
    REAL,
    WATCH,
    add_watch,
    captures,
    collecting,
    make_app,
    sync_real_versions,
)

ATOM = "{http://www.w3.org/2005/Atom}"
# A real record whose references carry PMIDs (ctgov/records, PROVENANCE.md).
WITH_PMIDS = "NCT04267848"
CLOSED = "NCT06754501"  # a third version made from its last capture: completed, retitled
NEW_TITLE = "Retitled: a Phase 2 trial of Atezolizumab and Tiragolumab"


@pytest.fixture
def cli(cli):  # type: ignore[no-untyped-def]
    return collecting(cli)


@pytest.fixture
def web(db_url, engine, cli, fake_ctgov):  # type: ignore[no-untyped-def]
    sync_real_versions(cli, fake_ctgov)
    add_watch(engine)
    # A later version of a real record: status and title move, so the older version's own
    # differ from the trial's current ones.
    last = copy.deepcopy(captures(CLOSED)[-1])
    status = last["protocolSection"]["statusModule"]
    status["overallStatus"] = "COMPLETED"
    status["lastUpdatePostDateStruct"] = {"date": "2026-03-20", "type": "ACTUAL"}
    last["protocolSection"]["identificationModule"]["briefTitle"] = NEW_TITLE
    fake_ctgov.put(last)
    # A real record with PMIDs, and see-also links of which one is not http(s).
    study = json.loads((samples_dir() / "records" / f"{WITH_PMIDS}.json").read_text("utf-8"))
    refs = study["protocolSection"].setdefault("referencesModule", {})
    refs["seeAlsoLinks"] = [
        {"label": "Sponsor page", "url": "https://example.org/trial?id=1&x=2"},
        {"label": "Not a link", "url": "javascript:alert(1)"},
    ]
    fake_ctgov.put(study)
    fake_ctgov.bump()
    assert cli("add", WITH_PMIDS).exit_code == 0
    r = cli("sync", "--full")
    assert r.exit_code == 0, r.stderr
    # localhost: a host [web] allowed_hosts lists by default (feeds build links from it).
    with TestClient(make_app(db_url, engine), base_url="http://localhost") as client:
        yield client


def _cards(html: str) -> list[str]:
    return re.findall(r'<article class="card version[^"]*".*?</article>', html, re.S)


def test_overview_by_trial_with_each_versions_own_status_and_title(web) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    html = web.get("/").text
    recent = html[html.index('id="recent"') : html.index('id="watches"')]
    groups = re.findall(r'<section class="trial-changes.*?</section>', recent, re.S)
    trials = [re.search(r'href="/trials/(NCT\d{8})"', g).group(1) for g in groups]  # type: ignore[union-attr]  # noqa: E501
    # One trial, one place: its versions together, newest first.
    assert len(trials) == len(set(trials)) and set(REAL) <= set(trials), trials
    closed = groups[trials.index(CLOSED)]
    cards = _cards(closed)
    versions = [int(re.search(r"version (\d+)", c).group(1)) for c in cards]  # type: ignore[union-attr]  # noqa: E501
    assert versions == [3, 2], versions
    assert "st-COMPLETED" in cards[0] and NEW_TITLE in closed.split("<article")[0]
    # The older version's card says what that version said, not what the trial says now.
    assert "st-ACTIVE_NOT_RECRUITING" in cards[1] and "st-COMPLETED" not in cards[1]
    assert NEW_TITLE not in cards[1] and "A Phase 2 Clinical Trial Evaluating" in cards[1]
    # Within each importance, the trial with the newest change first.
    imps = [re.search(r'class="trial-changes imp-(\w+)"', g).group(1) for g in groups]  # type: ignore[union-attr]  # noqa: E501
    rank = {"high": 0, "medium": 1, "low": 2}
    assert [rank[i] for i in imps] == sorted(rank[i] for i in imps), imps


def test_event_lines_say_their_category_once(web) -> None:  # type: ignore[no-untyped-def]
    for path in (f"/trials/{CLOSED}", f"/trials/{CLOSED}/diff?from=1&to=2", "/"):
        html = web.get(path).text
        assert re.search(r'<span class="muted">status</span>\s*(\S+)', html), path
        assert not re.search(r'<span class="muted">(\w+)</span>(\s|<br>)*\1:', html), path


def test_version_page_in_words_with_the_raw_record_folded(web) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    html = web.get(f"/trials/{CLOSED}/versions/3").text
    main = html[html.index("<main") :]
    # Labels in words, never the API's key names, and codes as words.
    assert "<h3" in main and ">Eligibility</h3>" in main and ">Status</h3>" in main
    assert ">Overall status</span> Completed" in main
    shown = re.sub(r"<[^>]+>", " ", main.split("<details")[0])
    assert "eligibilityModule" not in shown and "overallStatus" not in shown
    # The record as received, folded.
    raw = re.search(r'<details class="raw">\s*<summary>.*?</summary>\s*<pre>(.*?)</pre>', main,
                    re.S)  # fmt: skip
    assert raw and "&#34;overallStatus&#34;: &#34;COMPLETED&#34;" in raw.group(1)
    assert '<details class="raw" open' not in main


def test_references_and_links_are_links_http_and_https_only(web) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    html = web.get(f"/trials/{WITH_PMIDS}/versions/1").text
    study = json.loads((samples_dir() / "records" / f"{WITH_PMIDS}.json").read_text("utf-8"))
    pmids = [r["pmid"] for r in study["protocolSection"]["referencesModule"]["references"]
             if r.get("pmid")]  # fmt: skip
    assert pmids
    for pmid in pmids:
        assert f'href="https://pubmed.ncbi.nlm.nih.gov/{pmid}/"' in html, pmid
    assert 'href="https://example.org/trial?id=1&amp;x=2"' in html
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert all(h.startswith(("/", "https://", "http://", "#")) for h in hrefs), hrefs


def test_feeds_alternate_links_are_their_pages(web) -> None:  # type: ignore[no-untyped-def]
    for feed, page in ((f"/feeds/trials/{CLOSED}.atom", f"/trials/{CLOSED}"),
                       (f"/feeds/watches/{WATCH}.atom", f"/watches/{WATCH}"),
                       ("/feeds/changes.atom", "/")):  # fmt: skip
        root = ET.fromstring(web.get(feed).content)
        alt = [link.get("href") for link in root.findall(f"{ATOM}link")
               if link.get("rel") == "alternate"]  # fmt: skip
        assert alt == ["http://localhost" + page], (feed, alt)
        assert web.get(page).status_code == 200


def test_a_favicon(web) -> None:  # type: ignore[no-untyped-def]
    html = web.get("/").text
    href = re.search(r'<link rel="icon" href="([^"]+)"', html)
    assert href
    for path in (href.group(1), "/favicon.ico"):
        r = web.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        assert r.content.lstrip().startswith(b"<svg")
