"""A run's errors as it records them: one entry per distinct error with its count, and the one
that says why the run ended."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

DATABASE_ERROR = "database error: "
_TIMES_RE = re.compile(r"^(?P<message>.*) \((?P<n>\d+) times\)$", re.DOTALL)


def counted(messages: Iterable[str]) -> list[str]:
    """One entry per distinct message, in the order first met, with how many times it came
    when more than once: "HTTP 500 from the registry (4 times)". Entries already counted
    (a run's stored errors, closed later) add their count."""
    seen: Counter[str] = Counter()
    for entry in messages:
        message, n = _split(entry)
        seen[message] += n
    return [m if n == 1 else f"{m} ({n} times)" for m, n in seen.items()]


def _split(entry: str) -> tuple[str, int]:
    m = _TIMES_RE.match(entry)
    return (m["message"], int(m["n"])) if m else (entry, 1)


def cause(errors: list[str], outcome: str) -> str | None:
    """The error a run's one line shows: a database error (nothing else can be right while
    the database is wrong), else for a failed run the one it ended on (the last), else the
    first."""
    if not errors:
        return None
    for entry in errors:
        if DATABASE_ERROR in entry:
            return entry
    return errors[-1] if outcome == "failed" else errors[0]
