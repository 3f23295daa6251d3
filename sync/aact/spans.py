"""One study's rows over its versions as spans: a row holds from the version it appears in
to the last version that still has it, and is written once. Pure.

A row's identity is its content (with the ids of the rows it refers to); the same content
twice in one version is two rows (the n-th copy continues the n-th copy's span). A row whose
referenced row changes is a new row (its reference, an id, changed), as in AACT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sync.aact import parts
from sync.aact.forms import Study
from sync.aact.parts import Part
from sync.aact.table import Row, Table


@dataclass
class Span:
    id: int
    row: Row
    from_version: int
    from_date: date | None
    to_version: int | None = None
    to_date: date | None = None


Emit = Callable[[str, str, Span], None]  # (table, nct_id, closed or still-open span)


# A study's ids are its trial's id times this plus its own count: the same state gives the
# same ids whatever else is exported with it, so an export updated with --since (and the live
# PostgreSQL tables, refreshed a study at a time) equal a whole export of that state.
STUDY_IDS = 1_000_000_000


@dataclass
class Ids:
    """The next id of each table within one study (`base`: its trial's id times STUDY_IDS)."""

    base: int = 0
    next: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of_trial(cls, trial_id: int) -> Ids:
        return cls(base=trial_id * STUDY_IDS)

    def take(self, table: str) -> int:
        n = self.next.get(table, 1)
        if n >= STUDY_IDS:
            raise ValueError(f"{table}: more than {STUDY_IDS - 1} rows in one study")
        self.next[table] = n + 1
        return self.base + n


@dataclass
class _Table:
    """Where one table stands in a study's walk: the spans held at the last version, by
    (row, copy number), and that version's unresolved rows, their ids and its parts' key."""

    open: dict[tuple[Row, int], Span] = field(default_factory=dict)
    rows: list[Row] | None = None
    ids: list[int] = field(default_factory=list)


class StudySpans:
    """Feed a study's versions in order (`version`), then `finish`; every span is handed to
    `emit` once, when it closes or at the end (then still open).

    A table whose parts of the record (`parts.READS`) are as they were is not mapped again;
    a table whose rows and references are as they were holds every span: nothing to do.
    """

    def __init__(
        self, nct_id: str, tables: Mapping[str, Table], ids: Ids, emit: Emit,
        reads: Mapping[str, tuple[Part, ...]] | None = None,
    ) -> None:  # fmt: skip
        self.nct_id, self.tables, self.ids, self.emit = nct_id, tables, ids, emit
        self.reads = parts.reads(tables) if reads is None else reads
        self.state: dict[str, _Table] = {name: _Table() for name in tables}
        self.changes = parts.Changes(p for read in self.reads.values() for p in read)
        self.last_version: int | None = None

    def version(self, number: int, when: date | None, study: Study) -> dict[str, list[int]]:
        """Take version `number` (in effect from `when`); the ids of its rows, by table."""
        ids_now: dict[str, list[int]] = {}
        moved: set[str] = set()  # the tables whose ids differ from the version before
        changed = self.changes.next(study)
        for name, table in self.tables.items():
            state = self.state[name]
            read = self.reads.get(name)
            if read is not None and state.rows is not None and changed.isdisjoint(read):
                rows = state.rows
            else:
                rows = table.rows(study)
                if rows == state.rows:
                    rows = state.rows  # mapped anew, the same rows
            if rows is not state.rows or not moved.isdisjoint(table.refs.values()):
                resolved = [self._resolve(table, row, ids_now) for row in rows]
                ids = self._step(name, state, resolved, number, when)
                if ids != state.ids:
                    moved.add(name)
                state.ids = ids
            state.rows = rows
            ids_now[name] = state.ids
        self.last_version = number
        return ids_now

    def _resolve(self, table: Table, row: Row, ids_now: dict[str, list[int]]) -> Row:
        if not table.refs:
            return row
        out = list(row)
        names = table.names
        for column, target in table.refs.items():
            i = names.index(column)
            pos = out[i]
            out[i] = ids_now[target][pos] if isinstance(pos, int) else None
        return tuple(out)

    def _step(
        self, name: str, state: _Table, rows: list[Row], number: int, when: date | None
    ) -> list[int]:
        spans = state.open
        copies: dict[Row, int] = {}
        keys: list[tuple[Row, int]] = []
        for row in rows:
            n = copies.get(row, 0)
            copies[row] = n + 1
            keys.append((row, n))
        present = set(keys)
        # Every span held was in the table's rows at the version before (the last one taken).
        for key in [k for k in spans if k not in present]:
            closed = spans.pop(key)
            closed.to_version, closed.to_date = self.last_version, when
            self.emit(name, self.nct_id, closed)
        out: list[int] = []
        for key in keys:
            span = spans.get(key)
            if span is None:
                span = spans[key] = Span(self.ids.take(name), key[0], number, when)
            out.append(span.id)
        return out

    def finish(self) -> None:
        for name, state in self.state.items():
            for span in state.open.values():
                self.emit(name, self.nct_id, span)
            self.state[name] = _Table()
        self.changes = parts.Changes(self.changes.wanted)


def spans_of(
    nct_id: str,
    versions: list[tuple[int, date | None, Study]],
    tables: Mapping[str, Table],
    ids: Ids | None = None,
) -> dict[str, list[Span]]:
    """All spans of one study's versions (number, effective date, record), by table."""
    out: dict[str, list[Span]] = {name: [] for name in tables}

    def emit(table: str, _: str, span: Span) -> None:
        out[table].append(span)

    walk = StudySpans(nct_id, tables, ids or Ids(), emit)
    for number, when, study in versions:
        walk.version(number, when, study)
    walk.finish()
    return out


def as_of(spans: list[Span], day: date) -> list[Any]:
    """The rows in force on `day`: valid_from <= day < valid_to (or still open)."""
    return [
        s.row
        for s in spans
        if s.from_date is not None and s.from_date <= day and (s.to_date is None or s.to_date > day)
    ]
