"""Edits that undo themselves, on histories built from the real renames and map-point moves."""

from __future__ import annotations

import copy
from typing import Any

from sync.core.diff.walk import diff_records
from sync.core.events import build_events
from sync.core.reverts import Step, find_reverts, history_reverts
from sync.testing.factory import load_sample

NCT04736173 = ("versions/NCT04736173/NCT04736173_2026-02-03_91d8d988.json",
               "versions/NCT04736173/NCT04736173_2026-03-10_66773312.json")  # fmt: skip
NCT06825494 = ("versions/NCT06825494/NCT06825494_2026-02-11_afb21bfb.json",
               "versions/NCT06825494/NCT06825494_2026-03-14_14b1b906.json")  # fmt: skip


def _sites(study: dict[str, Any]) -> list[dict[str, Any]]:
    return study["protocolSection"]["contactsLocationsModule"]["locations"]  # type: ignore[no-any-return]


def _site(study: dict[str, Any], start: str) -> dict[str, Any]:
    return next(s for s in _sites(study) if s["facility"].startswith(start))


def _history(*records: dict[str, Any]) -> list[list[tuple[str, str, int]]]:
    """The events of each version after the first, with the reverts found as the store does."""
    by_version = {v: diff_records(records[v - 2], records[v - 1]) for v in
                  range(2, len(records) + 1)}  # fmt: skip
    reverts = history_reverts(by_version)
    return [
        [(e.kind, e.importance, e.count) for e in build_events(by_version[v], reverts[v])]
        for v in sorted(by_version)
    ]


def _summaries(old: dict[str, Any], new: dict[str, Any], steps: list[Step]) -> list[str]:
    changes = diff_records(old, new)
    return [e.summary for e in build_events(changes, find_reverts(changes, steps))]


def test_a_facility_name_restored_is_one_low_revert() -> None:
    v1, v2 = (load_sample(p) for p in NCT04736173)
    v3 = copy.deepcopy(v2)
    _site(v3, "Metro Davao")["facility"] = _site(v1, "Metro Davao")["facility"]
    events = _history(v1, v2, v3)
    assert ("sites_renamed", "low", 1) in events[0]
    assert events[1] == [("reverted", "low", 1)]
    (line,) = _summaries(v2, v3, [Step(1, 2, diff_records(v1, v2))])
    assert line.startswith("reverted to v1: site changed: Metro Davao Medical and Research Centre")


def test_the_whole_record_flipped_back_is_all_reverts() -> None:
    v1, v2 = (load_sample(p) for p in NCT04736173)
    events = _history(v1, v2, copy.deepcopy(v1))
    assert sorted(k for k, _, _ in events[0]) == ["sites_added", "sites_removed", "sites_renamed"]
    assert events[1] == [("reverted", "low", 49)]


def test_a_place_respelt_and_respelt_back() -> None:
    # Napoli -> Naples -> Napoli, on the real record's site (its zip anchors the place).
    v1 = load_sample("records/NCT04256421.json")
    v2 = copy.deepcopy(v1)
    _site(v2, "AORN Ospedali dei Colli")["city"] = "Naples"
    v3 = copy.deepcopy(v1)
    events = _history(v1, v2, v3)
    assert events == [[("sites_renamed", "low", 1)], [("reverted", "low", 1)]]


def test_a_name_re_encoded_and_restored_two_versions_on() -> None:
    # The registry's mojibake: UTF-8 read as Latin-1, then repaired; another edit in between.
    v1 = load_sample(NCT06825494[0])
    v2 = copy.deepcopy(v1)
    site = _site(v2, "Xinjiang Medical University")
    site["city"] = site["city"].encode("utf-8").decode("latin-1")  # Ürümqi -> ÃœrÃ¼mqi
    v3 = copy.deepcopy(v2)
    v3["protocolSection"]["statusModule"]["statusVerifiedDate"] = "2026-04"
    v4 = copy.deepcopy(v3)
    _site(v4, "Xinjiang Medical University")["city"] = "Ürümqi"
    events = _history(v1, v2, v3, v4)
    assert events[0] == [("sites_renamed", "low", 1)]
    assert events[2] == [("reverted", "low", 1)]
    # Three steps back is news again: only the last two steps are looked at.
    far = _history(v1, v2, v3, v3 | {"hasResults": False}, v4)
    assert far[3] == [("sites_renamed", "low", 1)]


def test_a_map_point_moved_and_moved_back_is_no_change_at_all() -> None:
    v1, v2 = (load_sample(p) for p in NCT06825494)
    assert diff_records(v1, v2) == [] and diff_records(v2, v1) == []


def test_undoing_a_high_change_is_news_not_a_flip() -> None:
    v1 = load_sample(NCT04736173[1])
    v2 = copy.deepcopy(v1)
    v2["protocolSection"]["statusModule"]["overallStatus"] = "SUSPENDED"
    events = _history(v1, v2, copy.deepcopy(v1))
    assert events[0][0][:2] == ("status", "high")
    assert events[1][0][0] == "status"  # recruitment reopened, not "reverted"


def test_a_change_that_goes_elsewhere_is_no_revert() -> None:
    v1 = load_sample("records/NCT04256421.json")
    v2 = copy.deepcopy(v1)
    _site(v2, "AORN Ospedali dei Colli")["city"] = "Naples"
    v3 = copy.deepcopy(v1)
    _site(v3, "AORN Ospedali dei Colli")["city"] = "Napoli (NA)"
    assert _history(v1, v2, v3)[1] == [("sites_renamed", "low", 1)]
