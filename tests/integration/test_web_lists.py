"""The lists of the web app, on SQLite and PostgreSQL: the trials page by 50 with page numbers,
its filters kept in every link, a search by NCT ID, title, sponsor and condition; the API's
pages (limit, cursor, Link, total) of the objects `list --json` prints; all paged in SQL; gzip
answers that keep the security headers; the sponsor and conditions of trials stored before
migration 0005, filled by it from their latest version."""

from __future__ import annotations

import gzip
import re
from html import unescape
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

from models import Trial, db
from models.db import session_scope
from sync.ingest.run import track
from sync.store import codec, listing
from sync.testing.factory import make_study
from sync.testing.scope import bulk_scope, store_update
from sync.web.middleware import SECURITY_HEADERS
from tests.support.web_seed import collecting, make_app

MIRRORED = 120
# Three trials of their own: (NCT ID, title, lead sponsor, conditions, status).
OWN = [
    ("NCT07366658", "iPSC DLL3 CAR-NK in small cell lung cancer", "Neukio Biotherapeutics",
     ["Small Cell Lung Cancer", "Neuroendocrine Tumors"], "RECRUITING"),
    ("NCT06010472", "Anti-CD19 CAR-NK for lupus", "Shanghai Jiao Tong University",
     ["Systemic Lupus Erythematosus"], "NOT_YET_RECRUITING"),
    ("NCT06027853", "CLL1 CAR iPSC-NK 100% for AML_x", "Cytovia Therapeutics",
     ["Acute Myeloid Leukemia"], "RECRUITING"),
]  # fmt: skip


def _study(nct: str, title: str, sponsor: str, conditions: list[str], status: str) -> Any:
    study = make_study(nct, title=title, status=status, conditions=conditions)
    study["protocolSection"]["sponsorCollaboratorsModule"]["leadSponsor"]["name"] = sponsor
    return study


@pytest.fixture
def seeded(engine: sa.Engine) -> list[str]:
    """120 mirrored studies and three tracked ones stored as a sync stores them; every NCT ID
    in order."""
    mirrored = bulk_scope(engine, MIRRORED, watch="scope")
    with session_scope(engine) as s:
        track(s, [o[0] for o in OWN])
        for nct, *facts in OWN:
            trial = s.exec(select(Trial).where(Trial.nct_id == nct)).one()
            # A first version with another sponsor: the latest version's is the one listed.
            store_update(s, trial, _study(nct, facts[0], "Somebody Else", ["Other"], facts[3]))
            s.flush()  # on PostgreSQL the next store reads the trial's latest version afresh
            store_update(s, trial, _study(nct, *facts))  # type: ignore[arg-type]
    return sorted(mirrored + [o[0] for o in OWN])


@pytest.fixture
def web(db_url: str, engine: sa.Engine, seeded: list[str]):  # type: ignore[no-untyped-def]
    with TestClient(make_app(db_url, engine), base_url="http://localhost") as client:
        yield client


def _listed(page: str) -> list[str]:
    return re.findall(r'<a class="nct" href="/trials/(NCT\d{8})"', page)


def _pager(page: str) -> list[tuple[str, str]]:
    start = page.index('<nav class="pager"')
    nav = page[start : page.index("</nav>", start)]
    links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)
    return [(unescape(h), t.strip()) for h, t in links]


def test_trials_page_by_50_with_page_numbers(web, seeded) -> None:  # type: ignore[no-untyped-def]
    first = web.get("/trials").text
    assert _listed(first) == seeded[:50]
    assert "123 trials" in first and "page 1 of 3" in first
    links = _pager(first)
    assert [t for _, t in links] == ["1", "2", "3", "next"]
    assert dict((t, h) for h, t in links)["3"] == "/trials?page=3"
    assert 'aria-current="page">1<' in first
    third = web.get("/trials?page=3").text
    assert _listed(third) == seeded[100:]
    assert [t for _, t in _pager(third)] == ["previous", "1", "2", "3"]
    beyond = web.get("/trials?page=9").text
    assert _listed(beyond) == [] and 'href="/trials?page=3">page 3</a>' in beyond


