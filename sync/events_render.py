"""Terminal rendering of events: one line each in `history`, the changes grouped under them in
`diff`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from sync.render import SEVERITY_ORDER, SEVERITY_STYLE, changes_table


def event_line(event: dict[str, Any]) -> str:
    """`high   recruitment closed: …` with Rich markup, the summary escaped."""
    style = SEVERITY_STYLE.get(event["importance"], "")
    head = f"{event['importance']:<6}"
    return f"[{style}]{head}[/{style}] {escape(event['summary'])}" if style else (
        f"{head} {escape(event['summary'])}"
    )


def print_events(console: Console, events: list[dict[str, Any]]) -> None:
    for e in events:
        console.print(f"    {event_line(e)}", highlight=False)


def print_diff(console: Console, data: dict[str, Any]) -> None:
    """Every change, under the event it belongs to, events most important first."""
    changes = data["changes"]
    console.print(
        f"[bold]{data['nct_id']}[/bold] v{data['from']} → v{data['to']}: "
        f"{len(changes)} change{'s' if len(changes) != 1 else ''} in {len(data['events'])} "
        f"event{'s' if len(data['events']) != 1 else ''}"
    )
    if not changes:
        console.print("  no change in what the sponsor submitted")
        return
    for e in data["events"]:
        items = sorted(
            (changes[i] for i in e["members"]),
            key=lambda c: SEVERITY_ORDER.get(c["severity"], 3),
        )
        title = escape(f"{e['importance']}: {e['summary']} ({e['count']})")
        console.print(changes_table(title, items, console.is_terminal))
