"""The registry of AACT tables: every area module's tables, in the order they are filled
(a table after those it refers to). Adding a table: a module's TABLES, listed here. Pure."""

from __future__ import annotations

from sync.aact import (
    arms,
    calculated,
    conditions,
    locations,
    outcomes,
    parties,
    protocol,
    references,
    results,
)
from sync.aact.table import Table

AREAS = (protocol, conditions, arms, locations, parties, references, calculated, results, outcomes)

TABLES: dict[str, Table] = {t.name: t for area in AREAS for t in area.TABLES}


def _check() -> None:
    seen: set[str] = set()
    for table in TABLES.values():
        for column, target in table.refs.items():
            if target not in seen:
                raise ValueError(f"{table.name}.{column} refers to {target}, not filled before")
        seen.add(table.name)


_check()
