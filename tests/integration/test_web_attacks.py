"""The web app against the attacks of issue 24, each one held: bad parameters, out-of-range
numbers, a crash, huge bodies, stolen or stale sign-ins, guessed tokens, forged Host and
X-Forwarded-* headers, HEAD; on SQLite and PostgreSQL, through TestClient and, where only a
real server can show it, over loopback HTTP to uvicorn."""

from __future__ import annotations

import gc
import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from sync.web import api, feeds, pages
from tests.support.web_seed import REAL, TOKEN, WATCH, add_watch, make_app, sync_one, web_settings

NCT = REAL[0]
SECURITY = {
    "content-security-policy": "default-src 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


@pytest.fixture
def seeded(cli, fake_ctgov, engine) -> str:  # type: ignore[no-untyped-def]
    nct = sync_one(cli, fake_ctgov)
    add_watch(engine)
    gc.collect()  # the CLI's engines: idle PostgreSQL connections add up otherwise
    return nct


@contextmanager
def client(db_url: str, engine: sa.Engine, **web: Any) -> Iterator[TestClient]:
    peer = web.pop("peer", ("127.0.0.1", 50000))
    with TestClient(make_app(db_url, engine, **web), base_url="http://localhost",
                    client=peer, raise_server_exceptions=False) as c:  # fmt: skip
        yield c


# --- bad parameters: 422 in the web's words; numbers past the columns: 404 ------------------


@pytest.mark.parametrize("as_of", ["garbage", "2026-13", "2026-02-30", "", "2026-1", "0000"])
def test_a_malformed_as_of_is_422_in_the_webs_words(db_url, engine, seeded, as_of) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    with client(db_url, engine) as c:
        r = c.get(f"/api/trials/{NCT}", params={"as_of": as_of})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith(f"as_of: {as_of!r} is not a date: use YYYY"), detail
    assert "--as-of" not in detail


@pytest.mark.parametrize("big", [2**31, 2**63, 2**64])
def test_version_numbers_past_the_columns_are_404(db_url, engine, seeded, big) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    with client(db_url, engine, token=TOKEN) as c:
        for path in (f"/api/trials/{NCT}/versions/{big}", f"/trials/{NCT}/versions/{big}"):
            r = c.get(path)
            assert r.status_code == 404, (path, r.text[:300])
            assert f"there is no version {big}" in r.text
        for path in (f"/api/trials/{NCT}/diff?from={big}", f"/trials/{NCT}/diff?to={big}"):
            r = c.get(path)
            assert r.status_code == 422 and "there is no version" in r.text, (path, r.text[:300])
        # A change ID no table can hold names no change, as an unknown one does.
        r = c.post("/api/ack", json={"change_ids": [big]},
                   headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert r.status_code == 200 and r.json()["unknown"] == [big], r.text


# --- every answer carries the security headers, a crash's included ----------------------------


def test_every_answer_carries_the_security_headers(db_url, engine, seeded) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    answers: dict[int, httpx.Response] = {}
    with client(db_url, engine, token=TOKEN, max_body_bytes=4096) as c:
        answers[200] = c.get("/")
        etag = c.get("/feeds/changes.atom").headers["etag"]
        answers[304] = c.get("/feeds/changes.atom", headers={"If-None-Match": etag})
        answers[400] = c.get("/feeds/changes.atom", headers={"Host": "evil.example"})
        answers[401] = c.post("/api/trials", json={"nct_ids": [NCT]})
        answers[404] = c.get("/nothing-here")
        answers[405] = c.put("/")
        answers[413] = c.post("/login", content=b"token=" + b"x" * 5000)
        answers[422] = c.get(f"/api/trials/{NCT}?as_of=garbage")
        for _ in range(6):
            answers[429] = c.post("/login", data={"token": "wrong"})
        with engine.begin() as conn:  # the database loses a table under the running app
            conn.execute(sa.text("ALTER TABLE trial RENAME TO trial_gone"))
        answers[500] = c.get("/api/trials")
        page_500 = c.get("/trials")
    for status, r in [*answers.items(), (500, page_500)]:
        assert r.status_code == status, (status, r.status_code, r.text[:300])
        for name, value in SECURITY.items():
            assert value in r.headers.get(name, ""), (status, name, dict(r.headers))
    assert answers[500].json() == {"detail": "internal error; the server log says more"}
    assert "Traceback" not in page_500.text and "trial_gone" not in page_500.text


# --- bodies are capped before they are read -------------------------------------------------


@contextmanager
def served(db_url: str, engine: sa.Engine, **web: Any) -> Iterator[str]:
    """The app under uvicorn on a loopback port, as `serve` runs it."""
    from sync.web.server import Background, bind

    bg = Background(web_settings(db_url, **web), bind("127.0.0.1", 0), engine).start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(bg.url + "/api/runs", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield bg.url
    finally:
        bg.stop()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _answer(sock: socket.socket, wait: float = 10.0) -> bytes:
    """What the server sent, up to the end of its headers (b"" if nothing within `wait`)."""
    got = b""
    deadline = time.monotonic() + wait
    while b"\r\n\r\n" not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


@pytest.mark.parametrize("path", ["/login", "/api/trials"])
def test_a_huge_declared_body_is_413_before_a_byte_is_read(db_url, engine, seeded, path) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    with served(db_url, engine, token=TOKEN) as url, _connect(url) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Length: 200000000\r\n\r\n".encode())  # fmt: skip
        # Not one byte of the 200 MB is sent: the answer comes without waiting for them.
        head = _answer(sock)
    assert head.startswith(b"HTTP/1.1 413 "), head[:200]
    assert b"x-content-type-options: nosniff" in head.lower()


def test_a_huge_chunked_body_is_cut_off_at_the_cap(db_url, engine, seeded) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    cap, total = 65536, 200 * 2**20
    chunk = b"%x\r\n%s\r\n" % (65536, b"t" * 65536)
    sent, head = 0, b""
    with served(db_url, engine, token=TOKEN, max_body_bytes=cap) as url, _connect(url) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")  # fmt: skip
        try:
            while sent < total:
                ready, _, _ = select.select([sock], [], [], 0)
                if ready:
                    break
                sock.sendall(chunk)
                sent += 65536
        except OSError:
            pass  # the server answered and closed the connection
        head = _answer(sock)
    assert head.startswith(b"HTTP/1.1 413 "), (sent, head[:200])
    # The server stopped reading at the cap: far less than the 200 MB was ever sent.
    assert sent < 32 * 2**20, sent


# --- sign-in: a random server-side session with an expiry, ended by sign-out and a new token --


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def _sign_in(c: TestClient, token: str = TOKEN) -> str:
    r = c.post("/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return r.cookies["trialwatch_session"]


def _can_write(c: TestClient, cookie: str) -> bool:
    c.cookies.set("trialwatch_session", cookie)
    page = c.get("/trials").text
    return (
        'name="csrf"' in page
        and c.post(
            "/ack", data={"csrf": _csrf(page), "change_ids": ["1"]}, follow_redirects=False
        ).status_code
        == 303
    )


def test_sign_in_is_a_random_session_that_sign_out_ends(db_url, engine, seeded) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    import hashlib
    import hmac

    with client(db_url, engine, token=TOKEN) as c:
        r = c.post("/login", data={"token": TOKEN}, follow_redirects=False)
        cookie = r.cookies["trialwatch_session"]
        set_cookie = r.headers["set-cookie"].lower()
        assert "max-age=43200" in set_cookie and "httponly" in set_cookie
        assert cookie != hmac.new(TOKEN.encode(), b"auth", hashlib.sha256).hexdigest()
        c.cookies.clear()
        other = _sign_in(c)
        assert other != cookie and len(cookie) >= 40
        assert _can_write(c, cookie) and _can_write(c, other)
        c.cookies.set("trialwatch_session", cookie)
        out = c.post("/logout", data={"csrf": _csrf(c.get("/trials").text)},
                     follow_redirects=False)  # fmt: skip
        assert out.status_code == 303
        # The cookie kept after sign-out (copied, stolen) no longer signs anyone in.
        assert not _can_write(c, cookie)
        assert _can_write(c, other)
        # A forged cookie does not either.
        assert not _can_write(c, "0" * 43)


def test_a_session_ends_when_it_expires_and_when_the_token_changes(db_url, engine, seeded) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    with client(db_url, engine, token=TOKEN, session_hours=1.5 / 3600) as c:
        cookie = _sign_in(c)
        assert (
            "max-age=1"
            in c.post("/login", data={"token": TOKEN}, follow_redirects=False)
            .headers["set-cookie"]
            .lower()
        )
        assert _can_write(c, cookie)
        time.sleep(1.6)
        assert not _can_write(c, cookie)
    with client(db_url, engine, token=TOKEN) as c:
        cookie = _sign_in(c)
        assert _can_write(c, cookie)
        c.app.state.web.settings.web.token = "another-token-of-16-chars-or-more"  # type: ignore[attr-defined]  # noqa: E501
        assert not _can_write(c, cookie)
        assert _sign_in(c, "another-token-of-16-chars-or-more")


# --- failed sign-ins are throttled per client -----------------------------------------------


def test_wrong_tokens_are_throttled_per_client(db_url, engine, seeded) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    from sync.web.sessions import FAILURES

    app = make_app(db_url, engine, token=TOKEN)
    with TestClient(app, base_url="http://localhost", client=("198.51.100.7", 1)) as c:
        for _ in range(FAILURES):
            assert c.post("/login", data={"token": "wrong-token"}).status_code == 401
        r = c.post("/login", data={"token": "wrong-token"})
        assert r.status_code == 429, r.text[:200]
        assert 0 < int(r.headers["retry-after"]) <= 300
        assert "try again in" in r.text
        # Even the right token waits: guessing must not go on at full speed.
        assert c.post("/login", data={"token": TOKEN}).status_code == 429
        bearer = c.post("/api/trials", json={"nct_ids": [NCT]},
                        headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert bearer.status_code == 429 and "retry-after" in bearer.headers
    # Another client is not held back by the first one's failures.
    with TestClient(app, base_url="http://localhost", client=("198.51.100.8", 1)) as other:
        assert other.post("/login", data={"token": "wrong-token"}).status_code == 401
        signed = other.post("/login", data={"token": TOKEN}, follow_redirects=False)
        assert signed.status_code == 303
        # Wrong Bearer tokens count as well.
        for _ in range(FAILURES):
            r = other.post("/api/trials", json={"nct_ids": [NCT]},
                           headers={"Authorization": "Bearer wrong-token-0123456789"})  # fmt: skip
            assert r.status_code in (401, 429)
        assert other.post("/login", data={"token": TOKEN}).status_code == 429


# --- absolute links: [web] base_url, else only allowed hosts ----------------------------------


def _links(c: TestClient, host: str) -> tuple[int, set[str]]:
    r = c.get("/feeds/changes.atom", headers={"Host": host})
    if r.status_code != 200:
        return r.status_code, set()
    feed = feedparser.parse(r.text)
    links = {link.href for e in feed.entries for link in e.links}
    return 200, {re.sub(r"^(\w+://[^/]+).*", r"\1", h) for h in links}


def test_links_come_from_base_url_or_an_allowed_host(db_url, engine, seeded) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    with client(db_url, engine) as c:
        assert _links(c, "localhost:8787") == (200, {"http://localhost:8787"})
        assert _links(c, "[::1]:8787") == (200, {"http://[::1]:8787"})
        for forged in ("evil.example", "evil.example:80", "evil.example@localhost", "a b"):
            assert _links(c, forged) == (400, set()), forged
        r = c.get("/feeds/changes.atom", headers={"Host": "evil.example"})
        assert "allowed_hosts" in r.text and "evil.example" not in r.headers.get("location", "")
    with client(db_url, engine, allowed_hosts=["TW.example.org"]) as c:
        assert _links(c, "tw.example.org:8443") == (200, {"http://tw.example.org:8443"})
        assert _links(c, "localhost") == (400, set())
    with client(db_url, engine, base_url="https://tw.example.org/") as c:
        assert _links(c, "evil.example") == (200, {"https://tw.example.org"})


# --- proxy headers only from the configured proxies --------------------------------------------


def _through(c: TestClient) -> tuple[set[str], bool, int]:
    """Asked with X-Forwarded-Proto https: the feed's link origins, whether the sign-in cookie is
    Secure, and the status of a wrong token after FAILURES + 1 wrong ones from as many
    forwarded addresses."""
    from sync.web.sessions import FAILURES

    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    r = c.get("/feeds/changes.atom", headers=forwarded)
    origins = {e.link.split("/trials")[0] for e in feedparser.parse(r.text).entries}
    signed = c.post("/login", data={"token": TOKEN}, headers=forwarded, follow_redirects=False)
    for i in range(FAILURES + 1):
        last = c.post("/login", data={"token": "wrong"},
                      headers={"X-Forwarded-For": f"203.0.113.{100 + i}"})  # fmt: skip
    return origins, "secure" in signed.headers["set-cookie"].lower(), last.status_code


def test_proxy_headers_are_believed_only_from_trusted_proxies(db_url, engine, seeded) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    proxies = ["10.0.0.0/8"]
    with client(db_url, engine, token=TOKEN, trusted_proxies=proxies, peer=("10.1.2.3", 1)) as c:
        # Failures count against each client the proxy names, not against the proxy.
        assert _through(c) == ({"https://localhost"}, True, 401)
    with client(db_url, engine, token=TOKEN, trusted_proxies=proxies, peer=("192.0.2.1", 1)) as c:
        # From elsewhere: the scheme stays http and a forged X-Forwarded-For escapes nothing.
        assert _through(c) == ({"http://localhost"}, False, 429)


def test_uvicorn_itself_believes_no_proxy_header(db_url, engine, seeded) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    """Loopback is not a proxy unless configured (uvicorn's default trusted it)."""
    with served(db_url, engine) as url:
        host = url.removeprefix("http://")
        r = httpx.get(url + "/feeds/changes.atom",
                      headers={"X-Forwarded-Proto": "https", "Host": host}, timeout=10)  # fmt: skip
    assert r.status_code == 200, r.text[:300]
    links = {e.link.split("/trials")[0] for e in feedparser.parse(r.text).entries}
    assert links == {url}


# --- `serve` warns before it listens beyond loopback in a risky way ---------------------------

TRIALWATCH = Path(sys.executable).parent / "trialwatch"


def _serve_stderr(tmp_path: Path, host: str, **env_web: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env["TRIALWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'tw.db'}"
    env["TRIALWATCH_CONFIG"] = str(tmp_path / "config.toml")
    env.update({f"TRIALWATCH_WEB__{k.upper()}": v for k, v in env_web.items()})
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    log = tmp_path / f"serve-{host}-{len(env_web)}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([str(TRIALWATCH), "serve", "--host", host, "--port", "0"],
                                env=env, stdout=subprocess.DEVNULL, stderr=fh)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "serving on" not in log.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        return log.read_text()
    finally:
        proc.terminate()
        proc.wait(30)


def test_serve_warns_beyond_loopback_without_a_token_or_over_plain_http(tmp_path: Path) -> None:
    token = {"token": TOKEN}
    no_token = _serve_stderr(tmp_path, "0.0.0.0")
    assert "warning: listening on 0.0.0.0, beyond loopback, with no [web] token" in no_token
    plain = _serve_stderr(tmp_path, "0.0.0.0", **token)
    assert "warning: listening on 0.0.0.0, beyond loopback, over plain HTTP" in plain
    behind_https = _serve_stderr(tmp_path, "0.0.0.0", base_url="https://tw.example.org", **token)
    loopback = _serve_stderr(tmp_path, "127.0.0.1", **token)
    for quiet in (behind_https, loopback):
        assert "warning" not in quiet and "serving on" in quiet, quiet


# --- HEAD on every GET route ---------------------------------------------------------------


def test_head_answers_on_every_get_route(db_url, engine, seeded) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    values = {"nct": NCT, "version": "1", "name": WATCH}
    with client(db_url, engine) as c:
        paths = [
            re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], r.path)
            for router in (api.router, feeds.router, pages.router)
            for r in router.routes
            if isinstance(r, APIRoute) and "GET" in r.methods
        ] + ["/static/app.css", "/openapi.json"]
        assert "/" in paths and len(paths) > 15
        for path in paths:
            got, head = c.get(path), c.head(path)
            assert got.status_code == 200, (path, got.text[:200])
            assert head.status_code == 200, (path, head.status_code)
            assert head.content == b"", path
            assert head.headers["content-type"] == got.headers["content-type"], path
            assert int(head.headers["content-length"]) > 0, path
            assert head.headers.get("etag") == got.headers.get("etag"), path
        assert c.head("/login").status_code == 200
        assert c.request("HEAD", "/logout").status_code == 405
