"""Serving the app with uvicorn: in the foreground (`serve`) or beside the daemon (`--serve`)."""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
from types import FrameType

import uvicorn
from sqlalchemy.engine import Engine

from sync.config import Settings
from sync.web.app import create_app


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is one clear error for the
    caller (uvicorn would log it and exit its thread)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto says TCP, and accepted sockets inherit it. With Nagle on, an answer's body waited
    # for the ACK of its headers, which the client delays: 40-50 ms on every keep-alive
    # request after the first.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any address


def warnings(settings: Settings, host: str) -> list[str]:
    """What `serve` says before it listens beyond loopback in a risky way."""
    if is_loopback(host):
        return []
    web = settings.web
    if not web.token:
        return [
            f"warning: listening on {host}, beyond loopback, with no [web] token: anyone who "
            "reaches it reads every tracked trial (set [web] token to make it yours)"
        ]
    if not (web.base_url or "").startswith("https://"):
        return [
            f"warning: listening on {host}, beyond loopback, over plain HTTP: the token and "
            "the sign-in cookie cross the network readable; serve behind an HTTPS proxy and "
            "set [web] base_url to its https:// address"
        ]
    return []


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _server(settings: Settings, engine: Engine | None) -> uvicorn.Server:
    app = create_app(settings, engine)
    config = uvicorn.Config(
        app,
        log_level="warning",
        # X-Forwarded-* are believed only from [web] trusted_proxies: the app does that.
        proxy_headers=False,
        server_header=False,
    )
    return uvicorn.Server(config)


def serve(settings: Settings, sock: socket.socket, engine: Engine | None = None) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (uvicorn's own handlers)."""

    def stopped(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    # uvicorn shuts down on SIGTERM or Ctrl-C, puts the previous handler back and raises the
    # signal again: with this one the stop it was asked for ends in exit code 0 (as the
    # daemon's), not in the CLI's "interrupted" (which is for a command cut short).
    previous = {sig: signal.signal(sig, stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        _server(settings, engine).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Background:
    """The app served from a thread of the daemon's process; stop() ends it cleanly."""

    def __init__(self, settings: Settings, sock: socket.socket, engine: Engine | None) -> None:
        self.sock = sock
        self.url = url_of(sock)
        self.server = _server(settings, engine)
        # uvicorn installs signal handlers only in the main thread: the daemon keeps its own.
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="trialwatch-web", daemon=True
        )

    def start(self) -> Background:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
