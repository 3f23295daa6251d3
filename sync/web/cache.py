"""Answers rendered once per change of the data: GET answers kept by (data generation, URL,
sign-in, encoding) in a bounded LRU, with ETags made from the generation and the body, and
304 on If-None-Match.

Pages, feeds and the API depend only on what is stored (and on the day: the trial page's
timeline marks today), and the database's generation moves with every committed write from
any process (models/generation.py). The generation is read once a request, before anything is
rendered: a page rendered from it shows at least the data the number counts, so an answer kept
under a generation is never older than that generation's data, and a write moves every key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync.web.auth import COOKIE
from sync.web.context import Web

log = logging.getLogger("trialwatch.web")

# Answers that depend on more than the data: the clock (the daemon's heartbeat age), or that
# are files with validators of their own.
UNCACHED = ("/api/runs", "/static/")
# One answer may take at most this share of the cache.
ENTRY_SHARE = 8
Key = tuple[object, ...]


@dataclass(frozen=True)
class Entry:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: str


class Store:
    """The kept answers, least recently used first, within max_bytes of bodies."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._generation: int | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def seen(self, generation: int) -> None:
        """A new generation makes every kept answer unreachable: free them at once."""
        if generation != self._generation:
            self._entries.clear()
            self.bytes = 0
            self._generation = generation

    def get(self, key: Key) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Key, entry: Entry) -> None:
        size = len(entry.body)
        if size > self.max_bytes // ENTRY_SHARE:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old.body)
        while self._entries and self.bytes + size > self.max_bytes:
            _, gone = self._entries.popitem(last=False)
            self.bytes -= len(gone.body)
        self._entries[key] = entry
        self.bytes += size


def etag_of(generation: int, body: bytes) -> str:
    """Strong: the generation (every write changes it) and the body (each encoding its own)."""
    return f'"g{generation}-{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags or "*" in tags


def _accepts_gzip(headers: Headers) -> bool:
    return "gzip" in headers.get("accept-encoding", "").lower()


class PageCache:
    """The ASGI middleware (inside HEAD-as-GET: a HEAD is answered from the GET's entry)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.store = Store(max_bytes)
        self._rendering: dict[Key, asyncio.Future[Entry | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"].startswith(UNCACHED)
        ):
            await self.app(scope, receive, send)
            return
        web = scope["app"].state.web
        assert isinstance(web, Web)
        try:
            generation = await run_in_threadpool(web.generation)
        except Exception:  # noqa: BLE001  (the route meets the same database and answers for it)
            log.warning("data generation unreadable: %s answered without the cache", scope["path"])
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = self._key(scope, headers, web, generation)
        self.store.seen(generation)
        entry = self.store.get(key)
        if entry is None:
            waiting = self._rendering.get(key)
            if waiting is not None:
                # Another request renders this very answer: the first renders, the rest wait.
                entry = await asyncio.shield(waiting)
        if entry is None:
            entry = await self._render(scope, receive, send, key, generation)
            if entry is None:
                return  # answered as it came (not a cacheable 200)
        await self._answer(entry, headers, send)

    def _key(self, scope: Scope, headers: Headers, web: Web, generation: int) -> Key:
        sid = ""
        cookie = headers.get("cookie")
        if cookie and COOKIE in cookie:
            from starlette.requests import Request

            session = web.sessions.get(
                Request(scope).cookies.get(COOKIE, ""), web.settings.web.token
            )
            # A signed-in page carries its session's CSRF token: kept for that session alone.
            sid = session.id if session else ""
        return (
            generation,
            time.strftime("%Y-%m-%d", time.gmtime()),
            scope.get("scheme", "http"),
            headers.get("host", ""),
            scope.get("root_path", ""),
            scope["path"],
            scope.get("query_string", b""),
            sid,
            _accepts_gzip(headers),
        )

    async def _render(
        self, scope: Scope, receive: Receive, send: Send, key: Key, generation: int
    ) -> Entry | None:
        """The route's answer: kept and returned when it is a 200 that may be kept; else sent
        as it came (streamed on once it outgrows an entry) and None."""
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self._rendering[key] = future
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        passing = False
        limit = max(self.store.max_bytes // ENTRY_SHARE, 1 << 20)

        async def capture(message: Message) -> None:
            nonlocal start, size, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                if not _keepable(message):
                    passing = True
                    await send(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit and message.get("more_body", False):
                passing = True
                assert start is not None
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks),
                            "more_body": True})  # fmt: skip

        entry: Entry | None = None
        try:
            await self.app(scope, receive, capture)
            if not passing and start is not None:
                body = b"".join(chunks)
                headers = MutableHeaders(raw=list(start.get("headers", [])))
                etag = etag_of(generation, body)
                headers["etag"] = etag
                if "cache-control" not in headers:
                    # Kept by a browser, asked again each time: the ETag makes that cheap.
                    headers["cache-control"] = "no-cache"
                headers["content-length"] = str(len(body))
                entry = Entry(start["status"], headers.raw, body, etag)
                self.store.put(key, entry)
        finally:
            future.set_result(entry)
            self._rendering.pop(key, None)
        return entry

    async def _answer(self, entry: Entry, headers: Headers, send: Send) -> None:
        if matches(headers.get("if-none-match", ""), entry.etag):
            kept = [(k, v) for k, v in entry.headers if k in _NOT_MODIFIED_HEADERS]
            await send({"type": "http.response.start", "status": 304, "headers": kept})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": entry.status,
                    "headers": entry.headers})  # fmt: skip
        await send({"type": "http.response.body", "body": entry.body})


# What a 304 repeats of the 200 it stands for (RFC 9110 15.4.5).
_NOT_MODIFIED_HEADERS = {b"etag", b"cache-control", b"vary", b"content-location", b"expires"}


def _keepable(start: Message) -> bool:
    """A 200 that sets no cookie and does not forbid keeping it."""
    if start["status"] != 200:
        return False
    headers = Headers(raw=start.get("headers", []))
    return "set-cookie" not in headers and "no-store" not in headers.get("cache-control", "")
