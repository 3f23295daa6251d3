"""NCT ID validation and normalisation, used at every entry point."""

from __future__ import annotations

import re

_NCT = re.compile(r"^NCT(\d{8})$")


class InvalidNCTId(ValueError):
    """Not an NCT ID; the message says what a valid one looks like."""


def normalise_nct_id(raw: object) -> str:
    """'nct07366658 ' -> 'NCT07366658'; anything else raises InvalidNCTId."""
    if not isinstance(raw, str):
        raise InvalidNCTId(f"invalid NCT ID {raw!r}: expected a string like NCT07366658")
    value = raw.strip().upper()
    if not _NCT.match(value):
        raise InvalidNCTId(
            f"invalid NCT ID {raw.strip()!r}: expected 'NCT' followed by 8 digits, e.g. NCT07366658"
        )
    return value


def normalise_many(raws: list[str]) -> list[str]:
    """Normalise all, dropping duplicates in order; raises on the first invalid one."""
    out: list[str] = []
    for raw in raws:
        nct = normalise_nct_id(raw)
        if nct not in out:
            out.append(nct)
    return out
