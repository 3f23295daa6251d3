"""Eligibility criteria text: parse into inclusion/exclusion items and diff them item by item."""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sync.core.text import comparable_markdown, html_to_markdown

SECTIONS = ("inclusion", "exclusion", "other")

# Items this similar (difflib ratio on characters) are one item reworded, not removed + added.
MATCH_RATIO = 0.6
_WORD_PREFILTER = 0.3


@dataclass
class Item:
    """One criterion: a bullet, a numbered point or a paragraph, with its nested items."""

    text: str
    level: int = 0
    children: list[Item] = field(default_factory=list)

    def walk(self) -> Iterator[Item]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Criteria:
    """Parsed eligibility text; `other` holds what stands outside the two sections."""

    inclusion: list[Item] = field(default_factory=list)
    exclusion: list[Item] = field(default_factory=list)
    other: list[Item] = field(default_factory=list)

    def section(self, name: str) -> list[Item]:
        if name not in SECTIONS:
            raise ValueError(f"unknown section {name!r}; expected one of {SECTIONS}")
        items: list[Item] = getattr(self, name)
        return items

    def flat(self, name: str) -> list[Item]:
        """The section's items depth-first, nested ones after their parent."""
        return [item for top in self.section(name) for item in top.walk()]


@dataclass(frozen=True)
class CriterionChange:
    """One added, removed or reworded criterion (indexes point into `Criteria.flat`)."""

    section: str
    kind: str  # added | removed | modified
    old: str | None
    new: str | None
    old_index: int | None
    new_index: int | None
    similarity: float | None = None
    word_diff: tuple[tuple[str, str], ...] = ()

    @property
    def index(self) -> int:
        """Where the item is: in the new text, or in the old one when removed."""
        index = self.new_index if self.new_index is not None else self.old_index
        assert index is not None
        return index

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "old_index": self.old_index,
            "new_index": self.new_index,
            "similarity": self.similarity,
            "word_diff": [[op, text] for op, text in self.word_diff],
        }


# --- parsing --------------------------------------------------------------------------------

_MARKER_RE = re.compile(
    r"""^(?:
        [*+\-•●○◦▪■·‣∙]+\s*                      # bullets, also "--" levels and "-text"
      | \(?\d{1,3}(?:\.\d{1,3})*[.)](?!\d)\s*     # 1.  1)  (1)  2.1.
      | \d{1,3}(?:\.\d{1,3})+\s+(?=[A-Z])          # 7.1 AST (not 1.5 x ULN)
      | \(?(?:[ivxIVX]{1,5}|[a-zA-Z])[.)]\s+      # a.  b)  (c)  iv.  I.
      | o\s+(?=[A-Z(])                            # "o Item" used as a bullet
    )""",
    re.VERBOSE,
)
_STRICT_HEADING_RE = re.compile(
    r"(?:key|main|major|general)?\s*(inclusion|exclusion)\s+criteria\s*[:：.]?", re.IGNORECASE
)
_LOOSE_HEADING_RE = re.compile(r"\b(inclusion|exclusion)\s+criteri", re.IGNORECASE)
_NOTE_RE = re.compile(r"note\b", re.IGNORECASE)


def _strip_marker(text: str) -> tuple[str, bool]:
    found = False
    for _ in range(2):  # "* 1. text" carries two markers
        match = _MARKER_RE.match(text)
        if not match or not match.group(0):
            break
        text = text[match.end() :]
        found = True
    return text, found


def _heading(text: str, bulleted: bool) -> tuple[str | None, bool]:
    """(section, keep as item) when the line is a section heading, else (None, False)."""
    bare = text.strip("*_# ").strip()
    strict = _STRICT_HEADING_RE.fullmatch(bare)
    if strict:
        return strict.group(1).lower(), False
    if bulleted or len(bare) > 160 or bare.endswith("."):
        return None, False
    found = {m.group(1).lower() for m in _LOOSE_HEADING_RE.finditer(bare)}
    if len(found) == 1 and len(bare.split()) <= 25:
        return found.pop(), True
    return None, False


