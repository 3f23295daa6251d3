"""Pair the items of two id-less registry lists by identity, so that order never counts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from difflib import SequenceMatcher
from typing import Any, NamedTuple

import orjson

# The "#n" that pair_items gives the second and later sites sharing one identity.
DUPLICATE_SUFFIX = re.compile(r"#(\d+)$")
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


def _name_form(value: Any) -> str:
    """A place or facility name with mojibake repaired, accents, case and punctuation dropped."""
    import ftfy  # with its wcwidth tables, a tenth of a second: only when sites are paired

    text = unicodedata.normalize("NFKD", ftfy.fix_text(_s(value)))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


def _near(a: Any, b: Any) -> bool:
    x, y = _name_form(a), _name_form(b)
    return x == y or SequenceMatcher(None, x, y, autojunk=False).ratio() >= 0.9


def _rename_score(old: dict[str, Any], new: dict[str, Any]) -> int:
    """2 when facility and city are near-identical, 1 when only one is, 0 for another site.

    The registry re-encodes facility names (mojibake flips back and forth) and renames places
    (Napoli -> Naples); a site that keeps its country and zip is the same site.
    """
    if _name_form(old.get("country")) != _name_form(new.get("country")):
        return 0
    zip_a, zip_b = _name_form(old.get("zip")), _name_form(new.get("zip"))
    if zip_a != zip_b:
        return 0
    facility = _near(old.get("facility"), new.get("facility"))
    city = _near(old.get("city"), new.get("city"))
    if facility and city:
        return 2
    # One name changing outright is only safe when a postal code anchors the place.
    return 1 if zip_a and (facility or city) else 0


def _site_renames(
    groups: dict[str, tuple[str, list[Any], list[Any]]],
) -> dict[str, str]:
    """{old-only site key: new-only site key} for sites that only changed their name."""
    olds = {k: g[1][0] for k, g in groups.items() if len(g[1]) == 1 and not g[2]}
    news = {k: g[2][0] for k, g in groups.items() if len(g[2]) == 1 and not g[1]}
    if not olds or not news:
        return {}
    by_place: dict[tuple[str, str], list[str]] = {}
    for key, item in olds.items():
        place = (_name_form(item.get("country")), _name_form(item.get("zip")))
        by_place.setdefault(place, []).append(key)
    renames: dict[str, str] = {}
    for new_key, item in news.items():
        place = (_name_form(item.get("country")), _name_form(item.get("zip")))
        best, best_score = None, 0
        for old_key in by_place.get(place, []):
            if old_key in renames:
                continue
            score = _rename_score(olds[old_key], item)
            if score > best_score:
                best, best_score = old_key, score
        if best is not None:
            renames[best] = new_key
    return renames


def pair_items(field: str, old: list[Any], new: list[Any]) -> Iterable[tuple[Seg, Any, Any]]:
    """(segment, old item or MISSING, new item or MISSING) for the items that may differ.

    Items pair by identity (LIST_KEYS, else a field unique in both lists); equal items pair
    whatever their position; duplicate identities get "#n" suffixes; a site whose name alone
    changed pairs with its new name (the segment carries the new one).
    """
    for seg, a, b, same in _pairs(field, old, new):
        if not same:
            yield seg, a, b


def pair_all(field: str, old: list[Any], new: list[Any]) -> list[tuple[int | None, int | None]]:
    """Every item of both lists as pair_items pairs them, equal items included: (position in
    old, position in new), None on the side an item is missing from. The one definition of
    "the same item" (a site added, ended or renamed) for the diff and the exports."""
    where_old = {id(item): i for i, item in enumerate(old)}
    where_new = {id(item): i for i, item in enumerate(new)}
    return [
        (
            None if a is MISSING else where_old[id(a)],
            None if b is MISSING else where_new[id(b)],
        )
        for _, a, b, _ in _pairs(field, old, new)
    ]


def _pairs(field: str, old: list[Any], new: list[Any]) -> Iterable[tuple[Seg, Any, Any, bool]]:
    """pair_items' pairs with the equal ones, each flagged `same` (equal on both sides)."""
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

    if keyfn is _site:
        renamed = _site_renames(groups)
        for old_key, new_key in renamed.items():
            groups[new_key][1].append(groups.pop(old_key)[1][0])

    for key, (display, olds, news) in groups.items():
        if len(olds) <= 1 and len(news) <= 1:
            yield (
                Seg(key, display, field),
                olds[0] if olds else MISSING,
                news[0] if news else MISSING,
                bool(olds and news and olds[0] == news[0]),
            )
            continue
        # Equal duplicates are the same items: nothing to report for them.
        pairs, old_left, new_left = _match_exact(olds, news)
        for i, (a, b) in enumerate(pairs, start=1):
            yield Seg(f"{key}#{i}", f"{display} #{i}", field), a, b, True
        n = len(pairs)
        for i in range(max(len(old_left), len(new_left))):
            n += 1
            a = old_left[i] if i < len(old_left) else MISSING
            b = new_left[i] if i < len(new_left) else MISSING
            yield Seg(f"{key}#{n}", f"{display} #{n}", field), a, b, False

    if loose_old or loose_new:
        pairs, old_left, new_left = _match_exact(loose_old, loose_new)
        for a, b in pairs:
            yield Seg("", "", field), a, b, True
        # Nothing identifies these: pair what is left by position, so an edit stays an edit.
        for i in range(max(len(old_left), len(new_left))):
            a = old_left[i] if i < len(old_left) else MISSING
            b = new_left[i] if i < len(new_left) else MISSING
            yield Seg(str(i), f"#{i + 1}", field), a, b, False
