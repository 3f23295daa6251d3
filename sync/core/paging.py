"""What one answer of the registry may hold: how many pages a query can take (the bound that
stops endless page tokens), and one study once per page (the rule for duplicated records)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The registry never serves more than this many records a page (a larger pageSize is clamped).
MOST_PER_PAGE = 1000
# Pages allowed beyond what the count needs: the registry may publish while a query pages.
SPARE_PAGES = 2


@dataclass
class PageBound:
    """The most pages a query can honestly take, given the most studies it can find.

    `most`: the studies the query can find at most (the first page's totalCount, or the number
    of IDs a filter.ids query asks for). A page counts for the records it asked for (its
    pageSize, at most MOST_PER_PAGE): an honest registry fills every page but the last, so the
    pages of `most` studies ask for fewer than `most` + one page. Pages that shrink (a mirror's
    large records) are counted for what they asked. The bound is passed when the pages asked
    for `most` studies and SPARE_PAGES pages more, and the registry still offers a next page.
    """

    most: int
    first_size: int
    asked: int = 0
    pages: int = 0

    def page(self, size: int) -> None:
        """One more page, asked with this pageSize, was received."""
        self.pages += 1
        self.asked += max(1, min(size, MOST_PER_PAGE))

    @property
    def budget(self) -> int:
        return max(self.most, 1) + SPARE_PAGES * max(1, min(self.first_size, MOST_PER_PAGE))

    def exceeded(self) -> bool:
        """True when a next page would go past what the count allows."""
        return self.asked >= self.budget

    def needed(self) -> int:
        """The pages the count needs at the first page's size (at least one)."""
        size = max(1, min(self.first_size, MOST_PER_PAGE))
        return max(1, -(-self.most // size))

    def reason(self, what: str, counted: str) -> str:
        """One line: which query, how many pages, what the bound was."""
        size = max(1, min(self.first_size, MOST_PER_PAGE))
        return (
            f"{what}: stopped after {self.pages} pages, the most {counted} allow "
            f"at {size} a page (+{SPARE_PAGES} spare)"
        )


@dataclass
class Screened:
    """A page's records, one per study: what to store, and the studies whose copies differ."""

    kept: list[Any] = field(default_factory=list)
    conflicting: dict[str, int] = field(default_factory=dict)  # NCT ID -> copies in the page
    repeated: int = 0  # identical copies dropped


def one_per_study(
    studies: list[Any],
    key: Callable[[Any], str | None],
    content: Callable[[Any], str],
) -> Screened:
    """One study once per page: identical copies (same `content`) keep the first; a study whose
    copies differ is kept by none (the registry contradicted itself: neither copy is its word).

    `key` gives a record's NCT ID, or None for a record it cannot read (kept as it is, for the
    caller's own checks); `content` is only computed for studies that come more than once.
    """
    by_id: dict[str, list[int]] = {}
    for i, study in enumerate(studies):
        nct = key(study)
        if nct is not None:
            by_id.setdefault(nct, []).append(i)
    drop: set[int] = set()
    out = Screened()
    for nct, places in by_id.items():
        if len(places) == 1:
            continue
        hashes = {content(studies[i]) for i in places}
        if len(hashes) == 1:
            drop.update(places[1:])
            out.repeated += len(places) - 1
        else:
            drop.update(places)
            out.conflicting[nct] = len(places)
    out.kept = [s for i, s in enumerate(studies) if i not in drop]
    return out