def _indent_of(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def parse_criteria(text: str | None) -> Criteria:
    """Split eligibility text (Markdown, or the history endpoint's HTML) into items per section."""
    criteria = Criteria()
    if not text:
        return criteria
    # The history endpoints' HTML as the documented API's Markdown, then each line in the form
    # the hash compares (htmltext's): one normaliser, so the diff and the hash agree on text.
    text = html_to_markdown(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")

    section = "other"
    # Open items as (indent, item); a deeper bullet nests under the last shallower one.
    stack: list[tuple[int, Item]] = []
    last: Item | None = None  # the item a following unbroken line continues
    for raw in text.split("\n"):
        if not raw.strip() or raw.strip() == "<!-- -->":
            last = None
            continue
        indent = _indent_of(raw)
        stripped, bulleted = _strip_marker(comparable_markdown(raw))
        content = stripped.strip()

        heading, keep = _heading(content, bulleted)
        if heading is not None:
            section = heading
            stack = []
            last = None
            if not keep:
                continue
        if not content:
            continue
        if not bulleted and last is not None and heading is None:
            # A wrapped line of the same paragraph (Markdown lazy continuation).
            last.text = f"{last.text} {content}"
            continue

        target = section
        if not bulleted and indent == 0 and heading is None and _NOTE_RE.match(content):
            target = "other"  # "Note: other protocol-defined criteria may apply"
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if not bulleted and indent == 0:
            stack = []
        item = Item(text=content, level=len(stack))
        if stack and target == section:
            stack[-1][1].children.append(item)
        else:
            item.level = 0
            criteria.section(target).append(item)
            stack = []
        if target == section:
            stack.append((indent, item))
        last = item
    return criteria


# --- diffing --------------------------------------------------------------------------------


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) segments, op in equal/insert/delete, from difflib on words."""
    a, b = old.split(), new.split()
    segments: list[tuple[str, str]] = []

    def emit(op: str, words: list[str]) -> None:
        if not words:
            return
        if segments and segments[-1][0] == op:
            segments[-1] = (op, segments[-1][1] + " " + " ".join(words))
        else:
            segments.append((op, " ".join(words)))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            emit("equal", a[i1:i2])
        else:
            emit("delete", a[i1:i2])
            emit("insert", b[j1:j2])
    return segments


def similarity(old: str, new: str) -> float:
    """difflib ratio on characters, ignoring case (0.0 when the words barely overlap)."""
    a, b = old.lower(), new.lower()
    # Cheap word-bag filter first: the character ratio is quadratic and most pairs are unrelated.
    words = difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False)
    if words.quick_ratio() < _WORD_PREFILTER:
        return 0.0
    chars = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if chars.real_quick_ratio() < MATCH_RATIO or chars.quick_ratio() < MATCH_RATIO:
        return 0.0
    return chars.ratio()


def _diff_section(name: str, old: list[Item], new: list[Item]) -> list[CriterionChange]:
    old_texts = [item.text for item in old]
    new_texts = [item.text for item in new]

    # Same text anywhere in the section: the same item, whatever its position or marker.
    pending: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(old_texts):
        pending[text].append(i)
    new_left: list[int] = []
    for j, text in enumerate(new_texts):
        if pending.get(text):
            pending[text].pop(0)
        else:
            new_left.append(j)
    old_left = sorted(i for indexes in pending.values() for i in indexes)

    scored: list[tuple[float, int, int]] = []
    for i in old_left:
        for j in new_left:
            ratio = similarity(old_texts[i], new_texts[j])
            if ratio >= MATCH_RATIO:
                scored.append((ratio, i, j))
    scored.sort(key=lambda s: (-s[0], abs(s[1] - s[2]), s[1]))
    used_old: set[int] = set()
    used_new: set[int] = set()
    changes: list[CriterionChange] = []
    for ratio, i, j in scored:
        if i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        changes.append(
            CriterionChange(
                section=name,
                kind="modified",
                old=old_texts[i],
                new=new_texts[j],
                old_index=i,
                new_index=j,
                similarity=round(ratio, 3),
                word_diff=tuple(word_diff(old_texts[i], new_texts[j])),
            )
        )
    for i in old_left:
        if i not in used_old:
            changes.append(
                CriterionChange(
                    name, "removed", old_texts[i], None, i, None, None, (("delete", old_texts[i]),)
                )
            )
    for j in new_left:
        if j not in used_new:
            changes.append(
                CriterionChange(
                    name, "added", None, new_texts[j], None, j, None, (("insert", new_texts[j]),)
                )
            )
    changes.sort(key=lambda c: c.index)
    return changes


def diff_criteria(old: str | None, new: str | None) -> list[CriterionChange]:
    """Item-by-item changes per section; formatting, numbering and moves alone are no change."""
    if (old or "") == (new or ""):
        return []
    before, after = parse_criteria(old), parse_criteria(new)
    changes: list[CriterionChange] = []
    for name in SECTIONS:
        changes.extend(_diff_section(name, before.flat(name), after.flat(name)))
    return changes
