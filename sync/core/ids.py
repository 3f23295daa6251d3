"""NCT ID validation and normalisation, used at every entry point."""

from __future__ import annotations

import re

_NCT = re.compile(r"^NCT(\d{8})$")
# Lists of IDs (an argument, a file, standard input): separated by whitespace or commas.
_SEPARATORS = re.compile(r"[\s,]+")
# An offending ID is quoted at most this long: a 120,000-character argument is not echoed.
QUOTED_CHARS = 30
EXPECTED = "expected 'NCT' followed by 8 digits, e.g. NCT07366658"
SHORT = "NCT and 8 digits"


class InvalidNCTId(ValueError):
    """Not an NCT ID; the message says what a valid one looks like."""


def quoted(text: str, limit: int = QUOTED_CHARS) -> str:
    """text in quotes, cut to `limit` characters with an ellipsis (input is echoed bounded)."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def normalise_nct_id(raw: object) -> str:
    """'nct07366658 ' -> 'NCT07366658'; anything else raises InvalidNCTId."""
    if not isinstance(raw, str):
        raise InvalidNCTId(f"invalid NCT ID {quoted(str(raw))}: expected a string like NCT07366658")
    value = raw.strip().upper()
    if not _NCT.match(value):
        raise InvalidNCTId(f"invalid NCT ID {quoted(raw.strip())}: {EXPECTED}")
    return value


def split_ids(text: str, *, comments: bool = True) -> list[str]:
    """The IDs of a list as people write one: one a line or separated by spaces or commas;
    blank lines and (in a file) `#` comments are ignored. Not validated (see normalise_many)."""
    out: list[str] = []
    for line in text.splitlines():
        if comments:
            line = line.split("#", 1)[0]
        out.extend(t for t in _SEPARATORS.split(line) if t)
    return out


def normalise_many(raws: list[str], where: str = "") -> list[str]:
    """Normalise all, dropping duplicates in order. Raises InvalidNCTId naming the first invalid
    one (cut short) and how many there are; `where` names the input ("in ids.txt")."""
    out: dict[str, None] = {}
    bad: list[str] = []
    for raw in raws:
        value = raw.strip().upper() if isinstance(raw, str) else None
        if value is not None and _NCT.match(value):
            out[value] = None
        else:
            bad.append(raw)
    if not bad:
        return list(out)
    if len(raws) == 1:
        normalise_nct_id(bad[0])  # the one-ID message
    first = quoted(bad[0].strip() if isinstance(bad[0], str) else str(bad[0]))
    where = f" {where}" if where else ""
    if len(bad) == 1:
        raise InvalidNCTId(f"1 of {len(raws):,} IDs{where} is not an NCT ID: {first} ({SHORT})")
    raise InvalidNCTId(
        f"{len(bad):,} of {len(raws):,} IDs{where} are not NCT IDs ({SHORT}); the first: {first}"
    )