def test_pager_leaves_out_the_far_pages() -> None:
    from sync.web.pages import pager

    assert pager(7, 20) == [1, None, 5, 6, 7, 8, 9, None, 20]
    assert pager(1, 3) == [1, 2, 3]
    assert pager(2, 12_000)[-2:] == [None, 12_000]


def test_filters_are_kept_in_the_page_links(web, seeded) -> None:  # type: ignore[no-untyped-def]
    page = web.get("/trials?q=synthetic&status=recruiting&watch=scope").text
    assert "120 trials with status Recruiting in watch scope matching" in unescape(page)
    for href, _ in _pager(page):
        assert href.startswith("/trials?status=RECRUITING&q=synthetic&watch=scope")
    two = web.get(dict((t, h) for h, t in _pager(page))["2"]).text
    assert _listed(two) == [n for n in seeded if n.startswith("NCT9")][50:100]
    # The form shows what was asked.
    assert 'value="synthetic"' in page and 'value="RECRUITING" selected' in page


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("nct07366658", ["NCT07366658"]),  # an NCT ID in any case
        ("0601", ["NCT06010472"]),  # part of one
        ("LUPUS", ["NCT06010472"]),  # a title word
        ("neukio", ["NCT07366658"]),  # the lead sponsor
        ("neuroendocrine", ["NCT07366658"]),  # a condition
        ("dll3 lung", ["NCT07366658"]),  # every word, each anywhere (lung: a condition)
        ("somebody", []),  # an earlier version's sponsor
        ("100%", ["NCT06027853"]),  # LIKE's wildcards are plain characters
        ("AML_x", ["NCT06027853"]),
        ("1%0", []),  # as wildcards they would match "100"
        ("A_L", []),  # and "AML"
    ],
)
def test_search_by_id_title_sponsor_condition(web, q, found) -> None:  # type: ignore[no-untyped-def]
    page = web.get("/trials", params={"q": q})
    assert page.status_code == 200
    assert _listed(page.text) == found
    api = web.get("/api/trials", params={"q": q})
    assert [r["nct_id"] for r in api.json()] == found
    assert api.headers["x-total-count"] == str(len(found))


def test_api_pages_follow_the_link_to_the_cli_json(web, cli, seeded) -> None:  # type: ignore[no-untyped-def]
    cli = collecting(cli)
    expected = cli("list", "--json")
    assert expected.exit_code == 0, expected.stderr
    got: list[Any] = []
    url: str | None = "/api/trials?limit=50"
    pages = 0
    while url:
        r = web.get(url)
        assert r.status_code == 200, r.text
        assert r.headers["x-total-count"] == "123"
        assert len(r.json()) <= 50
        got += r.json()
        pages += 1
        link = r.headers.get("link")
        url = re.fullmatch(r'<(/api/trials\?[^>]+)>; rel="next"', link)[1] if link else None
        if url:
            assert "limit=50" in url
    assert pages == 3
    assert got == expected.json()
    assert [r["nct_id"] for r in got] == seeded
    own = {r["nct_id"]: r for r in got}["NCT07366658"]
    assert own["sponsor"] == "Neukio Biotherapeutics"
    assert own["conditions"] == ["Small Cell Lung Cancer", "Neuroendocrine Tumors"]
    # The default page, and the CLI's filters are the API's.
    assert len(web.get("/api/trials").json()) == 100
    searched = cli("list", "--json", "--search", "car-nk", "--status", "recruiting")
    assert web.get("/api/trials?q=car-nk&status=RECRUITING&limit=1000").json() == searched.json()
    assert len(searched.json()) == MIRRORED + 1  # the mirror's and NCT07366658, not the others
    lupus = cli("list", "--json", "--search", "lupus", "--status", "not_yet_recruiting")
    assert [r["nct_id"] for r in lupus.json()] == ["NCT06010472"]
    in_watch = cli("list", "--json", "--watch", "scope")
    assert web.get("/api/trials?watch=scope&limit=1000").json() == in_watch.json()
    assert len(in_watch.json()) == MIRRORED


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/api/trials?limit=1001", "limit: "),
        ("/api/trials?limit=0", "limit: "),
        ("/api/trials?cursor=garbage", "cursor: "),
        ("/api/trials?status=SLEEPING", "status: "),
    ],
)
def test_api_list_refuses_bad_paging(web, path, why) -> None:  # type: ignore[no-untyped-def]
    r = web.get(path)
    assert r.status_code == 422 and r.json()["detail"].startswith(why)


