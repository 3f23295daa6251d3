"""Pair the items of two id-less registry lists by identity, so that order never counts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import orjson

MISSING: Any = object()


class Seg(NamedTuple):
    """A list item in a path: its identity key, a human name for it, and the list's field."""

    key: str
    display: str
    field: str


# (key, display) of one item, or None when the item lacks what identifies it.
KeyFn = Callable[[dict[str, Any]], "tuple[str, str] | None"]


def _s(value: Any) -> str:
    if type(value) is str:
        return " ".join(value.split())
    return "" if value is None else " ".join(str(value).split())


def _join(*parts: Any) -> str:
    return "|".join(_s(p) for p in parts)


def _site(item: dict[str, Any]) -> tuple[str, str] | None:
    facility = _s(item.get("facility"))
    if facility:
        parts = [facility, _s(item.get("city")), _s(item.get("country"))]
    else:
        # No facility name: the address is the best identity left.
        parts = [_s(item.get(k)) for k in ("city", "state", "zip", "country")]
    if not any(parts):
        return None
    return "|".join(parts), ", ".join(p for p in parts if p)


def _contact(item: dict[str, Any]) -> tuple[str, str] | None:
    name = _s(item.get("name")) or _s(item.get("email")) or _s(item.get("phone"))
    if not name:
        return None
    role = _s(item.get("role"))
    return _join(name, role), f"{name} ({role})" if role else name


def _by(*fields: str, sep: str = ": ") -> KeyFn:
    def key(item: dict[str, Any]) -> tuple[str, str] | None:
        values = [_s(item.get(f)) for f in fields]
        if not any(values):
            return None
        return "|".join(values), sep.join(v for v in values if v)

    return key


def _reference(item: dict[str, Any]) -> tuple[str, str] | None:
    pmid = _s(item.get("pmid"))
    if pmid:
        return f"PMID {pmid}", f"PMID {pmid}"
    citation = _s(item.get("citation"))
    if not citation:
        return None
    return citation, citation if len(citation) <= 80 else citation[:79] + "…"


# Identity of the items of known lists, by the list's field name.
LIST_KEYS: dict[str, KeyFn] = {
    "locations": _site,
    "contacts": _contact,
    "centralContacts": _contact,
    "overallOfficials": _contact,
    "armGroups": _by("label"),
    "interventions": _by("type", "name"),
    "primaryOutcomes": _by("measure"),
    "secondaryOutcomes": _by("measure"),
    "otherOutcomes": _by("measure"),
    "collaborators": _by("name"),
    "references": _reference,
    "seeAlsoLinks": _by("url"),
    "availIpds": _by("type", "id", "url"),
    "secondaryIdInfos": _by("id"),
    "largeDocs": _by("filename"),
    "unpostedEvents": _by("type", "date", sep=" "),
    "outcomeMeasures": _by("type", "title"),
    "seriousEvents": _by("organSystem", "term"),
    "otherEvents": _by("organSystem", "term"),
    "groups": _by("id"),
    "eventGroups": _by("id"),
    "measurements": _by("groupId"),
    "counts": _by("groupId"),
    "achievements": _by("groupId"),
    "reasons": _by("groupId"),
    "stats": _by("groupId"),
    "denoms": _by("units"),
    "periods": _by("title"),
    "milestones": _by("type"),
    "dropWithdraws": _by("type"),
    "measures": _by("title"),
}

# For lists nobody registered: the first field present and unique in every item identifies them.
_CANDIDATE_FIELDS = (
    "id", "groupId", "nctId", "measure", "title", "term", "label", "name", "filename", "url",
    "pmid", "citation", "type", "units",
)  # fmt: skip


def canon_bytes(value: Any) -> bytes:
    """Order-free serialisation: equal for two values that differ only in list order."""
    return orjson.dumps(_canon(value), option=orjson.OPT_SORT_KEYS)


def _canon(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canon(v) for v in value]
        return sorted(items, key=lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS))
    if isinstance(value, str):
        return " ".join(value.split())
    return value


def _heuristic_key(old: list[Any], new: list[Any]) -> KeyFn | None:
    items = old + new
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for name in _CANDIDATE_FIELDS:
        ok = True
        for lst in (old, new):
            values = [i.get(name) for i in lst]
            if any(v is None or isinstance(v, dict | list) for v in values):
                ok = False
                break
            if len({_s(v) for v in values}) != len(values):
                ok = False
                break
        if ok:
            return _by(name)
    return None


def _match_exact(
    olds: list[Any], news: list[Any]
) -> tuple[list[tuple[Any, Any]], list[Any], list[Any]]:
    """Pair equal items first; what is left of each side keeps its order."""
    pending: dict[bytes, list[int]] = {}
    for i, item in enumerate(olds):
        pending.setdefault(canon_bytes(item), []).append(i)
    pairs: list[tuple[Any, Any]] = []
    new_left: list[Any] = []
    used: set[int] = set()
    for item in news:
        slots = pending.get(canon_bytes(item))
        if slots:
            i = slots.pop(0)
            used.add(i)
            pairs.append((olds[i], item))
        else:
            new_left.append(item)
    old_left = [item for i, item in enumerate(olds) if i not in used]
    return pairs, old_left, new_left


def pair_items(field: str, old: list[Any], new: list[Any]) -> Iterable[tuple[Seg, Any, Any]]:
    """(segment, old item or MISSING, new item or MISSING) for the items that may differ.

    Items pair by identity (LIST_KEYS, else a field unique in both lists); equal items pair
    whatever their position; duplicate identities get "#n" suffixes.
    """
    keyfn = LIST_KEYS.get(field) or _heuristic_key(old, new)
    groups: dict[str, tuple[str, list[Any], list[Any]]] = {}
    loose_old: list[Any] = []
    loose_new: list[Any] = []
    for side, lst, loose in ((1, new, loose_new), (0, old, loose_old)):
        for item in lst:
            ident = keyfn(item) if keyfn is not None and isinstance(item, dict) else None
            if ident is None:
                loose.append(item)
                continue
            key, display = ident
            group = groups.setdefault(key, (display, [], []))
            (group[2] if side else group[1]).append(item)

    for key, (display, olds, news) in groups.items():
        if len(olds) <= 1 and len(news) <= 1:
            if olds and news and olds[0] == news[0]:
                continue
            yield (
                Seg(key, display, field),
                olds[0] if olds else MISSING,
                news[0] if news else MISSING,
            )
            continue
        # Equal duplicates are the same items: nothing to report for them.
        pairs, old_left, new_left = _match_exact(olds, news)
        n = len(pairs)
        for i in range(max(len(old_left), len(new_left))):
            n += 1
            a = old_left[i] if i < len(old_left) else MISSING
            b = new_left[i] if i < len(new_left) else MISSING
            yield Seg(f"{key}#{n}", f"{display} #{n}", field), a, b

    if loose_old or loose_new:
        _, old_left, new_left = _match_exact(loose_old, loose_new)
        # Nothing identifies these: pair what is left by position, so an edit stays an edit.
        for i in range(max(len(old_left), len(new_left))):
            a = old_left[i] if i < len(old_left) else MISSING
            b = new_left[i] if i < len(new_left) else MISSING
            yield Seg(str(i), f"#{i + 1}", field), a, b
