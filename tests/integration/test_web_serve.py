"""`trialwatch daemon --serve` (one process: scheduler and web app) and `trialwatch serve`, as
subprocesses against the fake registry, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sync.testing.factory import make_study, nct

TRIALWATCH = Path(sys.executable).parent / "trialwatch"
WAIT = 30.0

CONFIG = """
trials = ["{trial}"]

[schedule]
check_minutes = 0.006         # every 0.36 s
full_sync_cron = "0 0 1 1 *"
digest_cron = "0 0 1 1 *"

[web]
port = 0                      # any free port: the log line says which
"""


def _env(db_url: str, fake, config: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env.update(
        TRIALWATCH_CONFIG=str(config),
        TRIALWATCH_DATABASE_URL=db_url,
        TRIALWATCH_API_URL=fake.base_url,
        TRIALWATCH_HISTORY_URL=fake.history_url,
        TRIALWATCH_API__REQUESTS_PER_SECOND="1000",
        TRIALWATCH_API__MAX_ATTEMPTS="2",
        TRIALWATCH_API__RETRY_WAIT_INITIAL="0.01",
        TRIALWATCH_API__RETRY_WAIT_MAX="0.05",
    )
    return env


def _wait(what: str, predicate, proc: subprocess.Popen[bytes], log: Path):  # type: ignore[no-untyped-def]  # noqa: E501
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"exited ({proc.returncode}) waiting for {what}:\n{log.read_text()}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


def test_daemon_serve_syncs_and_serves_in_one_process(db_url, engine, fake_ctgov, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    trial = nct(7)
    fake_ctgov.put(make_study(trial, last_update="2026-10-01"))
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(trial=trial), encoding="utf-8")
    log = tmp_path / "daemon.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([str(TRIALWATCH), "daemon", "--serve"],
                                env=_env(db_url, fake_ctgov, config), stdout=fh,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        url = _wait("the web app", lambda: (m := re.search(r"web app serving on (\S+)",
                                                           log.read_text())) and m.group(1),
                    proc, log)  # fmt: skip

        def synced() -> bool:
            r = httpx.get(f"{url}/api/trials", timeout=5)
            assert r.status_code == 200, r.text
            return [t["latest_version"] for t in r.json()] == [1]

        # The daemon's freshness check syncs the trial; the same process serves it.
        _wait("the first sync, seen through the web app", synced, proc, log)
        page = httpx.get(f"{url}/trials/{trial}", timeout=5)
        assert page.status_code == 200 and trial in page.text
        assert httpx.get(f"{url}/api/runs", timeout=5).json()["daemon"]["state"] == "running"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert "daemon stopped (SIGTERM)" in log.read_text()


def test_serve_on_a_taken_port_is_one_line_exit_2(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env["TRIALWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'tw.db'}"
    env["TRIALWATCH_CONFIG"] = str(tmp_path / "config.toml")
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    try:
        r = subprocess.run([str(TRIALWATCH), "serve", "--port", str(port)], env=env,
                           capture_output=True, text=True, timeout=WAIT)  # fmt: skip
    finally:
        taken.close()
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "cannot listen on 127.0.0.1:" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_serves_until_sigterm_or_ctrl_c(tmp_path: Path, sig: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env["TRIALWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'tw.db'}"
    env["TRIALWATCH_CONFIG"] = str(tmp_path / "config.toml")
    env["TRIALWATCH_WEB__TOKEN"] = "a-token-of-at-least-16-chars"
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    log = tmp_path / "serve.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([str(TRIALWATCH), "serve", "--port", "0"], env=env,
                                stdout=subprocess.DEVNULL, stderr=fh)  # fmt: skip
    try:
        url = _wait("the server", lambda: (m := re.search(r"serving on (\S+)",
                                                          log.read_text())) and m.group(1),
                    proc, log)  # fmt: skip
        assert "writes allowed with the token" in log.read_text()
        assert httpx.get(url + "/", timeout=5).status_code == 200
        assert httpx.post(url + "/api/trials", json={"nct_ids": [nct(1)]},
                          timeout=5).status_code == 401  # fmt: skip
        proc.send_signal(sig)
        assert proc.wait(WAIT) == 0, log.read_text()  # a stop asked for, not a command cut short
        assert "interrupted" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_says_read_only_in_plain_words(tmp_path: Path) -> None:
    """"[web]" is printed as the config's section: Rich once took it for markup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env["TRIALWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'tw.db'}"
    env["TRIALWATCH_CONFIG"] = str(tmp_path / "config.toml")
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    log = tmp_path / "serve.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([str(TRIALWATCH), "serve", "--port", "0"], env=env,
                                stdout=subprocess.DEVNULL, stderr=fh)  # fmt: skip
    try:
        _wait("the server", lambda: "serving on" in log.read_text(), proc, log)
        line = log.read_text().strip().splitlines()[-1]
        assert line.endswith("(read-only: no token in [web]); Ctrl-C stops"), line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_answers_are_not_held_back_by_nagle() -> None:
    """asyncio turns Nagle off only on sockets whose proto is TCP: a socket made with proto 0
    (accepted ones inherit it) kept it on, and every keep-alive answer's body waited 40-50 ms
    for the client's delayed ACK of its headers (bench.web: 60 ms a cached page)."""
    import socket

    from sync.web.server import bind

    listening = bind("127.0.0.1", 0)
    client = socket.create_connection(listening.getsockname()[:2])
    accepted, _ = listening.accept()
    try:
        assert accepted.proto == socket.IPPROTO_TCP
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        for s in (accepted, client, listening):
            s.close()
