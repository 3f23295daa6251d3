"""The export's shortcut (a table not mapped again while its parts of the record are as they
were, a table whose rows are as they were left alone) against the straightforward walk (every
table mapped and matched at every version), on real records and real successive versions."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import pytest

from sync.aact import parts
from sync.aact.catalog import TABLES
from sync.aact.spans import Ids, Span, StudySpans
from sync.aact.table import Row, Table
from sync.testing.factory import samples_dir

Study = dict[str, Any]


def _load(sub: str) -> list[Study]:
    root = samples_dir()
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob(f"{sub}/*.json"))]


def _records() -> list[Study]:
    return _load("records") + _load("results") + _load("versions/*")


def test_every_table_has_its_parts_listed() -> None:
    missing = sorted(set(TABLES) - set(parts.READS))
    assert not missing, f"list the parts these tables read in sync/aact/parts.py: {missing}"
    assert not set(parts.READS) - set(TABLES), "parts listed for a table that is not one"


def test_each_table_reads_nothing_but_its_parts() -> None:
    """The rows of every real record are those of the record cut down to the table's parts:
    a table that reads a part not listed would be left stale when only that part changes."""
    for study in _records():
        nct = study["protocolSection"]["identificationModule"]["nctId"]
        for name, table in TABLES.items():
            cut = parts.only(study, parts.READS[name])
            assert table.rows(cut) == table.rows(study), (name, nct)


def test_a_part_left_out_is_noticed() -> None:
    """The check above can fail: facilities without the module it reads has no rows."""
    study = next(s for s in _records() if s["protocolSection"].get("contactsLocationsModule"))
    cut = parts.only(study, (("protocolSection", "statusModule"),))
    assert TABLES["facilities"].rows(cut) != TABLES["facilities"].rows(study)


def test_parts_tell_apart_what_equality_would_not() -> None:
    a = {"protocolSection": {"designModule": {"enrollmentInfo": {"count": 1}}}}
    b = {"protocolSection": {"designModule": {"enrollmentInfo": {"count": True}}}}
    part = ("protocolSection", "designModule")
    assert a == b and parts.encode(a, part) != parts.encode(b, part)
    absent: Study = {}
    assert parts.encode(absent, part) != parts.encode({"protocolSection": None}, part)
    changes = parts.Changes([part])
    assert [changes.next(s) for s in (a, a, b, b)] == [{part}, set(), {part}, set()]


# -- the straightforward walk: every table mapped and matched at every version ------------------


class _Reference:
    def __init__(self, nct_id: str, tables: Mapping[str, Table], emit: Any) -> None:
        self.nct_id, self.tables, self.ids, self.emit = nct_id, tables, Ids(), emit
        self.open: dict[str, dict[tuple[Row, int], list[Any]]] = {n: {} for n in tables}

    def version(self, number: int, when: date | None, study: Study) -> None:
        ids_now: dict[str, list[int]] = {}
        for name, table in self.tables.items():
            rows = []
            for row in table.rows(study):
                out = list(row)
                for column, target in table.refs.items():
                    i = table.names.index(column)
                    out[i] = ids_now[target][out[i]] if isinstance(out[i], int) else None
                rows.append(tuple(out))
            copies: dict[Row, int] = {}
            keys = []
            for row in rows:
                copies[row] = copies.get(row, 0) + 1
                keys.append((row, copies[row] - 1))
            held = self.open[name]
            for key in [k for k in held if k not in set(keys)]:
                span, last = held.pop(key)
                span.to_version, span.to_date = last, when
                self.emit(name, self.nct_id, span)
            ids_now[name] = []
            for key in keys:
                if key not in held:
                    held[key] = [Span(self.ids.take(name), key[0], number, when), number]
                held[key][1] = number
                ids_now[name].append(held[key][0].id)

    def finish(self) -> None:
        for name, held in self.open.items():
            for span, _ in held.values():
                self.emit(name, self.nct_id, span)


def _walk(kind: Any, versions: list[tuple[int, date, Study]]) -> list[tuple[Any, ...]]:
    """Every span emitted, in order, with its table and every field."""
    out: list[tuple[Any, ...]] = []

    def emit(table: str, nct_id: str, s: Span) -> None:
        out.append((table, nct_id, s.id, s.row, s.from_version, s.from_date, s.to_version,
                    s.to_date))  # fmt: skip

    walk = StudySpans("NCT0", TABLES, Ids(), emit) if kind is StudySpans else kind(
        "NCT0", TABLES, emit
    )
    for number, when, study in versions:
        walk.version(number, when, study)
    walk.finish()
    return out


def _dated(studies: list[Study]) -> list[tuple[int, date, Study]]:
    first = date(2024, 1, 1)
    return [(n, first + timedelta(days=7 * n), s) for n, s in enumerate(studies, start=1)]


@functools.cache
def _histories() -> dict[str, list[Study]]:
    """Real successive captures, and histories made of real records' modules: a date moved
    alone, sites from another study, arms (and the references to them) from another study,
    results gone and back, a version like the one before, a version like the first."""
    root = samples_dir()
    out = {
        folder.name: [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*"))]
        for folder in sorted((root / "versions").iterdir())
    }
    with_results = _load("results")
    others = _load("records")
    for n, base in enumerate(with_results):
        other = others[n % len(others)]
        v1 = copy.deepcopy(base)
        v2 = copy.deepcopy(v1)
        v2["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2030-01-01"
        v3 = copy.deepcopy(v2)
        v3["protocolSection"]["contactsLocationsModule"] = copy.deepcopy(
            other["protocolSection"].get("contactsLocationsModule", {})
        )
        v4 = copy.deepcopy(v3)
        v4["protocolSection"]["armsInterventionsModule"] = copy.deepcopy(
            other["protocolSection"].get("armsInterventionsModule", {})
        )
        v5 = copy.deepcopy(v4)
        v5.pop("resultsSection", None)
        v6 = copy.deepcopy(v5)
        out[f"made-{n}"] = [v1, v2, v3, v4, v5, v6, copy.deepcopy(v1), copy.deepcopy(v4)]
    return out


@pytest.mark.parametrize("name", sorted(_histories()))
def test_the_shortcut_emits_the_spans_of_the_straightforward_walk(name: str) -> None:
    versions = _dated(_histories()[name])
    assert _walk(StudySpans, versions) == _walk(_Reference, versions)


def test_the_comparison_can_fail() -> None:
    """A walk told that facilities read only the status module keeps the first sites."""
    versions = _dated(_histories()["made-0"])
    wrong = {**parts.READS, "facilities": (("protocolSection", "statusModule"),)}
    out: list[Any] = []
    walk = StudySpans("NCT0", TABLES, Ids(), lambda t, _n, s: out.append((t, s)), wrong)
    for number, when, study in versions:
        walk.version(number, when, study)
    walk.finish()
    assert [(t, s.id, s.row, s.to_version) for t, s in out] != [
        (t, i, r, v) for t, _, i, r, _, _, v, _ in _walk(_Reference, versions)
    ]
