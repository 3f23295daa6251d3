"""Security: registry text stays text in every digest (headless Chromium), secrets stay out of
every output, TLS is verified, oversized answers are refused, the database is its owner's."""

from __future__ import annotations

import ast
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from models import db
from models.db import session_scope
from sync.config import ApiSettings, ConfigError, load_settings
from sync.ingest.run import run_sync, track
from sync.registry.client import ApiUnavailable, CtgovClient, ResponseTooLarge
from sync.report import digest as dg
from sync.report.render import render
from sync.testing.factory import make_study, nct, with_last_update
from sync.testing.fakectgov import FakeRegistry, Fault, Response
from tests.support import PROJECT_ROOT as PROJECT

CHROMIUM = Path(os.environ.get("TRIALWATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]

# -- registry text never becomes markup or script ------------------------------------------------

P1 = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
P2 = (
    '"><svg onload="window.__pwned=3"></svg><a href="javascript:window.__pwned=4">x</a>]]>'
    '<iframe src="javascript:window.__pwned=5"></iframe>{{7*7}}'
    "&lt;script&gt;window.__pwned=6&lt;/script&gt;<style>*{display:none}</style>"
)
HOSTILE_IDS = [nct(301), nct(302)]
MISSING = nct(309)


def _poison(node: Any, payload: str, path: tuple[str, ...] = ()) -> Any:
    """Every text field of a record with the payload appended (the NCT ID excepted)."""
    if isinstance(node, dict):
        return {k: _poison(v, payload, (*path, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_poison(v, payload, path) for v in node]
    if isinstance(node, str) and path[-1:] != ("nctId",):
        return f"{node} {payload}"
    return node


class HostileRegistry(FakeRegistry):
    """Answers the single lookup of MISSING with a 500 whose body is markup (it ends up in a
    run's errors, and so in the digest's run health)."""

    def answer(self, path: str, params: dict[str, str], fault: Fault | None) -> Response:
        if path.endswith(MISSING):
            return Response(500, f"upstream error {P1}".encode(), "text/plain")
        return super().answer(path, params, fault)


@pytest.fixture(scope="module")
def hostile_digests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A digest in md, html and atom of two syncs where every text field of two records
    changed from one payload to another, a watch entry, and a failed run."""
    from sync.config import Settings, WatchConfig
    from sync.watches import runner as discover

    tmp_path = tmp_path_factory.mktemp("hostile")
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hostile.db'}")
    db.upgrade(engine)
    settings = Settings(watches=[WatchConfig(name="hostile", titles="CAR-NK")])
    api = ApiSettings(requests_per_second=1000, max_attempts=2, retry_wait_initial=0.01)
    with HostileRegistry() as fake, CtgovClient(fake.base_url, fake.history_url, api) as client:
        for n in HOSTILE_IDS:
            fake.put(_poison(make_study(n, last_update="2026-10-01"), P1))
        with session_scope(engine) as s:
            track(s, HOSTILE_IDS)
        assert run_sync(engine, client).outcome == "ok"
        for n in HOSTILE_IDS:
            fake.put(with_last_update(_poison(make_study(n), P2), "2026-11-21"))
        fake.put(_poison(make_study(nct(303), last_update="2026-11-21"), P2))  # enters the watch
        fake.bump()
        with session_scope(engine) as s:
            track(s, [MISSING])
        hook = discover.sync_hook(engine, settings, client)
        second = run_sync(engine, client, before_fetch=hook)
        assert second.outcome == "partial" and any("upstream error" in e for e in second.errors)
        assert second.changes > 50
    now = datetime.now(UTC) + timedelta(seconds=1)
    with session_scope(engine) as s:
        data = dg.build_digest(s, dg.Selection(since=now - timedelta(days=1), until=now))
    engine.dispose()
    return {fmt: render(data, fmt) for fmt in ("md", "html", "atom")}


INERT_CHECK = """() => {
  const bad = [];
  for (const e of document.querySelectorAll('*')) {
    for (const a of e.attributes) {
      if (a.name.startsWith('on')) bad.push(e.tagName + ' ' + a.name);
      if (/^\\s*javascript:/i.test(a.value)) bad.push(e.tagName + ' ' + a.name + ' javascript:');
    }
  }
  for (const tag of ['script', 'iframe', 'img', 'object', 'embed', 'style', 'a[href^=" "]'])
    for (const e of document.querySelectorAll(tag)) bad.push('element ' + e.tagName);
  return {bad, pwned: typeof window.__pwned, text: document.body ? document.body.innerText : ''};
}"""


@contextmanager
def _browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing (make test installs it)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _inert(browser: Any, html: str, where: str, tmp: Path) -> str:
    """Load html in a page that may fetch nothing; no script ran, nothing active; its text."""
    page = browser.new_page()
    events: list[str] = []
    page.on("dialog", lambda d: (events.append(f"dialog {d.message}"), d.dismiss()))
    page.on("pageerror", lambda e: events.append(f"pageerror {e}"))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    path = tmp / f"{where}.html"
    path.write_text(html, encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    found = page.evaluate(INERT_CHECK)
    page.close()
    assert found["pwned"] == "undefined", f"{where}: a payload ran"
    assert events == [], f"{where}: {events}"
    # The template's own <style> is allowed (one, in the head); a payload's is not.
    bad = [b for b in found["bad"] if b != "element STYLE"]
    assert bad == [], f"{where}: {bad}"
    return str(found["text"])


def test_registry_text_is_inert_in_html_and_atom_digests(
    hostile_digests: dict[str, str], tmp_path: Path
) -> None:
    html = hostile_digests["html"]
    assert html.count("<style") <= 1 and "<script" not in html and "<iframe" not in html
    atom = hostile_digests["atom"]
    tree = ET.fromstring(atom.encode())  # well-formed, "]]>" and all
    ns_ok = ("{http://www.w3.org/2005/Atom}", "{http://www.w3.org/1999/xhtml}")
    forbidden_tags = {"script", "iframe", "img", "svg", "object", "embed", "style", "a"}
    for el in tree.iter():
        assert el.tag.startswith(ns_ok), f"atom: foreign element {el.tag}"
        local = el.tag.split("}", 1)[1]
        if el.tag.startswith(ns_ok[1]):
            assert local not in forbidden_tags, f"atom: <{local}> in entry content"
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), f"atom: {name} on {local}"
            assert not value.strip().lower().startswith("javascript:"), f"atom: {name}={value}"
    with _browser() as browser:
        text = _inert(browser, html, "digest-html", tmp_path)
        # Shown as text, in every kind of place.
        assert "<script>window.__pwned=1</script>" in text
        assert '<svg onload="window.__pwned=3">' in text
        assert "upstream error <script>" in text  # a run's error
        for i, content in enumerate(tree.iter("{http://www.w3.org/2005/Atom}content")):
            body = "".join(ET.tostring(child, encoding="unicode") for child in content)
            _inert(
                browser, f"<!doctype html><html><body>{body}</body></html>", f"atom{i}", tmp_path
            )


def test_registry_text_is_inert_in_the_markdown_digest_as_email_html(
    hostile_digests: dict[str, str], tmp_path: Path
) -> None:
    import markdown

    # The Markdown digest goes to e-mail and chat as HTML: rendered as apprise renders it.
    md_html = markdown.markdown(hostile_digests["md"])
    with _browser() as browser:
        md_text = _inert(browser, f"<!doctype html><body>{md_html}</body>", "md", tmp_path)
    assert "window.__pwned=1" in md_text


# -- secrets never in logs, errors, status or reports ---------------------------------------------

DB_SECRET = "DbPw-9f3kQ2zX"
TOKEN = "NotifyTok-7hY2mWq4"
QUERY_SECRET = "QuerySecret-x81Lp"

DRIVER = """
import sys
from sync.cli.app import main
for line in sys.stdin.read().splitlines():
    sys.argv = ["trialwatch", *line.split()]
    print(f"### trialwatch {line}", flush=True)
    print(f"### trialwatch {line}", file=sys.stderr, flush=True)
    try:
        main()
    except SystemExit as exc:
        print(f"### exit {exc.code}", flush=True)
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli_lines(lines: list[str], env: dict[str, str], cwd: Path) -> tuple[str, str]:
    """Several trialwatch commands in one process (as a user would type them), all output."""
    done = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input="\n".join(lines),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout, done.stderr


def _db_text(url: str) -> str:
    """Every text the database holds, as one string."""
    eng = sa.create_engine(url)
    out = []
    with eng.connect() as conn:
        for table in sa.inspect(eng).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                out.append(" ".join(str(v) for v in row if isinstance(v, str | dict | list)))
    eng.dispose()
    return "\n".join(out)


def test_secrets_stay_out_of_outputs_and_the_database(
    pg_database: str, tmp_path: Path, fake_ctgov: FakeRegistry
) -> None:
    from tests.support.fixtures import reset_pg

    reset_pg(pg_database)
    # PostgreSQL on CI trusts loopback, so a password in the URL is accepted and unused.
    url = sa.make_url(pg_database).set(password=DB_SECRET).render_as_string(hide_password=False)
    hook = f"json://user:{TOKEN}@127.0.0.1:{_closed_port()}/hook?token={QUERY_SECRET}"
    fake_ctgov.put(make_study(nct(1)))
    config = tmp_path / "config.toml"
    config.write_text('[notify]\nformat = "md"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env.update(
        TRIALWATCH_CONFIG=str(config),
        TRIALWATCH_DATABASE_URL=url,
        TRIALWATCH_API_URL=fake_ctgov.base_url,
        TRIALWATCH_HISTORY_URL=fake_ctgov.history_url,
        TRIALWATCH_API__REQUESTS_PER_SECOND="1000",
        TRIALWATCH_API__MAX_ATTEMPTS="2",
        TRIALWATCH_API__RETRY_WAIT_INITIAL="0.01",
        TRIALWATCH_NOTIFY_URLS=hook,
        COLUMNS="200",
    )
    lines = [
        "db upgrade",
        f"add {nct(1)} {nct(2)}",
        "-v sync",
        "-v notify test",
        "status",
        "status --json",
        "list --json",
        "digest --since 1d",
        "digest --since 1d -f json",
    ]
    out, err = run_cli_lines(lines, env, tmp_path)
    # The database unreachable, with the password in its URL.
    env_down = dict(env, TRIALWATCH_DATABASE_URL=url.replace("127.0.0.1:5432", "127.0.0.1:1"))
    out2, err2 = run_cli_lines(["list", "status"], env_down, tmp_path)
    assert "database cannot be used" in err2
    # A config error near the secret.
    config.write_text(f'[notify]\nurls = ["{hook}"]\nformat = "pdf"\n', encoding="utf-8")
    out3, err3 = run_cli_lines(["status"], env, tmp_path)
    assert "format" in err3 and "### exit 2" in out3
    everything = "\n".join([out, err, out2, err2, out3, err3, _db_text(pg_database)])
    assert "notify test" in everything and "sync" in everything  # the commands did run
    for secret in (DB_SECRET, TOKEN, QUERY_SECRET):
        assert secret not in everything, f"{secret} leaked"
    assert "****" in out + err  # the channel is named, masked


# -- TLS is verified, and there is no switch to turn that off --------------------------------------


def _sources() -> list[Path]:
    return sorted([*(PROJECT / "sync").rglob("*.py"), *(PROJECT / "models").rglob("*.py")])


def test_no_code_turns_certificate_checks_off() -> None:
    bad = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "verify":
                if not (isinstance(node.value, ast.Constant) and node.value.value is True):
                    bad.append(f"{path.name}:{node.value.lineno} verify={ast.unparse(node.value)}")
            if isinstance(node, ast.Attribute) and node.attr in (
                "CERT_NONE",
                "_create_unverified_context",
            ):
                bad.append(f"{path.name}:{node.lineno} {node.attr}")
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "check_hostname" for t in node.targets
            ):
                bad.append(f"{path.name}:{node.lineno} check_hostname set")
    assert bad == []


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("[api]\nverify = false\n", {}),
        ("[api]\nverify_tls = false\n", {}),
        ("", {"TRIALWATCH_API__VERIFY": "false"}),
    ],
)
def test_no_setting_turns_certificate_checks_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(config)


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback with a certificate nobody signed; /api/v2/version answers."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps({"apiVersion": "2", "dataTimestamp": "2026-11-20T09:00:03"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/api/v2"
    server.shutdown()
    server.server_close()


def test_an_unverifiable_certificate_is_refused(self_signed_https: str) -> None:
    api = ApiSettings(requests_per_second=1000, max_attempts=1, timeout_seconds=5)
    with CtgovClient(self_signed_https, self_signed_https, api) as client:
        with pytest.raises(ApiUnavailable, match="CERTIFICATE_VERIFY_FAILED|certificate verify"):
            client.version()


# -- an oversized answer is refused as it streams in -------------------------------------------


@pytest.fixture
def endless_server() -> Iterator[str]:
    """Answers with a chunked body (no Content-Length) that never ends (512 MiB at most)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b'{"studies": [' + b" " * (64 * 1024 - 13)
            try:
                for _ in range(8192):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                return  # the client hung up: what we expect

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v2"
    server.shutdown()
    server.server_close()


def test_an_endless_answer_is_refused_without_filling_memory(endless_server: str) -> None:
    cap = 1024 * 1024
    api = ApiSettings(requests_per_second=1000, max_response_bytes=cap, max_attempts=3)
    with CtgovClient(endless_server, endless_server, api) as client:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLarge):
                client.get(f"{endless_server}/studies")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert client.requests == 1  # refused, not retried
    assert peak < 16 * cap, f"peak {peak} bytes for a cap of {cap}"


# -- the database file is its owner's -------------------------------------------------------------


def test_the_default_database_is_created_owner_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), TRIALWATCH_CONFIG=str(tmp_path / "c.toml"))
    (tmp_path / "c.toml").write_text("", encoding="utf-8")
    out, _ = run_cli_lines([f"add {nct(1)}", "list"], env, tmp_path)
    assert "### exit 0" in out
    data = tmp_path / "xdg" / "trialwatch"
    files = sorted(p.name for p in data.iterdir())
    assert "trialwatch.db" in files
    for p in data.iterdir():
        assert p.stat().st_mode & 0o077 == 0, (
            f"{p.name} is readable by others: {oct(p.stat().st_mode)}"
        )
