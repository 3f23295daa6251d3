"""Sign-in sessions kept by the server, and the throttle of failed sign-ins (in memory: a
restart signs everyone out, which is the safe side)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# At most this many live sign-ins and throttled clients are remembered (the oldest go first).
MAX_SESSIONS = 10_000
MAX_CLIENTS = 10_000
# Failed sign-ins a client may make within WINDOW seconds before it must wait.
FAILURES = 5
WINDOW = 300.0


def fingerprint(token: str) -> str:
    """What a session remembers of the token it was opened with: a new token ends it."""
    return hashlib.sha256(b"trialwatch-session:" + token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str
    token: str  # fingerprint(the [web] token at sign-in)
    expires: float


class Sessions:
    """Random session IDs (the cookie) mapped to what the server knows of each sign-in."""

    def __init__(self, lifetime: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._live: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, token: str) -> Session:
        now = self._clock()
        s = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_hex(32),
            token=fingerprint(token),
            expires=now + self.lifetime,
        )
        with self._lock:
            for sid in [k for k, v in self._live.items() if v.expires <= now]:
                del self._live[sid]
            while len(self._live) >= MAX_SESSIONS:
                self._live.popitem(last=False)
            self._live[s.id] = s
        return s

    def get(self, sid: str, token: str | None) -> Session | None:
        """The live session of this cookie under the current token, else None."""
        if not sid or not token:
            return None
        with self._lock:
            s = self._live.get(sid)
            if s is None:
                return None
            if s.expires <= self._clock() or not hmac.compare_digest(s.token, fingerprint(token)):
                del self._live[sid]
                return None
            return s

    def close(self, sid: str) -> None:
        with self._lock:
            self._live.pop(sid, None)


class Throttle:
    """Failed sign-ins per client: past FAILURES within WINDOW seconds it must wait until the
    oldest of them is WINDOW old."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, client: str) -> int:
        """Seconds this client must wait before trying again (0: it may try now)."""
        now = self._clock()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if t > now - WINDOW]
            if recent:
                self._failures[client] = recent
            else:
                self._failures.pop(client, None)
            if len(recent) < FAILURES:
                return 0
            return max(1, int(recent[0] + WINDOW - now + 0.999))

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            self._failures.setdefault(client, []).append(now)
            self._failures.move_to_end(client)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)
