"""The web app (`trialwatch serve`) through FastAPI's TestClient, on SQLite and PostgreSQL, over
the real captured versions: API objects equal the CLI's --json, pages, Atom feeds that parse and
validate, ETags, tokens, CSRF, security headers, errors that are never tracebacks, and reads
that a writing sync does not block."""

from __future__ import annotations

import html
import re
import threading
import xml.etree.ElementTree as ET
from datetime import datetime

import feedparser
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from sync.ingest.run import run_sync
from tests.support.web_seed import (
    REAL,
    TOKEN,
    WATCH,
    add_watch,
    captures,
    collecting,
    make_app,
    sync_real_versions,
)

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def cli(cli):  # type: ignore[no-untyped-def]
    return collecting(cli)


@pytest.fixture
def story(cli, fake_ctgov, engine):  # type: ignore[no-untyped-def]
    counts = sync_real_versions(cli, fake_ctgov)
    add_watch(engine)
    return counts


@pytest.fixture
def web(db_url, engine, story):  # type: ignore[no-untyped-def]
    # localhost: a host [web] allowed_hosts lists by default (feeds build links from it).
    with TestClient(make_app(db_url, engine), base_url="http://localhost") as client:
        yield client


def _no_traceback(body: str) -> None:
    assert "Traceback" not in body and 'File "' not in body


# --- the JSON API is the CLI's --json -------------------------------------------------------


def test_api_objects_equal_the_cli_json(web, cli, story) -> None:  # type: ignore[no-untyped-def]
    pairs = [
        ("/api/trials", ["list"]),
        ("/api/trials?all=true", ["list", "--all"]),
        ("/api/watches", ["watch", "list"]),
        (f"/api/watches/{WATCH}/members", ["watch", "members", WATCH]),
        (f"/api/watches/{WATCH}/members?current=true", ["watch", "members", WATCH, "--current"]),
        ("/api/runs", ["status"]),
    ]
    for nct, n in story.items():
        pairs += [
            (f"/api/trials/{nct}", ["show", nct]),
            (f"/api/trials/{nct}/history", ["history", nct]),
            (f"/api/trials/{nct}/diff", ["diff", nct]),
            (f"/api/trials/{nct}/diff?from=1&to={n}", ["diff", nct, "--from", "1", "--to", str(n)]),
        ]
    for path, args in pairs:
        r = web.get(path)
        assert r.status_code == 200, (path, r.text)
        expected = cli(*args, "--json")
        assert expected.exit_code == 0, expected.stderr
        want = expected.json()
        if args == ["status"]:
            # Where the database lives is the operator's to see, not every reader's of the web.
            assert want.pop("database")
        assert r.json() == want, path

    # The objects are the real story, not two empty lists that happen to agree.
    hist = web.get("/api/trials/NCT04514484/history").json()
    assert [h["version"] for h in hist] == list(range(1, story["NCT04514484"] + 1))
    changes = web.get("/api/trials/NCT06821503/diff").json()
    assert {"status", "eligibility"} <= {c["category"] for c in changes}
    members = web.get(f"/api/watches/{WATCH}/members").json()
    assert [m["nct_id"] for m in members if not m["left"]] == sorted(REAL[:2])


