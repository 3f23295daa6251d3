"""Terminal rendering of changes: by category, most severe first, values in words, compact."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.text import Text

from sync.cli.table import cut_middle, print_wrapped
from sync.report.render import fmt_value
from sync.store.results import DiffItem, DiffResult

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}


def word_diff_text(segments: Any, styled: bool = True) -> Text | None:
    """Render [(op, text), …] word-diff segments: deletions struck red, insertions green, or
    (not styled: a pipe or a file) marked [-deleted-] and {+inserted+} as git's word diff does."""
    if not isinstance(segments, list):
        return None
    out = Text()
    for seg in segments:
        if isinstance(seg, dict):
            op, text = seg.get("op"), seg.get("text", "")
        elif isinstance(seg, (list, tuple)) and len(seg) == 2:
            op, text = seg
        else:
            return None
        if styled:
            style = {"delete": "red strike", "insert": "green", "equal": ""}.get(str(op), "")
            out.append(str(text), style=style)
        else:
            marks = {"delete": ("[-", "-]"), "insert": ("{+", "+}")}.get(str(op), ("", ""))
            out.append(f"{marks[0]}{text}{marks[1]}")
        out.append(" ")
    return out


def _word_segments(item: DiffItem) -> Any:
    detail = item.change.detail
    if isinstance(detail, dict):
        return detail.get("words") or detail.get("word_diff")
    return None


def _rank(item: DiffItem) -> int:
    return SEVERITY_ORDER.get(item.change.severity, 3)


def group_changes(changes: list[DiffItem]) -> list[tuple[str, list[DiffItem]]]:
    groups: dict[str, list[DiffItem]] = {}
    for item in changes:
        groups.setdefault(item.change.category, []).append(item)
    ordered = sorted(groups.items(), key=lambda kv: (min(_rank(c) for c in kv[1]), kv[0]))
    return [(cat, sorted(items, key=_rank)) for cat, items in ordered]


def _one_line(text: str, width: int) -> Text:
    line = Text(" ".join(text.split()))
    line.truncate(max(width, 1), overflow="ellipsis")
    return line


def _old_new(item: DiffItem, shown: str) -> Text | None:
    """The old and new values in words, or None when the summary as shown (`shown`, maybe cut)
    already says them: repeating them would double every row."""
    old, new = item.change.old, item.change.new
    old_text, new_text = fmt_value(old), fmt_value(new)
    if old_text.lower() in shown.lower() and new_text.lower() in shown.lower():
        return None
    empty: tuple[Any, ...] = (None, "", [], {})
    if (old in empty and isinstance(new, dict | list)) or (
        new in empty and isinstance(old, dict | list)
    ):
        # Added or removed: the summary names the item; its fields are in diff --json.
        return None
    return Text(f"{old_text} → {new_text}")


def print_diff(console: Console, diff: DiffResult, by_event: bool = True) -> None:
    """Every change on one line (severity, summary, the ID `ack` takes), grouped under the
    event it belongs to (most important first; by category when not `by_event`), with a second
    line of old and new values or changed words only when the summary does not already say
    them."""
    changes = diff.changes
    events = diff.events if by_event else None
    counts = Counter(c.change.severity for c in changes)
    by_severity = ", ".join(f"{counts[s]} {s}" for s in SEVERITY_ORDER if counts[s])
    head = (
        f"[bold]{diff.nct_id}[/bold] v{diff.from_version} → v{diff.to_version}: "
        f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    )
    if events is not None:
        head += f" in {len(events)} event{'s' if len(events) != 1 else ''}"
    console.print(head + (f" ({by_severity})" if by_severity else ""), highlight=False)
    if not changes:
        console.print("  no change in what the sponsor submitted")
        return
    groups: list[tuple[Text, list[DiffItem]]]
    if events is not None:
        groups = []
        for e in events:
            title = Text(f"{e.importance}: ", style=SEVERITY_STYLE.get(e.importance, ""))
            title.append(_one_line(f"{e.summary} ({e.count})", console.width - 8))
            items = sorted((changes[i] for i in e.members), key=_rank)
            groups.append((title, items))
    else:
        groups = [
            (Text(f"{category} ({len(items)})", style="bold"), items)
            for category, items in group_changes(changes)
        ]
    for title, items in groups:
        console.print(title, highlight=False, soft_wrap=False)
        print_change_lines(console, items)


def print_change_lines(console: Console, items: list[DiffItem]) -> None:
    """One line per change, and a second with the values or changed words when needed."""
    width = console.width
    indent = " " * 10
    for ch in items:
        sev = ch.change.severity
        ref = f"  #{ch.id}" if ch.id is not None else ""
        head = Text(f"  {sev:<8}", style=SEVERITY_STYLE.get(sev, ""))
        # One line when a long summary can lose the middle of a name and keep its place
        # ("site added: NAME…, City, Country"); wrapped otherwise, never cut.
        summary = cut_middle(ch.change.summary, width - 10 - len(ref))
        if summary is None:
            summary = Text(" ".join(ch.change.summary.split()))
            print_wrapped(console, summary + Text(ref, style="dim"), head)
        else:
            console.print(head + summary + Text(ref, style="dim"), highlight=False, soft_wrap=True)
        words = word_diff_text(_word_segments(ch), styled=console.is_terminal)
        if words is not None:
            # The changed words are the point of an eligibility change: wrapped, not cut.
            print_wrapped(console, words, indent)
            continue
        values = _old_new(ch, summary.plain)
        if values is not None:
            # Old → new whole, wrapped under the summary when it does not fit one line.
            print_wrapped(console, values, indent)

