"""Config limits (a watch's query length, the number of watches) and requests that cannot be
sent: one line, exit 2 for bad input, never a traceback."""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from models import Watch
from models import db as dbm
from models.db import session_scope
from sync.config import (
    MAX_QUERY_CHARS,
    MAX_QUERY_URL_BYTES,
    ApiSettings,
    ConfigError,
    load_settings,
)
from sync.registry.client import BadResponse, CtgovClient, InvalidRequest
from sync.testing.fakectgov import FakeRegistry
from sync.watches import definitions as watches
from tests.support.studies import neuk203_13

# 100 KB: what the attack put in a watch's term.
HUGE = "cancer OR " * 10_000 + "x"


def one_line_error(result: Any, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return str(lines[0])


def _watch_toml(n: int, term: str = "CAR-NK") -> str:
    return "".join(f'[[watches]]\nname = "w{i}"\nterm = "{term}"\n' for i in range(n))


def test_a_100_kb_query_in_the_config_is_one_line_exit_2_without_its_text(cli) -> None:
    cli.write_config(_watch_toml(1, HUGE))
    line = one_line_error(cli("watch", "list"))
    assert "watches[0]" in line and "watch 'w0'" in line
    assert "100,001 characters" in line and f"at most {MAX_QUERY_CHARS:,}" in line
    assert "cancer OR" not in line and len(line) < 300


def test_the_query_limit_is_on_the_whole_query_at_its_boundary() -> None:
    exact = "a" * (MAX_QUERY_CHARS - 10)
    assert watches.check("w", {"term": exact, "cond": "b" * 10}).term == exact
    with pytest.raises(watches.InvalidWatch) as caught:
        watches.check("w", {"term": exact, "cond": "b" * 11})
    assert f"{MAX_QUERY_CHARS + 1:,} characters long (term: {MAX_QUERY_CHARS - 10:,})" in str(
        caught.value
    )
    # Runs of spaces and line breaks count as one, as they are sent.
    assert watches.check("w", {"term": "a  \n  " * (MAX_QUERY_CHARS // 2)}).term


def test_a_query_that_encodes_past_the_url_budget_is_refused() -> None:
    # 2,000 characters, but 12,000 bytes once percent-encoded.
    accented = "é" * 2_000
    with pytest.raises(watches.InvalidWatch) as caught:
        watches.check("w", {"term": accented})
    text = str(caught.value)
    assert "12,000 bytes once encoded" in text and f"{MAX_QUERY_URL_BYTES:,} bytes" in text
    assert "é" not in text


def test_watch_add_of_a_100_kb_query_stores_nothing(cli) -> None:
    line = one_line_error(cli("watch", "add", "big", "--term", HUGE))
    assert "100,001 characters" in line and "cancer OR" not in line
    assert cli("watch", "list", "--json").json() == []


def test_an_unbalanced_long_query_is_quoted_cut_short() -> None:
    with pytest.raises(watches.InvalidWatch) as caught:
        watches.check("w", {"term": '"' + "lung " * 700})
    text = str(caught.value)
    assert "unbalanced double quotes" in text and len(text) < 200


def test_too_many_watches_in_the_config_or_the_environment(cli, tmp_path: Path) -> None:
    cli.write_config("max_watches = 2\n" + _watch_toml(3))
    line = one_line_error(cli("watch", "list"))
    assert "watches: 3 watches declared, more than max_watches (2)" in line
    cli.write_config(_watch_toml(3))
    cli.env["TRIALWATCH_MAX_WATCHES"] = "3"
    assert cli("watch", "list").exit_code == 0
    cli.env["TRIALWATCH_MAX_WATCHES"] = "0"
    assert "max_watches" in one_line_error(cli("watch", "list"))


def test_the_default_bound_holds_the_shipped_config_and_refuses_one_past_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(_watch_toml(100), encoding="utf-8")
    assert len(load_settings(path).watches) == 100
    path.write_text(_watch_toml(101), encoding="utf-8")
    with pytest.raises(ConfigError, match="101 watches declared, more than max_watches"):
        load_settings(path)


def test_watch_add_past_max_watches_counts_the_configs_too(cli) -> None:
    cli.write_config("max_watches = 3\n" + _watch_toml(2))
    assert cli("watch", "add", "mine", "--term", "CAR-T").exit_code == 0
    line = one_line_error(cli("watch", "add", "more", "--term", "CAR-NK"))
    assert "already 3 watches" in line and "max_watches" in line
    assert cli("watch", "remove", "mine").exit_code == 0
    assert cli("watch", "add", "more", "--term", "CAR-NK").exit_code == 0
    names = {w["name"] for w in cli("watch", "list", "--json").json()}
    assert names == {"w0", "w1", "more"}


def test_a_watch_stored_before_the_limit_fails_alone_in_one_line(
    cli, db_url: str, fake_ctgov: FakeRegistry
) -> None:
    fake_ctgov.put(neuk203_13())
    assert cli("watch", "add", "good", "--term", "CAR-NK").exit_code == 0
    engine = dbm.make_engine(db_url)
    with session_scope(engine) as s:
        s.add(Watch(name="big", params={"term": HUGE}, track=True, source="cli"))
    engine.dispose()
    before = fake_ctgov.count()
    r = cli("watch", "run")
    assert r.exit_code == 1 and "Traceback" not in r.stdout + r.stderr
    big = [line for line in r.stdout.splitlines() if line.startswith("watch big")]
    assert len(big) == 1 and "100,001 characters" in big[0] and "cancer OR" not in big[0]
    assert "watch good: ok" in r.stdout
    # Only the good watch asked the registry anything.
    assert fake_ctgov.count() - before == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRIALWATCH_API_URL": "ftp://example.org/api/v2"}, "expected an http:// or https://"),
        ({"TRIALWATCH_HISTORY_URL": "http://[::1/api/int"}, "history_url: not a URL"),
        ({"TRIALWATCH_API_URL": "http://127.0.0.1:99999/api/v2"}, "api_url: not a URL"),
        ({"TRIALWATCH_API__USER_AGENT": "trialwatch é"}, "cannot be sent in an HTTP header"),
    ],
)
def test_urls_and_headers_that_cannot_be_sent_are_config_errors(
    cli, env: dict[str, str], message: str
) -> None:
    cli.env.update(env)
    assert message in one_line_error(cli("status"))


def test_a_url_too_long_for_httpx_is_an_api_error_not_retried(
    client: CtgovClient, fake_ctgov: FakeRegistry
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        client.get(f"{client.api_url}/studies", {"query.term": HUGE})
    text = str(caught.value)
    assert text.startswith("GET /studies cannot be sent") and "too long" in text
    assert "cancer OR" not in text and "\n" not in text
    assert client.requests == 1 and fake_ctgov.count() == 0


@pytest.mark.parametrize("url", ["ftp://example.org/api/v2", "example.org/api/v2"])
def test_a_scheme_httpx_cannot_send_is_not_retried(url: str, api_settings: ApiSettings) -> None:
    with CtgovClient(url, settings=api_settings) as c:
        with pytest.raises(InvalidRequest, match="GET /version cannot be sent"):
            c.version()
        assert c.requests == 1


class _BadGzip(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = gzip.compress(b'{"dataTimestamp": "2026-12-07T00:00:00"}')[:-12] + b"garbage!"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def bad_gzip() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadGzip)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v2"
    server.shutdown()
    server.server_close()


def test_an_undecodable_body_is_a_bad_response(bad_gzip: str, api_settings: ApiSettings) -> None:
    with CtgovClient(bad_gzip, settings=api_settings) as c:
        with pytest.raises(BadResponse, match="undecodable answer from 127.0.0.1/api/v2/version"):
            c.version()
        # A registry fault, retried like other bad answers.
        assert c.requests == api_settings.max_attempts


def test_the_stored_watches_are_untouched_by_a_refused_add(cli, db_url: str) -> None:
    cli.write_config("max_watches = 1\n")
    assert cli("watch", "add", "one", "--term", "CAR-NK").exit_code == 0
    one_line_error(cli("watch", "add", "two", "--term", "CAR-T"))
    engine = dbm.make_engine(db_url)
    with session_scope(engine) as s:
        assert [w.name for w in s.exec(select(Watch))] == ["one"]
    engine.dispose()
