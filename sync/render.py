"""Terminal rendering of changes: grouped by category, most severe first, old beside new."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}


def value_text(value: Any, limit: int = 400) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict) and set(value) <= {"date", "type"}:
        text = (
            f"{value.get('date')} ({value.get('type')})"
            if value.get("type")
            else str(value.get("date"))
        )
    elif isinstance(value, (list, dict)):
        import orjson

        text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def _word_segments(change: dict[str, Any]) -> Any:
    detail = change.get("detail")
    if isinstance(detail, dict):
        return detail.get("words") or detail.get("word_diff")
    return None


def group_changes(changes: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for ch in changes:
        groups.setdefault(ch["category"], []).append(ch)
    ordered = sorted(
        groups.items(),
        key=lambda kv: (min(SEVERITY_ORDER.get(c["severity"], 3) for c in kv[1]), kv[0]),
    )
    return [
        (cat, sorted(items, key=lambda c: SEVERITY_ORDER.get(c["severity"], 3)))
        for cat, items in ordered
    ]


def print_diff(console: Console, data: dict[str, Any]) -> None:
    changes = data["changes"]
    console.print(
        f"[bold]{data['nct_id']}[/bold] v{data['from']} → v{data['to']}: "
        f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    )
    if not changes:
        console.print("  no change in what the sponsor submitted")
        return
    for category, items in group_changes(changes):
        console.print(changes_table(f"{category} ({len(items)})", items, console.is_terminal))


def changes_table(title: str, items: list[dict[str, Any]], styled: bool) -> Table:
    """Changes as rows of severity, summary, old and new (a word diff for long text)."""
    table = Table(title=title, title_justify="left", expand=True, show_lines=True)
    table.add_column("sev", no_wrap=True)
    table.add_column("change", ratio=2)
    table.add_column("old", ratio=3)
    table.add_column("new", ratio=3)
    for ch in items:
        sev = ch["severity"]
        words = word_diff_text(_word_segments(ch), styled=styled)
        new_cell: Text | str = value_text(ch["new"])
        if words is not None:
            new_cell = words
        table.add_row(
            Text(sev, style=SEVERITY_STYLE.get(sev, "")),
            Text(ch["summary"]),
            Text(value_text(ch["old"])),
            new_cell if isinstance(new_cell, Text) else Text(new_cell),
        )
    return table
