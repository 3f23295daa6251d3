"""A TCP proxy in front of PostgreSQL that, on command, goes silent, cuts, or relays again.

Silent is what a dropped NAT mapping or a firewall that starts dropping does to a connection:
both sockets stay open and nothing passes in either direction (the bytes wait in the kernel's
buffers, which acknowledge them, so the client's TCP sees nothing wrong). New connections are
accepted and hear nothing either. A cut closes every connection at once (a restart, a failover);
new ones are relayed. Resume relays again, the bytes held back included. Real sockets on
127.0.0.1, one thread per direction of each connection.
"""

from __future__ import annotations

import select
import socket
import threading
from contextlib import suppress
from types import TracebackType

import sqlalchemy as sa

CHUNK = 65536
TICK = 0.05  # how often a pump looks at the state while it waits


class DbProxy:
    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._silent = False
        self._closed = False
        self._lock = threading.Condition()
        self._socks: list[socket.socket] = []
        self.connections = 0  # accepted so far
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def url_for(self, url: str) -> str:
        """url, reached through the proxy."""
        return (
            sa.make_url(url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    # -- commands ------------------------------------------------------------------------------

    def silent(self) -> None:
        with self._lock:
            self._silent = True

    def resume(self) -> None:
        with self._lock:
            self._silent = False
            self._lock.notify_all()

    def cut(self) -> None:
        """Close every connection now (the proxy keeps accepting and relaying new ones)."""
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            _close(s)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._silent = False
            self._lock.notify_all()
        _close(self._listener)
        self.cut()

    def __enter__(self) -> DbProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- the relay -----------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self.connections += 1
                self._socks.append(client)
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _wait_until_relaying(self) -> bool:
        with self._lock:
            while self._silent and not self._closed:
                self._lock.wait(TICK)
            return not self._closed

    def _open(self, client: socket.socket) -> None:
        # A connection accepted while silent hears nothing until resumed.
        if not self._wait_until_relaying():
            return _close(client)
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            return _close(client)
        server.settimeout(None)
        with self._lock:
            self._socks.append(server)
        for src, dst in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while self._wait_until_relaying():
                ready, _, _ = select.select([src], [], [], TICK)
                if not ready:
                    continue
                if not self._wait_until_relaying():  # went silent meanwhile: read nothing
                    break
                data = src.recv(CHUNK)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, ValueError):
            pass  # cut, or closed at the other end
        _close(src)
        _close(dst)


def _close(s: socket.socket) -> None:
    with suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        s.close()
