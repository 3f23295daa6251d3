"""Terminal rendering of events: one line each in `history` (`diff` groups under them: render)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from sync.cli.render import SEVERITY_STYLE
from sync.cli.table import print_wrapped
from sync.core.events import Event


def event_line(event: Event) -> str:
    """`high   recruitment closed: …` with Rich markup, the summary escaped."""
    style = SEVERITY_STYLE.get(event.importance, "")
    head = f"{event.importance:<6}"
    return f"[{style}]{head}[/{style}] {escape(event.summary)}" if style else (
        f"{head} {escape(event.summary)}"
    )


def print_events(console: Console, events: list[Event]) -> None:
    """One event a line, its summary wrapped under itself when it is longer than the width."""
    for e in events:
        style = SEVERITY_STYLE.get(e.importance, "")
        head = Text("    ") + Text(f"{e.importance:<6} ", style=style)
        print_wrapped(console, Text(e.summary), head)
