"""Edits that undo themselves: changes that restore what a field held before its last change."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sync.core.changes import Edit
from sync.core.diff.lists import DUPLICATE_SUFFIX, canon_bytes

# How many earlier version steps a field's last change is looked for in ("one or two versions
# earlier"): the registry's flips come back within days, a revert after that is news.
LOOKBACK = 2

_SITE_RE = re.compile(
    r"^(?P<head>protocolSection\.contactsLocationsModule\.locations)\[(?P<key>.*?)\]"
    r"(?P<rest>$|\.[A-Za-z]+(?=$|[.\[]).*)"
)
# Where each name sits in a site's identity (sync.core.diff.lists._site): facility|city|country,
# or city|state|zip|country for a site without a facility name.
_KEY_SLOTS = {3: {"facility": 0, "city": 1, "country": 2}, 4: {"city": 0, "state": 1, "zip": 2,
                                                               "country": 3}}  # fmt: skip


class StepChange(Edit, Protocol):
    @property
    def severity(self) -> str: ...


@dataclass(frozen=True)
class Step:
    """The stored changes from one version to the next."""

    from_version: int
    to_version: int
    changes: Sequence[StepChange]


def _split(path: str) -> tuple[str, str, str] | None:
    m = _SITE_RE.match(path)
    return (m["head"], m["key"], m["rest"]) if m else None


def _renames(changes: Sequence[StepChange]) -> dict[str, str]:
    """{a site's key after the step: its key before} for the sites whose names the step changed
    (the walk keys a renamed site by its new name)."""
    out: dict[str, str] = {}
    for c in changes:
        site = _split(c.path)
        if site is None or not isinstance(c.old, str):
            continue
        _, key, rest = site
        m = DUPLICATE_SUFFIX.search(key)
        suffix = m[0] if m else ""
        base = out.get(key, key).removesuffix(suffix) if suffix else out.get(key, key)
        parts = base.split("|")
        slot = _KEY_SLOTS.get(len(parts), {}).get(rest.lstrip("."))
        if slot is None:
            continue
        parts[slot] = " ".join(c.old.split())
        out[key] = "|".join(parts) + suffix
    return out


def _back(path: str, renames: Mapping[str, str]) -> str:
    """A path as it read before a step (a renamed site under its former key)."""
    site = _split(path)
    if site is None or site[1] not in renames:
        return path
    head, key, rest = site
    return f"{head}[{renames[key]}]{rest}"


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b or canon_bytes(a) == canon_bytes(b)


def find_reverts(changes: Sequence[StepChange], earlier: Sequence[Step]) -> dict[int, int]:
    """{index of a change: the version whose value it restores}.

    A change reverts when the same field's last change, one or two steps before (`earlier`:
    the steps into the previous versions, any order), went exactly the other way: it had the
    new value before and the old one after. A change that undoes a high-severity one (a
    suspension lifted, a cut enrollment restored) is news, not a flip: never a revert.
    """
    if not changes or not earlier:
        return {}
    steps = sorted(earlier, key=lambda s: -s.to_version)[:LOOKBACK]
    by_path = [{e.path: e for e in reversed(s.changes)} for s in steps]
    renames = [_renames(s.changes) for s in steps]
    own = _renames(changes)
    found: dict[int, int] = {}
    for i, c in enumerate(changes):
        path = _back(c.path, own)  # as it read after the step before
        for step, paths, back in zip(steps, by_path, renames, strict=True):
            e = paths.get(path)
            if e is not None:
                if e.severity != "high" and _same(e.old, c.new) and _same(e.new, c.old):
                    found[i] = step.from_version
                break  # the field's last change decides
            path = _back(path, back)
    return found


def reverted_line(changes: Sequence[Any], versions: Sequence[int]) -> str:
    """ "reverted to v3: site renamed: …": what a revert event says."""
    targets = ", ".join(f"v{v}" for v in sorted(set(versions)))
    lines = list(dict.fromkeys(str(c.summary) for c in changes))
    text = "; ".join(lines[:2]) + (f"; and {len(lines) - 2} more" if len(lines) > 2 else "")
    return f"reverted to {targets}: {text}"


def history_reverts(by_version: Mapping[int, Sequence[Any]]) -> dict[int, dict[int, int]]:
    """{version: its reverts} for a whole stored history in memory ({version: its changes})."""
    out: dict[int, dict[int, int]] = {}
    for version, changes in by_version.items():
        earlier = [
            Step(version - back - 1, version - back, by_version[version - back])
            for back in range(1, LOOKBACK + 1)
            if version - back in by_version
        ]
        out[version] = find_reverts(changes, earlier)
    return out
