"""The fake registry's lean mode (records kept as JSON, filter.ids looked up) answers as the
ordinary one does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sync.testing.factory import make_study, nct, with_enrollment, with_last_update
from sync.testing.fakectgov import FakeRegistry


def _registry(lean: bool) -> FakeRegistry:
    registry = FakeRegistry(lean=lean).start()
    for i in range(1, 13):
        registry.put(make_study(nct(i), last_update="2026-10-01" if i % 3 else "2026-11-20"))
    registry.alias(nct(99), nct(4))
    return registry


@pytest.fixture
def both() -> Iterator[tuple[FakeRegistry, FakeRegistry]]:
    plain, lean = _registry(False), _registry(True)
    try:
        yield plain, lean
    finally:
        plain.close()
        lean.close()


def _pages(registry: FakeRegistry, params: dict[str, str]) -> list[dict[str, Any]]:
    pages = []
    with httpx.Client(base_url=registry.base_url, timeout=5) as http:
        token = None
        while True:
            query = dict(params, **({"pageToken": token} if token else {}))
            r = http.get("/studies", params=query)
            assert r.status_code == 200, r.text
            pages.append(r.json())
            token = pages[-1].get("nextPageToken")
            if not token:
                return pages


@pytest.mark.parametrize(
    "params",
    [
        {"filter.ids": "|".join(nct(i) for i in (3, 1, 12, 50)), "pageSize": "2"},
        {"filter.ids": f"{nct(99)},{nct(5)}", "countTotal": "true"},
        {
            "filter.ids": "|".join(nct(i) for i in range(1, 13)),
            "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-11-19,MAX]",
        },
        {"query.term": "CAR-NK", "pageSize": "5"},
        {"filter.overallStatus": "RECRUITING", "fields": "NCTId,OverallStatus"},
    ],
)
def test_lean_pages_equal_plain_pages(
    both: tuple[FakeRegistry, FakeRegistry], params: dict[str, str]
) -> None:
    plain, lean = both
    assert _pages(lean, params) == _pages(plain, params)


def test_lean_filter_ids_answers_the_right_records(
    both: tuple[FakeRegistry, FakeRegistry],
) -> None:
    _, lean = both
    (page,) = _pages(lean, {"filter.ids": f"{nct(2)}|{nct(99)}|{nct(77)}"})
    got = [s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]]
    assert got == [nct(2), nct(4)]  # nct(99) is an alias of nct(4); nct(77) is unknown
    assert page["studies"][1]["protocolSection"]["identificationModule"]["nctIdAliases"] == [
        nct(99)
    ]


def test_lean_put_copies_and_replaces(both: tuple[FakeRegistry, FakeRegistry]) -> None:
    _, lean = both
    study = make_study(nct(20))
    lean.put(study)
    study["protocolSection"]["identificationModule"]["briefTitle"] = "changed after put"
    assert lean.get(nct(20)) == make_study(nct(20))
    lean.put(with_last_update(with_enrollment(make_study(nct(20)), 99, "ACTUAL"), "2026-11-21"))
    (page,) = _pages(
        lean,
        {
            "filter.ids": nct(20),
            "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-11-21,MAX]",
        },
    )
    assert page["studies"][0]["protocolSection"]["designModule"]["enrollmentInfo"] == {
        "count": 99,
        "type": "ACTUAL",
    }


def test_lean_record_faults_still_apply(both: tuple[FakeRegistry, FakeRegistry]) -> None:
    _, lean = both
    lean.add_fault("missing_protocol", path="/api/v2/studies")
    (page,) = _pages(lean, {"filter.ids": nct(1)})
    assert "protocolSection" not in page["studies"][0]
    (page,) = _pages(lean, {"filter.ids": nct(1)})
    assert page["studies"][0]["protocolSection"]["identificationModule"]["nctId"] == nct(1)
