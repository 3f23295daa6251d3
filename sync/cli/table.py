"""Tables that fit the terminal (or 80 columns in a pipe): one line per row, never a cut header
or date; optional columns dropped when narrow, long text ellipsized."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
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
