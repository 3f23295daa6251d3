"""Two full study records -> typed changes (category, path, old, new, summary, severity)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from sync.core import outcomes, record, results_diff
from sync.core.criteria import diff_criteria, word_diff
from sync.core.diff.lists import MISSING, Seg, pair_items
from sync.core.diff.rules import (
    HIGH_STATUSES,
    KEY_DATES,
    category_of,
    date_slip,
    empty,
    entity_of,
    field_label,
    fmt,
    humanise,
    severity_of,
    short,
    slip_text,
)
from sync.core.record import SUBMITTED_SECTIONS
from sync.core.states import Category, Severity
from sync.core.text import comparable

# In the order changes are listed.
CATEGORIES: tuple[str, ...] = tuple(Category)
SEVERITIES: tuple[str, ...] = tuple(Severity)


@dataclass(frozen=True)
class FieldChange:
    """One typed difference between two versions of a record."""

    category: str
    path: str
    old: Any
    new: Any
    summary: str
    severity: str
    detail: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "path": self.path,
            "old": self.old,
            "new": self.new,
            "summary": self.summary,
            "severity": self.severity,
            "detail": self.detail,
        }


Path = tuple["str | Seg", ...]

# Not content: the submission dates and registry-filled fields record.py also leaves unhashed.
_IGNORED = record.NOISE_PATHS
_LONG_TEXT = 80
_CRITERION_PATH_RE = re.compile(r"\.eligibilityCriteria\.(inclusion|exclusion|other)\[")


def _sig(path: Path) -> tuple[str, ...]:
    return tuple("[]" if isinstance(s, Seg) else s for s in path)


def render_path(path: Path) -> str:
    out = ""
    for seg in path:
        if isinstance(seg, Seg):
            out += f"[{seg.key}]"
        else:
            out += f".{seg}" if out else seg
    return out


def _word_diff(old: str, new: str) -> list[list[str]]:
    return [[op, text] for op, text in word_diff(old, new)]


class _Differ:
    def __init__(self) -> None:
        self.changes: list[FieldChange] = []

    def emit(
        self,
        path: Path,
        old: Any,
        new: Any,
        summary: str,
        severity: str,
        category: str | None = None,
        detail: Any = None,
    ) -> None:
        keys = [s for s in path if isinstance(s, str)]
        self.changes.append(
            FieldChange(
                category=category or category_of(keys),
                path=render_path(path),
                old=None if old is MISSING else old,
                new=None if new is MISSING else new,
                summary=summary,
                severity=severity,
                detail=detail,
            )
        )

    # --- the walk ---------------------------------------------------------------------------

    def node(self, path: Path, a: Any, b: Any) -> None:
        if a == b:
            return
        a_empty, b_empty = empty(a), empty(b)
        if a_empty and b_empty:
            return
        sig = _sig(path)
        if sig in _IGNORED:
            return
        handler = _HANDLERS.get(sig)
        if handler is None and sig[:2] == ("protocolSection", "statusModule") and len(sig) == 3:
            if sig[2].endswith("DateStruct"):
                handler = _Differ.date_struct
        if handler is not None and handler(self, path, a, b):
            return
        if isinstance(a, dict) or isinstance(b, dict):
            if (a_empty or isinstance(a, dict)) and (b_empty or isinstance(b, dict)):
                da = a if isinstance(a, dict) else {}
                db = b if isinstance(b, dict) else {}
                for key in list(db) + [k for k in da if k not in db]:
                    x, y = da.get(key, MISSING), db.get(key, MISSING)
                    if x is y or x == y:  # most fields are unchanged: skip the call
                        continue
                    self.node((*path, key), x, y)
                return
        elif isinstance(a, list) or isinstance(b, list):
            if (a_empty or isinstance(a, list)) and (b_empty or isinstance(b, list)):
                self.walk_list(
                    path, a if isinstance(a, list) else [], b if isinstance(b, list) else []
                )
                return
        elif isinstance(a, str) and isinstance(b, str):
            if comparable(a) == comparable(b):
                return
        if not (a_empty or b_empty) and _shape(a) != _shape(b):
            # A list where a dict belongs, text where a number belongs: report it, never guess.
            self.emit(
                path,
                a,
                b,
                f"{render_path(path)}: unexpected change of shape ({_shape(a)} -> {_shape(b)})",
                Severity.MEDIUM,
                category=Category.OTHER,
            )
            return
        self.leaf(path, a, b)

    def walk_list(self, path: Path, a: list[Any], b: list[Any]) -> None:
        field = path[-1] if path and isinstance(path[-1], str) else ""
        if all(not isinstance(v, dict | list) for v in a) and all(
            not isinstance(v, dict | list) for v in b
        ):
            self.scalar_list(path, a, b)
            return
        # Equal items in equal places are unchanged: drop the common head and tail cheaply, so
        # one site inserted among a thousand keys only a handful of items.
        start = 0
        end_a, end_b = len(a), len(b)
        while start < end_a and start < end_b and a[start] == b[start]:
            start += 1
        while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
            end_a -= 1
            end_b -= 1
        a, b = a[start:end_a], b[start:end_b]
        if len(a) == len(b) <= 16 and all(a.count(x) == b.count(x) for x in a):
            return  # a short list reordered (a site's contacts): nothing to pair
        for seg, x, y in pair_items(field, a, b):
            if x is MISSING or y is MISSING:
                self.whole_item((*path, seg), x, y)
            else:
                self.node((*path, seg), x, y)

    def scalar_list(self, path: Path, a: list[Any], b: list[Any]) -> None:
        def norm(v: Any) -> Any:
            return comparable(v) if isinstance(v, str) else v

        ca, cb = Counter(norm(v) for v in a), Counter(norm(v) for v in b)
        if ca == cb:
            return
        added = sorted(map(str, (cb - ca).elements()))
        removed = sorted(map(str, (ca - cb).elements()))
        prefix, label = self._context(path)
        text = f"{fmt(a)} -> {fmt(b)}"
        if len(text) > 80:
            parts = ([f"added {short(', '.join(added), 40)}"] if added else []) + (
                [f"removed {short(', '.join(removed), 40)}"] if removed else []
            )
            text = "; ".join(parts)
        keys = [s for s in path if isinstance(s, str)]
        category = category_of(keys)
        self.emit(
            path,
            a,
            b,
            f"{prefix}{label}: {text}",
            severity_of(category, keys, False),
            detail={"added": added, "removed": removed},
        )

    def _context(self, path: Path) -> tuple[str, str]:
        """('<entity> changed: <item>: ', field label) for a path inside list items."""
        segs = [s for s in path if isinstance(s, Seg)]
        if not segs:
            return "", field_label([s for s in path if isinstance(s, str)])
        last = max(i for i, s in enumerate(path) if isinstance(s, Seg))
        entity = entity_of(segs[-1].field)
        display = " / ".join(s.display for s in segs)
        tail = [s for s in path[last + 1 :] if isinstance(s, str)]
        return f"{entity} changed: {display}: ", field_label(tail)

    def whole_item(self, path: Path, a: Any, b: Any) -> None:
        seg = path[-1]
        assert isinstance(seg, Seg)
        segs = [s for s in path if isinstance(s, Seg)]
        entity = entity_of(seg.field)
        display = " / ".join(s.display for s in segs)
        verb = "added" if a is MISSING else "removed"
        keys = [s for s in path if isinstance(s, str)]
        category = category_of(keys)
        self.emit(
            path,
            _strip_ignored(path, a),
            _strip_ignored(path, b),
            f"{entity} {verb}: {display}",
            severity_of(category, keys, True),
        )

    def leaf(self, path: Path, a: Any, b: Any) -> None:
        keys = [s for s in path if isinstance(s, str)]
        category = category_of(keys)
        prefix, label = self._context(path)
        segs = [s for s in path if isinstance(s, Seg)]
        if segs and segs[-1].field == "locations" and keys[-1] == "status" and len(segs) == 1:
            prefix, label = "", f"site status: {segs[0].display}"
        detail = None
        if isinstance(a, str) and isinstance(b, str) and max(len(a), len(b)) > _LONG_TEXT:
            detail = {"word_diff": _word_diff(a, b)}
            inserted = sum(len(t.split()) for op, t in detail["word_diff"] if op == "insert")
            deleted = sum(len(t.split()) for op, t in detail["word_diff"] if op == "delete")
            text = f"{label} edited (+{inserted}/-{deleted} words)"
        else:
            text = f"{label}: {fmt(a)} -> {fmt(b)}"
        self.emit(
            path,
            _strip_ignored(path, a),
            _strip_ignored(path, b),
            prefix + text,
            severity_of(category, keys, False),
            detail=detail,
        )

    # --- handlers: return False to fall back to the generic walk ----------------------------

    def overall_status(self, path: Path, a: Any, b: Any) -> bool:
        if not all(empty(v) or isinstance(v, str) for v in (a, b)):
            return False
        high = (isinstance(b, str) and b in HIGH_STATUSES) or (a == "RECRUITING" and b != a)
        severity = Severity.HIGH if high else Severity.MEDIUM
        self.emit(path, a, b, f"status: {fmt(a)} -> {fmt(b)}", severity)
        return True

    def enrollment(self, path: Path, a: Any, b: Any) -> bool:
        if not all(empty(v) or isinstance(v, dict) for v in (a, b)):
            return False
        da = a if isinstance(a, dict) else {}
        db = b if isinstance(b, dict) else {}
        if not _typed(da, db, count=(int, float), type=(str,)):
            return False  # a count that is no number: the walk reports the odd shape
        ca, ta, cb, tb = da.get("count"), da.get("type"), db.get("count"), db.get("type")
        if ca != cb or ta != tb:

            def side(count: Any, kind: Any) -> str:
                text = fmt(count)
                return f"{text} ({kind})" if kind else text

            summary = f"enrollment: {side(ca, ta)} -> {side(cb, tb)}"
            detail: dict[str, Any] = {}
            if isinstance(ca, int | float) and isinstance(cb, int | float) and ca:
                rel = (cb - ca) / ca
                detail["relative"] = round(rel, 4)
                if ta == tb:
                    summary = f"enrollment: {fmt(ca)} -> {fmt(cb)} ({rel * 100:+.0f}%)"
            severity = Severity.HIGH if abs(detail.get("relative", 0)) >= 0.5 else Severity.MEDIUM
            self.emit(
                path,
                {"count": ca, "type": ta} if da else None,
                {"count": cb, "type": tb} if db else None,
                summary,
                severity,
                detail=detail or None,
            )
        for key in [k for k in dict.fromkeys([*db, *da]) if k not in ("count", "type")]:
            self.node((*path, key), da.get(key, MISSING), db.get(key, MISSING))
        return True

    def date_struct(self, path: Path, a: Any, b: Any) -> bool:
        if not all(empty(v) or isinstance(v, dict) for v in (a, b)):
            return False
        da = a if isinstance(a, dict) else {}
        db = b if isinstance(b, dict) else {}
        if not _typed(da, db, date=(str,), type=(str,)):
            return False  # a date that is no text: the walk reports the odd shape
        field = str(path[-1])
        label = KEY_DATES.get(field) or humanise(field)
        if da.get("date") != db.get("date") or da.get("type") != db.get("type"):

            def side(d: dict[str, Any]) -> str:
                text = fmt(d.get("date"))
                return (
                    f"{text} ({d['type']})"
                    if d.get("type") and da.get("type") != db.get("type")
                    else text
                )

            slip = date_slip(da.get("date"), db.get("date"))
            suffix = slip_text(slip) if slip else ""
            severity = Severity.MEDIUM if field in KEY_DATES else Severity.LOW
            self.emit(
                path,
                _pick(da),
                _pick(db),
                f"{label}: {side(da)} -> {side(db)}{suffix}",
                severity,
                category=Category.DATES,
                detail={"slip": slip} if slip else None,
            )
        for key in [k for k in dict.fromkeys([*db, *da]) if k not in ("date", "type")]:
            self.node((*path, key), da.get(key, MISSING), db.get(key, MISSING))
        return True

    def eligibility(self, path: Path, a: Any, b: Any) -> bool:
        if not all(empty(v) or isinstance(v, str) for v in (a, b)):
            return False
        base = render_path(path)
        for c in diff_criteria(
            a if isinstance(a, str) else None, b if isinstance(b, str) else None
        ):
            noun = "eligibility note" if c.section == "other" else f"{c.section} criterion"
            verb = "changed" if c.kind == "modified" else c.kind
            text = c.new if c.new is not None else c.old or ""
            self.changes.append(
                FieldChange(
                    Category.ELIGIBILITY,
                    f"{base}.{c.section}[{c.index}]",
                    c.old,
                    c.new,
                    f"{noun} {verb}: {short(text, 80)}",
                    Severity.MEDIUM,
                    detail={k: v for k, v in c.to_dict().items() if k not in ("old", "new")},
                )
            )
        return True

    def results_section(self, path: Path, a: Any, b: Any) -> bool:
        if not (empty(a) or empty(b)):
            return False
        present = b if empty(a) else a
        modules = sorted(present) if isinstance(present, dict) else [_shape(present)]
        names = ", ".join(humanise(m) for m in modules)
        old, new, verb = (None, modules, "posted") if empty(a) else (modules, None, "removed")
        self.emit(path, old, new, f"results {verb}: {names}", Severity.HIGH, Category.RESULTS)
        return True

    def has_results(self, path: Path, a: Any, b: Any) -> bool:
        if not all(empty(v) or isinstance(v, bool) for v in (a, b)):
            return False
        if (a is True) == (b is True):
            return True  # absent, null and false all mean "no results"
        high = b is True
        self.emit(
            path,
            a,
            b,
            f"has results: {fmt(a)} -> {fmt(b)}",
            Severity.HIGH if high else Severity.MEDIUM,
            category=Category.RESULTS,
        )
        return True


_HANDLERS = {
    ("protocolSection", "statusModule", "overallStatus"): _Differ.overall_status,
    ("protocolSection", "designModule", "enrollmentInfo"): _Differ.enrollment,
    ("protocolSection", "eligibilityModule", "eligibilityCriteria"): _Differ.eligibility,
    ("resultsSection",): _Differ.results_section,
    ("hasResults",): _Differ.has_results,
}


def _typed(a: dict[str, Any], b: dict[str, Any], **kinds: tuple[type, ...]) -> bool:
    """Whether the named members of both structs are absent, empty or of their kinds."""
    return all(
        empty(d.get(k)) or (isinstance(d[k], t) and not isinstance(d[k], bool))
        for d in (a, b)
        for k, t in kinds.items()
    )


def _shape(value: Any) -> str:
    return {dict: "object", list: "list", str: "text", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else "null"
    )


def _pick(struct: dict[str, Any]) -> dict[str, Any] | None:
    picked: dict[str, Any] = {k: struct[k] for k in ("date", "type") if k in struct}
    return picked or None


def _strip_ignored(path: Path, value: Any) -> Any:
    # A site added or removed carries no registry-computed coordinates.
    if isinstance(value, dict) and _sig(path)[-2:] == ("locations", "[]") and "geoPoint" in value:
        return {k: v for k, v in value.items() if k != "geoPoint"}
    return value


def diff_records(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """Every change between two full records in what the sponsor submits, most important first."""
    differ = _Differ()
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    for key in SUBMITTED_SECTIONS:
        differ.node((key,), old.get(key, MISSING), new.get(key, MISSING))
    if not differ.changes:
        a, b = record.canonical(old), record.canonical(new)
        # Bytes, not ==: False == 0 in Python, and the hash tells them apart.
        if record.canonical_bytes(old) != record.canonical_bytes(new):
            # The hash sees a difference the walk judged none: a version is stored, so say
            # where rather than report nothing (a change is never lost). Text is compared in the
            # hash's own form (htmltext.comparable), so spacing and markup do not end up here;
            # what does: criteria only reordered or renumbered (the criteria diff ignores moves,
            # the hash keeps the order), and values Python calls equal (False == 0).
            parts = _first_difference(a, b)
            where = "".join(p if p.startswith("[") else f".{p}" for p in parts).lstrip(".")
            where = where or "record"
            summary = f"{where}: changed in form only (order, spacing or markup)"
            differ.changes.append(
                FieldChange(Category.OTHER, where, None, None, summary, Severity.LOW)
            )
    if isinstance(old.get("resultsSection"), dict) and isinstance(new.get("resultsSection"), dict):
        differ.changes = _results(differ.changes, old["resultsSection"], new["resultsSection"])
    order = {c: i for i, c in enumerate(CATEGORIES)}
    changes = outcomes.with_dates(differ.changes, new)  # their timing, for the events
    return sorted(changes, key=lambda c: order.get(c.category, len(order)))


def _results(changes: list[FieldChange], a: Any, b: Any) -> list[FieldChange]:
    """Results changes worded and weighed by their part (sync.core.results_diff)."""
    out = []
    for c in changes:
        if c.category == Category.RESULTS and c.path.startswith("resultsSection."):
            line = results_diff.describe(c.path, c.old, c.new, a, b, c.summary)
            c = replace(
                c,
                summary=line or c.summary,
                severity=results_diff.severity(c.path, c.old, c.new),
            )
        out.append(c)
    return out


def _first_difference(a: Any, b: Any, path: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The path (keys, list positions as "[i]") of the first place two canonical forms differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key, MISSING) != b.get(key, MISSING):
                return _first_difference(a.get(key), b.get(key), (*path, key))
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return _first_difference(x, y, (*path, f"[{i}]"))
    return path


_MAX_LISTED = 3


def summarise(changes: list[FieldChange]) -> list[str]:
    """One line per change, with criteria counted per section and long runs of one kind folded."""
    criteria: Counter[tuple[str, str]] = Counter()
    slots: list[tuple[str, list[FieldChange]]] = []  # (prefix, changes) in first-seen order
    by_prefix: dict[tuple[str, str], list[FieldChange]] = {}
    for change in changes:
        m = _CRITERION_PATH_RE.search(change.path)
        if m and change.category == Category.ELIGIBILITY:
            kind = change.detail.get("kind") if isinstance(change.detail, dict) else None
            kind = kind if kind in ("added", "removed") else "modified"
            if not criteria:
                slots.append(("\0criteria", []))
            criteria[(m[1], kind)] += 1
            continue
        prefix = change.summary.split(": ", 1)[0]
        group = by_prefix.get((change.category, prefix))
        if group is None:
            group = by_prefix[(change.category, prefix)] = []
            slots.append((prefix, group))
        group.append(change)

    lines: list[str] = []
    for prefix, group in slots:
        if prefix == "\0criteria":
            lines.append(_criteria_line(criteria))
        elif len(group) > _MAX_LISTED + 1:
            rest = [c.summary.split(": ", 1)[-1] for c in group[:_MAX_LISTED]]
            more = len(group) - _MAX_LISTED
            lines.append(f"{prefix} ({len(group)}): {'; '.join(rest)}; and {more} more")
        else:
            lines.extend(c.summary for c in group)
    return list(dict.fromkeys(lines))


def _criteria_line(counts: Counter[tuple[str, str]]) -> str:
    parts = []
    for section in ("inclusion", "exclusion", "other"):
        for kind, verb in (("added", "added"), ("removed", "removed"), ("modified", "changed")):
            n = counts.get((section, kind), 0)
            if not n:
                continue
            if section == "other":
                noun = "eligibility note" if n == 1 else "eligibility notes"
            else:
                noun = f"{section} {'criterion' if n == 1 else 'criteria'}"
            parts.append(f"{n} {noun} {verb}")
    return "eligibility: " + ", ".join(parts)
