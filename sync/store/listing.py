"""The tracked trials a list shows, filtered, searched and paged in SQL: one query object for
the CLI's `list`, the web's /trials and the API's /api/trials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, or_, select

from models import Trial, Watch, WatchMatch
from sync.config import OVERALL_STATUSES
from sync.core.record import CONDITIONS_SEPARATOR
from sync.core.states import RegistryState
from sync.core.util import iso
from sync.store.results import TrialRow

# What a search looks in: each of its words must be in one of these (case aside).
SEARCHED = ("NCT ID", "title", "sponsor", "condition")


class BadQuery(ValueError):
    """A filter that cannot match anything as written (an unknown status)."""


@dataclass(frozen=True, slots=True)
class TrialQuery:
    """Which tracked trials: by overall status, by a watch (every study ever its member and
    the trials it made tracked), by words in the NCT ID, title, sponsor or conditions."""

    status: str | None = None
    search: str | None = None
    watch: str | None = None
    include_inactive: bool = False

    @classmethod
    def of(
        cls,
        status: str | None = None,
        search: str | None = None,
        watch: str | None = None,
        include_inactive: bool = False,
    ) -> TrialQuery:
        """The query as typed: blanks are no filter, a status in any case; BadQuery for a
        status that is not one."""
        status = (status or "").strip().upper() or None
        if status is not None and status not in OVERALL_STATUSES:
            raise BadQuery(
                f"{status!r} is not an overall status; known: {', '.join(OVERALL_STATUSES)}"
            )
        search = " ".join((search or "").split()) or None
        return cls(status, search, (watch or "").strip() or None, include_inactive)

    def params(self) -> dict[str, Any]:
        """The query as the web's parameters (for links that keep it)."""
        out: dict[str, Any] = {"status": self.status, "q": self.search, "watch": self.watch}
        if self.include_inactive:
            out["all"] = "true"
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True, slots=True)
class TrialPage:
    """One page of a query's trials, by NCT ID; `after` is the cursor of the next page (the
    last NCT ID shown) when more follow."""

    rows: list[TrialRow]
    total: int
    after: str | None


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _where(query: TrialQuery) -> list[Any]:
    where: list[Any] = []
    if not query.include_inactive:
        where.append(col(Trial.active).is_(True))
    if query.status:
        where.append(col(Trial.status) == query.status)
    if query.watch:
        members = (
            select(WatchMatch.nct_id)
            .join(Watch, col(Watch.id) == col(WatchMatch.watch_id))
            .where(Watch.name == query.watch)
        )
        where.append(
            or_(col(Trial.nct_id).in_(members), col(Trial.source) == f"watch:{query.watch}")
        )
    for word in (query.search or "").split():
        pattern = _like(word)
        where.append(
            or_(
                *(
                    c.ilike(pattern, escape="\\")
                    for c in (
                        col(Trial.nct_id),
                        col(Trial.title),
                        col(Trial.sponsor),
                        col(Trial.conditions),
                    )  # fmt: skip
                )
            )
        )
    return where


def trial_page(
    session: Session,
    query: TrialQuery,
    limit: int | None = None,
    *,
    after: str | None = None,
    offset: int = 0,
) -> TrialPage:
    """Up to `limit` trials (all without one) by NCT ID: after the cursor `after` (a keyset,
    for the API) or past `offset` rows (numbered pages), and how many the query has in all."""
    where = _where(query)
    q = select(Trial).where(*where).order_by(col(Trial.nct_id))
    if after is not None:
        q = q.where(col(Trial.nct_id) > after)
    if offset:
        q = q.offset(offset)
    if limit is not None:
        q = q.limit(limit + 1)  # one more says whether a next page exists
    trials = list(session.exec(q))
    more = limit is not None and len(trials) > limit
    trials = trials[:limit] if limit is not None else trials
    if limit is None and after is None and not offset:
        total = len(trials)
    else:
        counted = select(func.count()).select_from(Trial).where(*where)
        total = int(session.execute(counted).scalar_one())
    rows = [_row(t) for t in trials]
    return TrialPage(rows=rows, total=total, after=rows[-1].nct_id if more else None)


def trial_rows(session: Session, query: TrialQuery) -> list[TrialRow]:
    """Every trial of the query, by NCT ID (the CLI's `list`)."""
    return trial_page(session, query).rows


def _row(t: Trial) -> TrialRow:
    return TrialRow(
        nct_id=t.nct_id,
        status=t.status,
        title=t.title,
        latest_version=t.latest_version,
        registry_state=RegistryState(t.registry_state),
        alias_of=t.alias_of,
        last_update_posted=t.last_update_posted,
        last_checked_at=iso(t.last_checked_at),
        source=t.source,
        active=t.active,
        sponsor=t.sponsor,
        conditions=t.conditions.split(CONDITIONS_SEPARATOR) if t.conditions else [],
    )
