"""Progress of a long run as one line every so often, for a log or a pipe (no terminal)."""

from __future__ import annotations

import time
from collections.abc import Callable

# How often a long run writes its progress line by default (`progress_seconds`).
DEFAULT_INTERVAL = 60.0


def duration(seconds: float) -> str:
    """`2h 10m`, `5m 20s`, `40s`: two units at most, rounded down (an estimate)."""
    s = max(0, int(seconds))
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def eta(done: int, total: int, elapsed: float) -> str | None:
    """The time left at the rate so far, as text; None while nothing is done."""
    if done <= 0 or elapsed <= 0:
        return None
    return duration((total - done) * elapsed / done)


class ProgressLine:
    """A Progress callback (done, total, label) that writes one line at most every `interval`
    seconds: `sync: 1,200 of 10,000 IDs asked, 12 requests, ETA 2h 10m`.

    The first line comes `interval` seconds after the start: a short run writes none. The
    clock is injectable, so tests need no sleep."""

    def __init__(
        self,
        name: str,
        unit: str,
        write: Callable[[str], None],
        *,
        interval: float = DEFAULT_INTERVAL,
        requests: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.unit = unit
        self.write = write
        self.interval = interval
        self.requests = requests
        self.clock = clock
        self.started = clock()
        self.last = self.started
        self.lines = 0

    def line(self, done: int, total: int) -> str:
        text = f"{self.name}: {done:,} of {total:,}" + (f" {self.unit}" if self.unit else "")
        if self.requests is not None:
            n = self.requests()
            text += f", {n:,} request{'' if n == 1 else 's'}"
        left = eta(done, total, self.clock() - self.started)
        return text + (f", ETA {left}" if left is not None else ", ETA not known yet")

    def __call__(self, done: int, total: int, _label: str = "") -> None:
        now = self.clock()
        if now - self.last < self.interval or done >= total:
            return
        self.last = now
        self.lines += 1
        self.write(self.line(done, total))
