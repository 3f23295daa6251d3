"""Registry faults on every endpoint a sync uses: honest outcome, bounded retries, convergence."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chaos.faults import CORE_ENDPOINTS, HISTORY_ENDPOINTS, attack, matrix

# Two cheap attacks run with `make test`; the whole matrix with `make chaos`.
FAST = [
    ("sqlite", "/studies by IDs", "wrong types", "once"),
    ("postgresql", "/version", "truncated JSON", "always"),
]

# Defects found in modules others were still building, reported to them rather than fixed
# here, are listed with a reason: (endpoint, fault, mode) -> why. Strict, so that the fix shows
# up as an unexpected pass and the entry is removed. (The two found so far, records with wrong
# types kept by the watch search and by the backfill, were fixed by their owners.)
KNOWN: dict[tuple[str, str, str], str] = {}


def _case(kind: str, endpoint: str, fault: str, mode: str) -> Any:
    reason = KNOWN.get((endpoint, fault, mode))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(
        kind, endpoint, fault, mode, id=f"{kind}-{endpoint}-{fault}-{mode}", marks=marks
    )


# The whole matrix on SQLite; on PostgreSQL every fault where most of the writing happens.
SLOW = [_case("sqlite", *case) for case in matrix(CORE_ENDPOINTS + HISTORY_ENDPOINTS)] + [
    _case("postgresql", *case) for case in matrix(("/studies by IDs",)) if case[2] == "always"
]


@pytest.mark.parametrize(
    ("kind_engine", "endpoint", "fault", "mode"), FAST, indirect=["kind_engine"]
)
def test_fault_fast(
    kind_engine: Any, record_property: Any, endpoint: str, fault: str, mode: str
) -> None:
    outcome = attack(kind_engine, endpoint, fault, mode)
    record_property("chaos", outcome.row())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind_engine", "endpoint", "fault", "mode"), SLOW, indirect=["kind_engine"]
)
def test_fault_matrix(
    kind_engine: Any, record_property: Any, endpoint: str, fault: str, mode: str
) -> None:
    outcome = attack(kind_engine, endpoint, fault, mode)
    record_property("chaos", outcome.row())
