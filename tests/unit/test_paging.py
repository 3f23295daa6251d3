"""The paging bound and the one-study-once-per-page rule (sync.core.paging), pure."""

from __future__ import annotations

from typing import Any

from sync.core.paging import MOST_PER_PAGE, SPARE_PAGES, PageBound, one_per_study


def pages_until_stopped(bound: PageBound, sizes: list[int]) -> int:
    """How many pages a registry offering pages forever gets to serve."""
    for i, size in enumerate(sizes, 1):
        bound.page(size)
        if bound.exceeded():
            return i
    raise AssertionError("never stopped")


def test_a_fixed_page_size_allows_what_the_count_needs_and_two_more() -> None:
    for most, size in [(12, 3), (13, 3), (1, 1000), (200, 100), (0, 10), (4, 3)]:
        needed = max(1, -(-most // size))
        bound = PageBound(most=most, first_size=size)
        assert bound.needed() == needed
        assert pages_until_stopped(bound, [size] * 10_000) == needed + SPARE_PAGES


def test_an_honest_answer_never_reaches_the_bound() -> None:
    # 10 studies at 3 a page: pages 1-3 carry a next token, page 4 is the last.
    bound = PageBound(most=10, first_size=3)
    for _ in range(3):
        bound.page(3)
        assert not bound.exceeded()


def test_shrinking_pages_are_counted_for_what_they_asked() -> None:
    # A mirror's pages shrink after large records: more pages, the same studies' worth.
    bound = PageBound(most=100, first_size=50)
    stopped = pages_until_stopped(bound, [50, 10] + [10] * 100)
    assert stopped == 2 + (100 + 2 * 50 - 60) // 10


def test_a_page_size_above_the_registrys_most_counts_as_its_most() -> None:
    bound = PageBound(most=3000, first_size=5000)
    assert bound.needed() == 3
    assert pages_until_stopped(bound, [5000] * 100) == 3 + SPARE_PAGES
    assert MOST_PER_PAGE == 1000


def test_the_reason_says_which_query_how_many_pages_and_the_bound() -> None:
    bound = PageBound(most=4, first_size=3)
    pages_until_stopped(bound, [3] * 10)
    text = bound.reason("/studies (4 IDs from NCT00000001)", "4 IDs")
    assert text == (
        "/studies (4 IDs from NCT00000001): stopped after 4 pages, the most 4 IDs allow "
        "at 3 a page (+2 spare)"
    )


def study(nct: str, title: str = "A") -> dict[str, Any]:
    return {"id": nct, "title": title}


def key(s: Any) -> str | None:
    return s.get("id") if isinstance(s, dict) else None


def test_identical_copies_count_once_and_keep_their_place() -> None:
    page = [study("1"), study("2"), study("1"), study("3"), study("1")]
    out = one_per_study(page, key, lambda s: s["title"])
    assert out.kept == [study("1"), study("2"), study("3")]
    assert out.repeated == 2 and out.conflicting == {}


def test_a_study_whose_copies_differ_is_kept_by_none() -> None:
    page = [study("1"), study("2"), study("1", "B"), study("3")]
    out = one_per_study(page, key, lambda s: s["title"])
    assert out.kept == [study("2"), study("3")]
    assert out.conflicting == {"1": 2}


def test_unreadable_records_pass_and_content_is_computed_only_for_repeats() -> None:
    hashed: list[str] = []

    def content(s: dict[str, Any]) -> str:
        hashed.append(s["id"])
        return str(s["title"])

    page: list[Any] = ["not a record", study("1"), study("2"), study("2")]
    out = one_per_study(page, key, content)
    assert out.kept == ["not a record", study("1"), study("2")]
    assert hashed == ["2", "2"]