def test_pages_are_read_in_sql(engine, seeded) -> None:  # type: ignore[no-untyped-def]
    """Page 3 asks the database for 50 rows (and one more), never for every trial."""
    asked: list[str] = []

    def count(conn, cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT TRIAL."):
            asked.append(statement.upper())

    sa.event.listen(engine, "after_cursor_execute", count)
    try:
        with session_scope(engine) as s:
            page = listing.trial_page(s, listing.TrialQuery(), 50, offset=100)
            cursor = listing.trial_page(s, listing.TrialQuery(), 50, after=seeded[49])
    finally:
        sa.event.remove(engine, "after_cursor_execute", count)
    assert [r.nct_id for r in page.rows] == seeded[100:] and page.after is None
    assert [r.nct_id for r in cursor.rows] == seeded[50:100] and cursor.after == seeded[99]
    assert page.total == cursor.total == 123
    assert len(asked) == 2 and all(" LIMIT " in q for q in asked)
    assert " OFFSET " in asked[0] and "TRIAL.NCT_ID >" in asked[1]


def test_large_answers_are_gzipped_with_the_security_headers(web) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    for path in ("/trials", "/api/trials?limit=1000"):
        r = web.get(path, headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip", path
        assert "accept-encoding" in r.headers["vary"].lower()
        for k, v in SECURITY_HEADERS.items():
            assert r.headers[k] == v
    with web.stream("GET", "/api/trials?limit=1000", headers={"Accept-Encoding": "gzip"}) as r:
        sent = b"".join(r.iter_raw())
    body = gzip.decompress(sent)
    assert orjson.loads(body) == web.get("/api/trials?limit=1000").json()
    assert len(sent) * 5 < len(body)
    small = web.get("/api/trials?limit=1", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    plain = web.get("/trials", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_migration_fills_sponsor_and_conditions_from_the_latest_version(db_url) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    """Trials stored at 0004 (a whole v1, v2 compressed against it) get their latest version's
    sponsor and conditions; a trial without versions keeps none."""
    engine = db.make_engine(db_url)
    db.upgrade(engine, "0004_i17_query_indexes")
    v1 = orjson.dumps(_study("NCT07366658", "A", "Old Sponsor", ["Old"], "RECRUITING"))
    v2 = orjson.dumps(_study(*OWN[0]))
    whole, delta = codec.encode(v1), codec.encode(v2, v1)
    with engine.begin() as conn:
        for nct, latest in (("NCT07366658", 2), ("NCT06010472", 0)):
            conn.execute(
                sa.text("INSERT INTO trial (nct_id, active, source, added_at, registry_state, "
                        "latest_version) VALUES "
                        "(:n, true, 'manual', CURRENT_TIMESTAMP, 'found', :v)"),
                {"n": nct, "v": latest},
            )  # fmt: skip
        tid = conn.execute(sa.text("SELECT id FROM trial WHERE nct_id = 'NCT07366658'")).scalar()
        for version, (encoding, body), base in ((1, whole, None), (2, delta, 1)):
            conn.execute(
                sa.text("INSERT INTO snapshot (trial_id, version, fetched_at, content_hash, "
                        "canon_version, origin, encoding, base_version, raw_size, body) VALUES "
                        "(:t, :v, CURRENT_TIMESTAMP, 'x', 1, 'poll', :e, :b, 0, :body)"),
                {"t": tid, "v": version, "e": encoding, "b": base, "body": body},
            )  # fmt: skip
    db.upgrade(engine)
    with engine.connect() as conn:
        rows = dict(
            (r[0], r[1:])
            for r in conn.execute(sa.text("SELECT nct_id, sponsor, conditions FROM trial"))
        )
    engine.dispose()
    assert rows["NCT07366658"] == ("Neukio Biotherapeutics",
                                   "Small Cell Lung Cancer\nNeuroendocrine Tumors")  # fmt: skip
    assert rows["NCT06010472"] == (None, None)