def test_raw_version_is_the_record_as_received(web, story, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    from models.db import session_scope
    from sync.store import snapshots as store

    nct = "NCT04514484"
    first = web.get(f"/api/trials/{nct}/versions/1")
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert first.json()["protocolSection"] == captures(nct)[0]["protocolSection"]
    with session_scope(engine) as s:
        trial = store.get_trial(s, nct)
        assert trial is not None
        for v in range(1, story[nct] + 1):
            assert web.get(f"/api/trials/{nct}/versions/{v}").json() == store.load_record(
                s, trial.id or 0, v
            )
    page = web.get(f"/trials/{nct}/versions/2")
    assert page.status_code == 200
    assert f'href="/api/trials/{nct}/versions/2"' in page.text
    assert "statusModule" in page.text


# --- pages ------------------------------------------------------------------------------------


def test_trial_page_tells_the_story(web, story) -> None:  # type: ignore[no-untyped-def]
    nct = "NCT04514484"
    r = web.get(f"/trials/{nct}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for v in range(1, story[nct] + 1):
        assert f'id="v{v}"' in html
    # The timeline in pictures and in words: enrollment went 18 estimated -> 8 actual.
    assert "<svg" in html and "<rect" in html and "<polyline" in html
    assert "<caption>Enrollment</caption>" in html
    assert "18 (estimated)" in html and "8 (actual)" in html
    assert "<caption>Primary completion</caption>" in html
    assert f'href="/trials/{nct}/diff?from=1&amp;to=2"' in html


def test_diff_page_marks_words_in_criteria(web, story) -> None:  # type: ignore[no-untyped-def]
    r = web.get("/trials/NCT06821503/diff?from=1&to=2")
    assert r.status_code == 200
    assert "<del>" in r.text or "<ins>" in r.text
    assert "RECRUITING" in r.text and "Old (v1)" in r.text and "New (v2)" in r.text


def test_overview_trials_and_watch_pages(web, story) -> None:  # type: ignore[no-untyped-def]
    home = web.get("/").text
    assert "Run health" in home and "Recent changes" in home
    for nct in REAL:
        assert f'href="/trials/{nct}"' in home
    assert f'href="/watches/{WATCH}"' in home

    listed = web.get("/trials").text
    assert all(nct in listed for nct in REAL)
    active = web.get("/trials?status=ACTIVE_NOT_RECRUITING").text
    assert "NCT06754501" in active and "NCT05414032" not in active
    in_watch = web.get(f"/trials?watch={WATCH}").text
    assert REAL[0] in in_watch and REAL[3] not in in_watch

    watch = web.get(f"/watches/{WATCH}").text
    assert "status changed to COMPLETED" in watch and "entered" in watch
    assert web.get("/docs").status_code == 200
    assert web.get("/openapi.json").json()["paths"]["/api/trials/{nct}/diff"]


# --- errors -----------------------------------------------------------------------------------


ERRORS = [
    ("/trials/NCT99999999", 404, "not tracked"),
    ("/api/trials/NCT99999999", 404, "not tracked"),
    ("/api/trials/NCT99999999/history", 404, "not tracked"),
    ("/trials/NCT123", 422, "followed by 8 digits"),
    ("/api/trials/NCT123/diff", 422, "followed by 8 digits"),
    ("/trials/NCT06821503/diff?from=9&to=1", 422, "there is no version 9"),
    ("/api/trials/NCT06821503/diff?from=1&to=7", 404, "there is no version 7"),
    ("/api/trials/nct06821503", 422, "write it as NCT06821503"),
    ("/trials/NCT06821503/diff?from=x", 422, "from: "),
    ("/api/trials/NCT06821503/diff?to=0", 422, "to: "),
    ("/trials/NCT06821503/versions/9", 404, "no version 9"),
    ("/api/trials/NCT06821503/versions/9", 404, "no version 9"),
    ("/watches/nope", 404, "no watch named"),
    ("/api/watches/nope/members", 404, "no watch named"),
    ("/feeds/trials/NCT99999999.atom", 404, "not tracked"),
    ("/feeds/watches/nope.atom", 404, "no watch named"),
    ("/trials?status=SLEEPING", 422, "not an overall status"),
    ("/no/such/page", 404, "nothing at"),
]


def test_errors_say_why_never_a_traceback(web) -> None:  # type: ignore[no-untyped-def]
    for path, status, says in ERRORS:
        r = web.get(path)
        assert r.status_code == status, (path, r.text)
        _no_traceback(r.text)
        if path.startswith("/api/"):
            assert says in r.json()["detail"], (path, r.text)
        else:
            assert r.headers["content-type"].startswith("text/html")
            assert says in html.unescape(r.text), (path, r.text)


def test_security_headers_everywhere(web, story) -> None:  # type: ignore[no-untyped-def]
    for path in ("/", "/trials/NCT06821503", "/api/trials", "/feeds/changes.atom", "/nope"):
        h = web.get(path).headers
        csp = h["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "script-src" not in csp and "unsafe-inline" not in csp
        assert h["x-content-type-options"] == "nosniff"


# --- feeds ------------------------------------------------------------------------------------


def _valid_atom(text: str) -> ET.Element:
    """RFC 4287's must-haves: feed and entries with one id, title and updated (RFC 3339), an
    author, alternate links; IDs unique."""
    root = ET.fromstring(text.encode())
    assert root.tag == f"{ATOM}feed"

    def one(el: ET.Element, name: str) -> str:
        found = el.findall(f"{ATOM}{name}")
        assert len(found) == 1, (name, len(found))
        return found[0].text or ""

    for el in [root, *root.findall(f"{ATOM}entry")]:
        assert one(el, "id") and one(el, "title")
        datetime.fromisoformat(one(el, "updated"))
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$",
                        one(el, "updated"))  # fmt: skip
        for link in el.findall(f"{ATOM}link"):
            assert link.get("href", "").startswith("http")
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    ids = [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
    assert len(ids) == len(set(ids))
    return root


def test_feeds_parse_validate_and_answer_304(web, story, cli, fake_ctgov, engine, client) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    versions_with_changes = sum(n - 1 for n in story.values())
    first = web.get("/feeds/changes.atom")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(first.text)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert len(parsed.entries) == versions_with_changes
    _valid_atom(first.text)
    ids = [e.id for e in parsed.entries]

    trial = feedparser.parse(web.get("/feeds/trials/NCT04514484.atom").text)
    assert not trial.bozo and len(trial.entries) == story["NCT04514484"] - 1
    assert all("NCT04514484" in e.id for e in trial.entries)
    last = story["NCT04514484"]
    assert trial.entries[0].link.endswith(f"/trials/NCT04514484/diff?from={last - 1}&to={last}")
    watch = web.get(f"/feeds/watches/{WATCH}.atom")
    _valid_atom(watch.text)
    w = feedparser.parse(watch.text)
    assert not w.bozo and {"NCT05414032 left the watch"} <= {e.title for e in w.entries}

    etag = first.headers["etag"]
    again = web.get("/feeds/changes.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert web.get("/feeds/changes.atom", headers={"If-None-Match": '"other"'}).status_code == 200

    # A new version: a new ETag, one more entry, and the old entries keep their IDs.
    nct = "NCT05009069"
    caps = captures(nct)
    fake_ctgov.put(caps[0])
    cli("add", nct)
    # The engine's sync alone: the CLI's would also run the watch's search.
    assert run_sync(engine, client, full=True).outcome == "ok"
    fake_ctgov.put(caps[1])
    fake_ctgov.bump()
    assert run_sync(engine, client, full=True).outcome == "ok"
    after = web.get("/feeds/changes.atom", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    now = [e.id for e in feedparser.parse(after.text).entries]
    assert len(now) == len(ids) + 1 and set(ids) <= set(now)


def test_feed_links_use_base_url(db_url, engine, story) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(db_url, engine, base_url="https://tw.example.org/")) as c:
        parsed = feedparser.parse(c.get("/feeds/changes.atom").text)
    assert parsed.entries[0].link.startswith("https://tw.example.org/trials/")


# --- writes -----------------------------------------------------------------------------------

NEW = "NCT05009069"


def test_writes_need_the_token(db_url, engine, story, cli) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(db_url, engine)) as readonly:
        r = readonly.post("/api/trials", json={"nct_ids": [NEW]},
                          headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert r.status_code == 401 and "disabled" in r.json()["detail"]
    with TestClient(make_app(db_url, engine, token=TOKEN)) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            assert c.post("/api/trials", json={"nct_ids": [NEW]}, headers=headers).status_code \
                == 401
            assert c.delete(f"/api/trials/{REAL[0]}", headers=headers).status_code == 401
            assert c.post("/api/ack", json={"all": True}, headers=headers).status_code == 401
        assert NEW not in [t["nct_id"] for t in cli("list", "--json").json()]

        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = c.post("/api/trials", json={"nct_ids": [NEW.lower(), REAL[0]]}, headers=auth)
        assert r.status_code == 200
        assert r.json() == {"added": [NEW], "already_tracked": [REAL[0]]}
        assert NEW in [t["nct_id"] for t in cli("list", "--json").json()]
        bad = c.post("/api/trials", json={"nct_ids": ["NCT1"]}, headers=auth)
        assert bad.status_code == 422 and "8 digits" in bad.json()["detail"]
        for body in (b"{", b'{"nct_ids": []}', b'{"ids": ["NCT05009069"]}'):
            r = c.post("/api/trials", content=body,
                       headers={**auth, "Content-Type": "application/json"})  # fmt: skip
            assert r.status_code == 422 and r.json()["detail"], body
            _no_traceback(r.text)

        r = c.delete(f"/api/trials/{NEW}", headers=auth)
        assert r.status_code == 200 and r.json() == {"removed": [NEW], "not_tracked": []}
        assert c.delete(f"/api/trials/{NEW}", headers=auth).status_code == 404

        # diff --json carries no change IDs; the digest does.
        digest = cli("digest", "--json", "--since", "30d", "--trial", "NCT06821503").json()
        ids = [ch["id"] for t in digest["trials"] for ch in t["changes"]]
        assert ids
        r = c.post("/api/ack", json={"change_ids": ids[:2] + [999999]}, headers=auth)
        assert r.status_code == 200
        assert r.json() == {"acknowledged": ids[:2], "already": [], "unknown": [999999],
                            "watch_events": 0}  # fmt: skip
        again = cli("ack", str(ids[0]), "--json").json()
        assert again["already"] == [ids[0]]


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def test_forms_need_sign_in_and_csrf(db_url, engine, story, cli) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    with TestClient(make_app(db_url, engine)) as readonly:
        assert 'method="post" action="/trials"' not in readonly.get("/trials").text
        assert readonly.post("/trials", data={"nct_ids": NEW}).status_code == 401
    with TestClient(make_app(db_url, engine, token=TOKEN)) as c:
        assert 'method="post" action="/trials"' not in c.get("/trials").text  # not signed in
        assert c.post("/trials", data={"nct_ids": NEW}).status_code == 401
        assert c.post("/login", data={"token": "wrong"}).status_code == 401
        r = c.post("/login", data={"token": TOKEN}, follow_redirects=False)
        assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
        assert "samesite=strict" in r.headers["set-cookie"].lower()
        page = c.get("/trials").text
        assert 'method="post" action="/trials"' in page and '<label for="nct_ids">' in page
        token = _csrf(page)
        assert c.post("/trials", data={"nct_ids": NEW}).status_code == 403
        assert c.post("/trials", data={"nct_ids": NEW, "csrf": "0" * 64}).status_code == 403
        evil = c.post("/trials", data={"nct_ids": NEW, "csrf": token},
                      headers={"Origin": "https://evil.example"})  # fmt: skip
        assert evil.status_code == 403
        assert NEW not in [t["nct_id"] for t in cli("list", "--json").json()]
        ok = c.post("/trials", data={"nct_ids": NEW, "csrf": token}, follow_redirects=False)
        assert ok.status_code == 303
        assert NEW in [t["nct_id"] for t in cli("list", "--json").json()]

        trial = c.get("/trials/NCT06821503").text
        ids = re.findall(r'name="change_ids" value="(\d+)"', trial)
        assert ids
        r = c.post("/ack", data={"csrf": _csrf(trial), "change_ids": ids,
                                 "next": "/trials/NCT06821503"}, follow_redirects=False)
        assert r.status_code == 303
        unreviewed = cli("digest", "--json", "--since", "30d", "--unreviewed",
                         "--trial", "NCT06821503").json()  # fmt: skip
        left = {ch["id"] for t in unreviewed["trials"] for ch in t["changes"]}
        assert not left & {int(i) for i in ids}

        # Destructive: the first post asks, and only the confirmed one removes.
        csrf = _csrf(c.get("/trials").text)
        ask = c.post(f"/trials/{NEW}/remove", data={"csrf": csrf}, follow_redirects=False)
        assert ask.status_code == 200 and 'name="confirm" value="yes"' in ask.text
        assert NEW in [t["nct_id"] for t in cli("list", "--json").json()]
        r = c.post(f"/trials/{NEW}/remove", data={"csrf": csrf, "confirm": "yes"},
                   follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
        assert NEW not in [t["nct_id"] for t in cli("list", "--json").json()]


# --- reads while a sync writes ------------------------------------------------------------------


def test_reads_while_a_writer_holds_the_database(web, engine, db_url) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    """A sync's transaction (SQLite: the write lock; PostgreSQL: locked rows) is open for the
    whole time the pages are read: each page answers from the committed data."""
    holding = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "sqlite":
                    conn.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: the write lock
                conn.execute(sa.text("UPDATE trial SET title = 'being rewritten' WHERE id > 0"))
                holding.set()
                done.wait(120)
                conn.rollback()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            holding.set()

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert holding.wait(30) and not errors, errors
        for path in ("/", "/trials", "/trials/NCT06821503", "/trials/NCT06821503/diff",
                     "/api/trials", "/feeds/changes.atom", f"/watches/{WATCH}"):  # fmt: skip
            r = web.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            assert "database is locked" not in r.text and "being rewritten" not in r.text
    finally:
        done.set()
        t.join(30)
    assert not errors, errors


def test_version_events_are_the_change_events_of_a_real_update() -> None:
    from sync.core.diff import walk as differ
    from sync.core.events import build_events
    from sync.report.pageviews import version_events

    caps = captures(REAL[0])
    changes = differ.diff_records(caps[0], caps[1])
    assert changes
    # As a page gets them: change dicts with the IDs of their stored rows.
    dicts = [{"id": 100 + i, **c.to_dict()} for i, c in enumerate(changes)]
    events = version_events(dicts)
    expected = build_events(changes)
    assert [(e["kind"], e["importance"], e["summary"], e["count"]) for e in events] == [
        (e.kind, e.importance, e.summary, e.count) for e in expected
    ]
    # Every change is under exactly one event, named by its ID.
    members = [m for e in events for m in e["members"]]
    assert sorted(members) == [d["id"] for d in dicts]
    assert version_events([]) == []
