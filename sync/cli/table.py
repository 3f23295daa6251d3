"""Text that fits the terminal (or 80 columns in a pipe). Tables: one line per row, never a cut
header or date; optional columns dropped when narrow, long text ellipsized. Free text (titles,
summaries, lists of IDs, Markdown): wrapped at spaces, continuation lines indented."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.containers import Lines
from rich.table import Table
from rich.text import Text

GAP = 2  # between two columns


@dataclass(frozen=True)
class Col:
    header: str
    flex: bool = False  # takes the room left and is ellipsized (titles, queries, errors)
    drop: int = 0  # 0: always shown; otherwise dropped when narrow, highest first
    justify: str = "left"
    min_width: int = 12  # of a flex column, below which optional columns go first


def _width(cell: str) -> int:
    return Text.from_markup(cell).cell_len


def fit_table(console: Console, cols: list[Col], rows: list[list[str]]) -> Table:
    """A borderless table whose fixed columns keep their whole text and whose flex columns
    share what is left of the console's width."""
    natural = [
        max([_width(c.header)] + [_width(r[i]) for r in rows]) for i, c in enumerate(cols)
    ]
    shown = list(range(len(cols)))

    def needed(idx: list[int]) -> int:
        fixed = sum(natural[i] for i in idx if not cols[i].flex)
        flex = sum(min(natural[i], cols[i].min_width) for i in idx if cols[i].flex)
        return fixed + flex + GAP * (len(idx) - 1)

    while needed(shown) > console.width and any(cols[i].drop for i in shown):
        worst = max((i for i in shown if cols[i].drop), key=lambda i: cols[i].drop)
        shown.remove(worst)
    room = console.width - GAP * (len(shown) - 1)
    room -= sum(natural[i] for i in shown if not cols[i].flex)
    flex = [i for i in shown if cols[i].flex]
    widths = {i: natural[i] for i in shown}
    # Each flex column gets its share; what a short one leaves goes to the others.
    for n, i in enumerate(sorted(flex, key=lambda i: natural[i])):
        share = max(1, room // (len(flex) - n))
        widths[i] = max(1, min(natural[i], share))
        room -= widths[i]
    table = Table(box=None, padding=(0, GAP // 2), pad_edge=False, show_edge=False)
    for i in shown:
        c = cols[i]
        table.add_column(
            c.header,
            width=widths[i],
            no_wrap=True,
            overflow="ellipsis",
            justify=c.justify,  # type: ignore[arg-type]
            header_style="bold",
        )
    for r in rows:
        table.add_row(*(r[i] for i in shown))
    return table


# -- free text ------------------------------------------------------------------


def _as_text(value: str | Text) -> Text:
    return Text.from_markup(value) if isinstance(value, str) else value


def wrap_lines(console: Console, body: str | Text, head: str | Text = "", hang: int = 0) -> Lines:
    """`head`, then `body` (Rich markup or Text) wrapped at spaces to the console's width; the
    lines after the first start under the body, `hang` columns further in. A word longer than
    the room (a path, a URL) is folded, never cut."""
    lead = _as_text(head)
    indent = lead.cell_len + hang
    room = max(console.width - indent, 16)
    lines = _as_text(body).wrap(console, room, overflow="fold") or Lines([Text()])
    for line in lines:
        line.rstrip()
    return Lines(
        (lead.copy() if n == 0 else Text(" " * indent)) + line for n, line in enumerate(lines)
    )


def print_wrapped(console: Console, body: str | Text, head: str | Text = "", hang: int = 0) -> None:
    """Print what wrap_lines makes: free text (titles, summaries, lists of IDs) kept whole."""
    for line in wrap_lines(console, body, head, hang):
        console.print(line, highlight=False, soft_wrap=True)


def print_parts(console: Console, parts: list[str], sep: str = "  ", hang: int = 4) -> None:
    """Parts (Rich markup) joined by `sep` on one line when they fit; otherwise as many as fit
    a line, the next ones on lines indented by `hang`: a line breaks between parts, not inside
    one (unless a part alone is wider than the width)."""
    line: list[str] = []
    lead = ""
    for part in parts:
        if line and Text.from_markup(lead + sep.join([*line, part])).cell_len > console.width:
            print_wrapped(console, sep.join(line), lead, hang=0 if lead else hang)
            line, lead = [], " " * hang
        line.append(part)
    print_wrapped(console, sep.join(line), lead, hang=0 if lead else hang)


def cut_middle(text: str, width: int) -> Text | None:
    """One line of `text`: when it is too long, what comes before the last two comma-separated
    parts is ellipsized, so "site added: NAME, City, Country" keeps its place; None when that
    is not enough (the caller wraps it)."""
    line = Text(" ".join(text.split()))
    if line.cell_len <= width:
        return line
    label, sep, rest = line.plain.partition(": ")
    parts = rest.rsplit(", ", 2) if sep else []
    if len(parts) == 3:
        tail = f", {parts[1]}, {parts[2]}"
        room = width - cell_len(label + sep + tail)
        if room >= 8:
            name = Text(parts[0])
            name.truncate(room, overflow="ellipsis")
            return Text(label + sep) + name + Text(tail)
    return None


# Words that would start a Markdown block if a wrapped line began with them.
_MD_BLOCK_START = re.compile(r"^([-*+=_]+|#{1,6}|\d{1,9}[.)]|[>|<].*|```.*|~~~.*)$")
_MD_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)]) ")
_MD_HEADING = re.compile(r"^#{1,6} ")


def fit_markdown(text: str, width: int) -> str:
    """Markdown whose paragraphs and list items are wrapped at spaces to `width` (soft line
    breaks: rendered the same) and whose headings, which must stay on one line, are ellipsized;
    code blocks are left alone."""
    out: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        if fenced or cell_len(line) <= width or line.startswith("|"):
            out.append(line)
        elif _MD_HEADING.match(line):
            cut = Text(line)
            cut.truncate(width, overflow="ellipsis")
            out.append(cut.plain)
        else:
            item = _MD_LIST_ITEM.match(line)
            lead = len(item.group(0)) if item else len(line) - len(line.lstrip(" "))
            out.extend(_md_wrap(line, lead, width))
    return "\n".join(out)


def _md_wrap(line: str, lead: int, width: int) -> list[str]:
    head, words = line[:lead], line[lead:].split(" ")
    # A word that would open a block at the start of a line stays with the word before it.
    units: list[str] = []
    for word in words:
        if units and (not word or _MD_BLOCK_START.match(word)):
            units[-1] += " " + word
        else:
            units.append(word)
    lines: list[str] = []
    current: list[str] = []
    prefix = head
    for unit in units:
        if current and cell_len(prefix + " ".join([*current, unit])) > width:
            lines.append(prefix + " ".join(current))
            prefix, current = " " * lead, []
        current.append(unit)
    lines.append(prefix + " ".join(current))
    return lines
