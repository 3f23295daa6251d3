"""What an AACT table is here: its columns (type, meaning, API path, AACT counterpart) and
the pure function that turns one API v2 record into its rows. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.aact.forms import Study


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type: VARCHAR, INTEGER, DOUBLE, BOOLEAN, DATE
    about: str  # what it means
    source: str = ""  # the API v2 path it comes from ("" when derived: see `about`)
    aact: str = ""  # how it departs from AACT's column ("" = AACT's own column and form)


Row = tuple[Any, ...]
Rows = Callable[[Study], list[Row]]


@dataclass(frozen=True)
class Table:
    """An AACT table: `rows(study)` gives one tuple per row, in `columns` order.

    `refs` names the columns that hold another table's `id`: the row function puts the
    position of the referenced row (in that table's rows of the same record) there, or None,
    and the spans turn it into that row's id.
    """

    name: str
    about: str
    columns: Sequence[Column]
    rows: Rows
    refs: Mapping[str, str] = field(default_factory=dict)
    has_id: bool = True  # AACT's `id` column (studies has none: nct_id is its key)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


# Every table carries these besides its own columns (first `id` when it has one, `nct_id`).
ID = Column("id", "BIGINT", "The row's identifier in this export (stable while the row holds).")
NCT_ID = Column(
    "nct_id", "VARCHAR", "The study's ClinicalTrials.gov identifier.",
    "protocolSection.identificationModule.nctId",
)  # fmt: skip
SPAN = (
    Column(
        "valid_from_version", "INTEGER",
        "The first stored version of the study that holds this row.",
        aact="trialwatch: AACT keeps only the current state",
    ),
    Column(
        "valid_to_version", "INTEGER",
        "The last stored version that holds this row; NULL while the current version does.",
        aact="trialwatch: AACT keeps only the current state",
    ),
    Column(
        "valid_from", "DATE",
        "The day valid_from_version took effect (its registry date, else its last-update date).",
        aact="trialwatch: AACT keeps only the current state",
    ),
    Column(
        "valid_to", "DATE",
        "The day the version after valid_to_version took effect (exclusive); NULL while current.",
        aact="trialwatch: AACT keeps only the current state",
    ),
)  # fmt: skip


def all_columns(table: Table) -> list[Column]:
    """The columns of the versioned table, in order: id, nct_id, the table's, the span."""
    return [*([ID] if table.has_id else []), NCT_ID, *table.columns, *SPAN]


def col(name: str, kind: str, about: str, source: str = "", aact: str = "") -> Column:
    return Column(name, kind, about, source, aact)


@dataclass(frozen=True)
class Field:
    """A column and how it is read from one item (a record, a module, a list entry)."""

    column: Column
    get: Callable[[Any, int], Any]  # (item, position in its list) -> value


def field_at(
    name: str,
    kind: str,
    path: str,
    about: str,
    convert: Callable[[Any], Any] | None = None,
    *,
    root: str = "",
    aact: str = "",
) -> Field:
    """A column read at `path` (dotted, under the item), converted when `convert` is given."""
    keys = path.split(".") if path else []
    full = ".".join(p for p in (root, path) if p)
    return Field(Column(name, kind, about, full, aact), _getter(keys, convert or _as_is))


def _getter(keys: list[str], conv: Callable[[Any], Any]) -> Callable[[Any, int], Any]:
    """item[k1][k2]…, converted; None where a level is not an object. Written out for one to
    three keys: a table's rows are most of an export's time, and its columns mostly these."""
    if len(keys) == 1:
        (a,) = keys

        def get1(item: Any, _: int) -> Any:
            return conv(item.get(a)) if isinstance(item, dict) else None

        return get1
    if len(keys) == 2:
        a, b = keys

        def get2(item: Any, _: int) -> Any:
            if not isinstance(item, dict):
                return None
            value = item.get(a)
            return conv(value.get(b)) if isinstance(value, dict) else None

        return get2
    if len(keys) == 3:
        a, b, c = keys

        def get3(item: Any, _: int) -> Any:
            if not isinstance(item, dict):
                return None
            value = item.get(a)
            if not isinstance(value, dict):
                return None
            value = value.get(b)
            return conv(value.get(c)) if isinstance(value, dict) else None

        return get3

    def get(item: Any, _: int) -> Any:
        value = item
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return conv(value)

    return get


def field_fn(
    name: str, kind: str, about: str, get: Callable[[Any, int], Any], *, source: str = "",
    aact: str = "",
) -> Field:  # fmt: skip
    """A column computed from the item (and its position), e.g. a constant or a test."""
    return Field(Column(name, kind, about, source, aact), get)


def const(name: str, value: Any, about: str, source: str = "") -> Field:
    kind = "BOOLEAN" if isinstance(value, bool) else "VARCHAR"
    return field_fn(name, kind, about, lambda _i, _n: value, source=source)


def _as_is(value: Any) -> Any:
    return value


def rows_of(fields: Sequence[Field], entries: Sequence[Any]) -> list[Row]:
    getters = [f.get for f in fields]
    return [tuple([get(e, i) for get in getters]) for i, e in enumerate(entries)]


def simple_table(
    name: str,
    about: str,
    entries: Callable[[Study], Sequence[Any]],
    fields: Sequence[Field],
    *,
    has_id: bool = True,
) -> Table:
    """A table whose rows are `fields` read from each of `entries(study)`."""
    return Table(
        name=name,
        about=about,
        columns=[f.column for f in fields],
        rows=lambda study: rows_of(fields, entries(study)),
        has_id=has_id,
    )


def union_table(
    name: str,
    about: str,
    parts: Sequence[tuple[Callable[[Study], Sequence[Any]], Sequence[Field]]],
) -> Table:
    """A table filled from several lists of the record (AACT maps each with its own root);
    every part has the same column names, the first part's columns describe them."""
    first = [f.column.name for f in parts[0][1]]
    for _, fields in parts[1:]:
        if [f.column.name for f in fields] != first:
            raise ValueError(f"{name}: the parts' columns differ")

    def rows(study: Study) -> list[Row]:
        out: list[Row] = []
        for entries, fields in parts:
            out.extend(rows_of(fields, entries(study)))
        return out

    return Table(name=name, about=about, columns=[f.column for f in parts[0][1]], rows=rows)
