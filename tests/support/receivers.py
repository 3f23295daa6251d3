"""Notification receivers on loopback for tests: a webhook (apprise json://) and an SMTP server
(aiosmtpd, apprise mailto://), each recording what arrives."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOOK_SECRET = "hooksecret-7Qx9"
SMTP_SECRET = "s3cretPW-smtp"


@dataclass
class Webhook:
    """An HTTP endpoint that records what apprise's json:// posts; fails the first N on request."""

    fail_first: int = 0
    delay: float = 0.0  # seconds each POST waits before it answers (a slow receiver)
    posting: threading.Event = field(default_factory=threading.Event)  # a POST has arrived
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Webhook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.posting.set()
                time.sleep(hook.delay)
                status = 500 if hook.fail_first > 0 else 200
                hook.fail_first -= 1 if hook.fail_first > 0 else 0
                hook.statuses.append(status)
                hook.auth.append(self.headers.get("Authorization"))
                if status == 200:
                    hook.received.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"json://hook:{HOOK_SECRET}@127.0.0.1:{self.server.server_address[1]}/digest"

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Smtp:
    """aiosmtpd on loopback, with AUTH (no TLS on loopback), recording each message."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.port = free_port()
        smtp = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                smtp.messages.append(envelope.content)
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                          data: Any) -> AuthResult:  # fmt: skip
            ok = isinstance(data, LoginPassword) and data.password == SMTP_SECRET.encode()
            return AuthResult(success=ok)

        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticator,
            auth_require_tls=False,
        )
        self.controller.start()

    @property
    def url(self) -> str:
        return (
            f"mailto://trialwatch:{SMTP_SECRET}@127.0.0.1:{self.port}?smtp=127.0.0.1"
            "&mode=insecure&from=trialwatch@example.org&to=team@example.org"
        )

    def close(self) -> None:
        self.controller.stop()


@contextmanager
def serve_webhook() -> Iterator[Webhook]:
    hook = Webhook().start()
    try:
        yield hook
    finally:
        hook.close()


@contextmanager
def serve_smtp() -> Iterator[Smtp]:
    server = Smtp()
    try:
        yield server
    finally:
        server.close()
