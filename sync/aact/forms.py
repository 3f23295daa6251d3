"""AACT's value forms for API v2 values (facts from AACT's loader, ctti-clinicaltrials/aact:
app/models/study_json_record/worker.rb `date`, app/models/eligibility.rb `split_age`,
`get_boolean`). Pure: no I/O; of trialwatch only the core's `dig`."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date
from typing import Any

from sync.core.util import dig

Study = dict[str, Any]


def items(value: Any, *path: str) -> list[Any]:
    """The list at path (AACT treats a single object as a list of one), [] when absent."""
    found = dig(value, *path)
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


def objects(value: Any, *path: str) -> Iterator[dict[str, Any]]:
    """The objects of the list at path (anything else skipped)."""
    for item in items(value, *path):
        if isinstance(item, dict):
            yield item


def aact_date(text: Any) -> date | None:
    """A registry date as AACT stores it: "2025-06-15" as is, a month-only "2025-06" as the
    last day of its month, a year-only "2025" as 31 December; anything else None."""
    if not isinstance(text, str) or not text.strip():
        return None
    parts = text.strip()[:10].split("-")
    try:
        year = int(parts[0])
        if len(parts) == 1:
            return date(year, 12, 31)
        month = int(parts[1])
        if len(parts) == 2:
            return date(year, month, calendar.monthrange(year, month)[1])
        return date(year, month, int(parts[2]))
    except ValueError:
        return None


def lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def boolean(value: Any) -> bool | None:
    """AACT's get_boolean: true/false as they are, y/yes/true/t and n/no/false/f as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _BOOLEANS.get(value.strip().lower())
    return None


_BOOLEANS = {"y": True, "yes": True, "true": True, "t": True}
_BOOLEANS.update(dict.fromkeys(("n", "no", "false", "f"), False))


def text(value: Any) -> str | None:
    """A text column: strings as sent, numbers as their text, anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def number(value: Any) -> float | None:
    """AACT's `float`: a number, or the number a string holds; None otherwise ("NA")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def age_parts(age: Any) -> tuple[int | None, str | None]:
    """calculated_values' number and unit of an age text: "18 Years" -> (18, "year").

    AACT's split_age takes the leading integer and the last word, lower case and singular.
    A missing age ("N/A", AACT's default) gives (None, None) here (AACT's own gives 0, "n/a").
    """
    if not isinstance(age, str) or not age.strip() or age.strip().upper() == "N/A":
        return None, None
    words = age.split()
    try:
        num = int(words[0])
    except ValueError:
        return None, None
    unit = words[-1].lower()
    if unit.endswith("s"):
        unit = unit[:-1]
    return num, unit
