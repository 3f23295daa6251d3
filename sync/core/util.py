"""Small pure helpers more than one module needs: nested lookups, batches, UTC times, progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")

# IN (...) lists are chunked to this size: SQLite caps the number of bound parameters.
IN_LIST_SIZE = 500

# The largest ID or version number a table holds on both databases (PostgreSQL's integer): a
# bigger one the user typed names nothing, and must not reach SQL (it overflows there).
MAX_STORED_INT = 2**31 - 1

# (done, total, label): called as work advances so a CLI can draw progress.
Progress = Callable[[int, int, str], None]


def dig(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]...; None where a level is missing or not an object (records are untrusted)."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """items in lists of at most size, in order."""
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def aware(value: datetime) -> datetime:
    """value as an aware datetime: SQLite hands back naive ones, and they are stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """value as ISO 8601 as stored (None stays None)."""
    return value.isoformat() if value else None


def utc_iso(value: datetime | None) -> str | None:
    """value as ISO 8601 in UTC, with its offset (None stays None)."""
    return aware(value).astimezone(UTC).isoformat() if value is not None else None


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 request`, `2 requests`, `1,200 studies` (many: the plural when not one + "s")."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
