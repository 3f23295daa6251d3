"""A pytest plugin (`-p tests.chaos.table`): the table of what the attacks tried and what held.

Tests record one row each with `record_property("chaos", {...})`; the rows travel in the test
reports (so they arrive from xdist workers too) and are printed at the end of the session.
"""

from __future__ import annotations

from typing import Any

import pytest

_rows: list[dict[str, Any]] = []
_failed: list[str] = []
_known: list[tuple[str, str]] = []  # (test, reason): strict xfails, defects reported to others

TITLES = {
    "faults": "Registry faults (each run: stage 1 clean, stage 2 under the fault, then clean)",
    "crash": "Crashes (SIGKILL, then integrity check and a clean rerun)",
    "archive": "Archive loads (SIGKILL while downloading and while storing, then a rerun)",
    "concurrency": "Concurrency (processes on one database)",
    "input": "Bad input and security",
    "answers": "Answers that lie (endless pages, one study twice)",
    "database": "Database faults (a proxy in front of PostgreSQL that goes silent or cuts)",
    "export": "Exports (foreign targets, kills, full disk)",
    "records": "Run records (what a run claims against what it kept: full disk, cuts, kills)",
    "scale": "Input at scale (10,000 IDs, a 100 KB query, too many watches)",
    "clock": "Clocks (libfaketime: days behind, days ahead; the registry's going back)",
}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "chaos" and isinstance(value, dict):
                _rows.append(value)
    if report.when == "call" and hasattr(report, "wasxfail") and report.skipped:
        _known.append((report.nodeid, str(report.wasxfail)))
    if report.failed and "chaos" in report.nodeid:
        _failed.append(report.nodeid)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k != "table" and k not in columns)
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return out


def _total(rows: list[dict[str, Any]], key: str) -> int:
    return sum(int(r.get(key) or 0) for r in rows if str(r.get(key, "")).isdigit())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _rows and not _failed and not _known:
        return
    tr = terminalreporter
    tr.section("chaos: what was tried and what held")
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in _rows:
        groups.setdefault(str(row.get("table", "other")), []).append(row)
    for name, rows in groups.items():
        rows.sort(key=lambda r: tuple(str(v) for k, v in r.items() if k != "table"))
        tr.write_line("")
        tr.write_line(f"{TITLES.get(name, name)}: {len(rows)} attacks")
        for line in _table(rows):
            tr.write_line(line)
    lost = sum(_total(rows, "versions lost") for rows in groups.values())
    dups = sum(_total(rows, "duplicates") for rows in groups.values())
    tr.write_line("")
    tr.write_line(
        f"attacks: {len(_rows) + len(_failed) + len(_known)}, held: {len(_rows)}, "
        f"did not hold: {len(_failed)}, known defects: {len(_known)}, "
        f"versions lost: {lost}, duplicates: {dups}"
    )
    for nodeid in _failed:
        tr.write_line(f"  did not hold: {nodeid}")
    if _known:
        tr.write_line(f"known defects, reported to the modules' owners: {len(_known)}")
        for nodeid, reason in sorted(_known):
            tr.write_line(f"  {nodeid.split('::')[-1]}: {reason}")
