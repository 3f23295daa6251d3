"""Mirror watches: every record of a search's scope (up to the whole registry), fetched by the
search itself page by page, versioned like tracked trials, resumable, reconciled by ID listing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import zstandard
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models import Snapshot, Trial, Watch, WatchEvent, WatchMatch
from models.db import database_now, session_scope
from sync.config import Settings
from sync.core import errors, record
from sync.core.membership import summary_of as _summary_of
from sync.core.util import chunks
from sync.ingest import run as sync_engine
from sync.ingest.archive import ArchiveError
from sync.ingest.freshness import MIRROR_SOURCE_PREFIX
from sync.ingest.memory import collector_paused, release_memory
from sync.ingest.prepare import DictSpec, Prepared, prepare
from sync.registry.client import ApiError, CtgovClient
from sync.store import codec, runs
from sync.store import snapshots as store
from sync.watches import mirror_archive
from sync.watches.definitions import (
    InvalidWatch,
    get_watch,
    search_params,
    validate_params,
)
from sync.watches.results import WatchResult
from sync.watches.search import (
    NO_LONGER_MATCHES,
    Departure,
    IncompleteSearch,
    departures,
    match_of,
)

log = logging.getLogger(__name__)

# Oldest update first: a load stopped anywhere resumes from the date it had reached, and a
# record updated while the load runs moves behind the cursor, never before it.
SORT = "LastUpdatePostDate:asc"
DATE_AREA = "LastUpdatePostDate"
STATE_KEY = "mirror_state:{}"
SOURCE = MIRROR_SOURCE_PREFIX + "{}"
# The IDs-only listing that reconciles members: tiny records, the largest pages allowed.
ID_PAGE_SIZE = 1000


def is_mirror(params: dict[str, Any] | None) -> bool:
    return bool((params or {}).get("mirror"))


def mirror_names(engine: Engine) -> set[str]:
    """Every watch defined as a mirror, removed ones included."""
    with session_scope(engine) as session:
        rows = session.exec(select(Watch.name, Watch.params)).all()
    return {name for name, params in rows if is_mirror(params)}


def source_of(name: str) -> str:
    """What a mirrored trial's `source` says: the mirror that brought it."""
    return SOURCE.format(name)


@dataclass
class MirrorResult(WatchResult):
    """A mirror's run, reported next to the watches' in a sync summary."""

    mirror: bool = True
    # "load" until the first pass over the whole scope has completed, then "delta".
    mode: str = "load"
    since: str | None = None
    pages: int = 0
    fetched: int = 0
    new_versions: int = 0
    changes: int = 0
    complete: bool = False
    reconciled: bool = False

    def stored(self) -> tuple[int, int, int]:
        return self.fetched, self.new_versions, self.changes


@dataclass
class _State:
    """What a mirror resumes from, stored durably (Meta) and moved only with committed pages.

    `mark` is a LastUpdatePostDate: every record of the scope updated before it is stored.
    During the first load it follows the pages; after a clean run it is the registry's
    data release date minus one day, as for the incremental sync of tracked trials.
    """

    params: dict[str, Any]
    mark: str | None = None
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"params": self.params, "mark": self.mark, "complete": self.complete}


def _load_state(session: Session, watch_id: int, params: dict[str, Any]) -> _State:
    raw = store.get_meta(session, STATE_KEY.format(watch_id))
    if not isinstance(raw, dict) or raw.get("params") != params:
        # Never run, or the scope was redefined: a new first load (stored versions are kept,
        # and records already stored with the same content are not written again).
        return _State(params=params)
    return _State(params=params, mark=raw.get("mark"), complete=bool(raw.get("complete")))


def _save_state(session: Session, watch_id: int, state: _State) -> None:
    store.set_meta(session, STATE_KEY.format(watch_id), state.to_json())


def scope_query(params: dict[str, Any], mark: str | None, page_size: int) -> dict[str, str]:
    """The /studies parameters of a mirror's pages: its search, full records, oldest update
    first, from `mark` on (ANDed with the watch's own filter.advanced)."""
    query = search_params(params)
    query.pop("fields", None)
    query["sort"] = SORT
    query["pageSize"] = str(page_size)
    if mark:
        window = f"AREA[{DATE_AREA}]RANGE[{mark},MAX]"
        own = query.get("filter.advanced")
        query["filter.advanced"] = f"({own}) AND {window}" if own else window
    return query


def _day_before(timestamp: str) -> str | None:
    try:
        return (date.fromisoformat(timestamp[:10]) - timedelta(days=1)).isoformat()
    except ValueError:
        return None


class _Mirror:
    """One run of one mirror; the entry point is run_mirror()."""

    def __init__(
        self,
        engine: Engine,
        client: CtgovClient,
        watch_id: int,
        name: str,
        run_id: int | None,
        data_timestamp: str,
        result: MirrorResult,
    ) -> None:
        self.engine = engine
        self.client = client
        self.watch_id = watch_id
        self.name = name
        self.run_id = run_id
        self.result = result
        self.summary = sync_engine.SyncSummary(run_id=run_id, data_timestamp=data_timestamp)
        # The sync's own record handling (checks, versions, typed changes), page by page.
        self.records = sync_engine._Run(
            engine,
            client,
            batch_size=client.settings.batch_size,
            full=False,
            progress=None,
            summary=self.summary,
        )
        # The time of what this run stores, by the database's clock (`export --since` reads
        # it): read again in each transaction that stores (database_now).
        self.now = datetime.now(UTC)
        # The dictionary the last batch's first versions were compressed with (and the
        # workers' copy of it: row ID and bytes).
        self.trained: codec.Trained | None = None
        self._spec: DictSpec = None

    # -- pages of full records

    def load(self, params: dict[str, Any], state: _State) -> None:
        """Fetch the scope from the state's mark on, committing each page with the mark."""
        self.result.mode = "delta" if state.complete else "load"
        self.result.since = state.mark
        api = self.client.settings
        # Small pages keep a long load's memory low; a delta's few pages keep requests low.
        page_size = api.page_size if state.complete else api.mirror_page_size
        with collector_paused():
            query = scope_query(params, state.mark, page_size)
            for page in self.client.pages(query, max_page_bytes=api.mirror_page_bytes):
                studies = [s for s in page.get("studies") or [] if self._usable(s)]
                # The page, its figures on the run's row and the mark, in one transaction.
                with self.records.page() as session:
                    last = self.ingest(session, studies, announce=state.complete)
                    if last and (state.mark is None or last > state.mark):
                        state.mark = last
                    # A study the registry contradicted itself on is asked again by the next
                    # run: the mark never passes the earliest date its copies had.
                    floor = min((d for d in self.records.conflicts.values() if d), default=None)
                    if floor and state.mark and floor < state.mark:
                        state.mark = floor
                    _save_state(session, self.watch_id, state)
                self.result.pages += 1
                del page, studies
                release_memory()

    def _usable(self, study: Any) -> bool:
        if not isinstance(study, dict):
            self.records.error("the registry sent a study that is not an object")
            return False
        try:
            record.nct_id_of(study)
        except record.RecordError as exc:
            self.records.error(f"unusable record in a mirror page: {exc}")
            return False
        return True

    def ingest(self, session: Session, studies: list[dict[str, Any]], *, announce: bool) -> str:
        """Store a page's records and their membership; returns the page's latest update date.

        Studies trialwatch has never seen (all of a first load) are written in bulk: their
        trial, first version and membership rows as multi-row inserts, without the ORM. The
        others go through the sync's own path (a new version only when the content changed,
        typed changes). `announce`: a study new to the scope is reported (an "entered" event);
        the first load reports none, it would be the whole scope.
        """
        self.now = database_now(session)
        # One study once per page: identical copies count once, differing ones not at all.
        studies = self.records.screen(session, studies)
        ids = [record.nct_id_of(s) for s in studies]
        known = {t.nct_id: t for t in session.exec(select(Trial).where(col(Trial.nct_id).in_(ids)))}
        fresh: dict[str, dict[str, Any]] = {}
        for nct, study in zip(ids, studies, strict=True):
            if nct not in known:
                fresh[nct] = study
        members = self._open_members(session, [n for n in ids if n in known])
        for nct, study in zip(ids, studies, strict=True):
            if nct in known:
                self.records.store_study(session, nct, study, known)
                self._member(session, nct, study, members.get(nct), announce)
        if fresh:
            items = {nct: prepare(study) for nct, study in fresh.items()}
            self._bulk_first_versions(session, items, fresh, announce)
        return max((record.last_update_posted(s) or "" for s in studies), default="")

    def ingest_prepared(
        self,
        session: Session,
        items: list[Prepared],
        again: Callable[[int], dict[str, Any] | None],
    ) -> None:
        """ingest() of a batch prepared by a pool's workers (no announcements: a first load).
        `again(i)`: item i as a record, for what the writer needs whole: a study already
        stored (its next version is decided by the sync's own path), or copies to screen."""
        self.now = database_now(session)
        ids = [p.nct for p in items]
        if len(set(ids)) < len(ids):
            # Copies of one study in a batch: the single process's screening decides.
            studies = [s for i in range(len(items)) if (s := again(i)) is not None]
            self.ingest(session, studies, announce=False)
            return
        known = {t.nct_id: t for t in session.exec(select(Trial).where(col(Trial.nct_id).in_(ids)))}
        members = self._open_members(session, [n for n in ids if n in known])
        for i, item in enumerate(items):
            if item.nct in known and (study := again(i)) is not None:
                self.records.store_study(session, item.nct, study, known)
                self._member(session, item.nct, study, members.get(item.nct), False)
        fresh = {p.nct: p for p in items if p.nct not in known}
        if fresh:
            self._bulk_first_versions(session, fresh, None, False)

    def dict_spec(self) -> DictSpec:
        """The dictionary the workers compress with: the one the last batch used."""
        if self.trained is None:
            return None
        if self._spec is None or self._spec[0] != self.trained.id:
            self._spec = (self.trained.id, self.trained.zdict.as_bytes())
        return self._spec

    def _bulk_first_versions(
        self,
        session: Session,
        items: dict[str, Prepared],
        studies: dict[str, dict[str, Any]] | None,
        announce: bool,
    ) -> None:
        """Trial, version 1 and membership of records never seen, as multi-row inserts.

        No row lock is needed (store_version takes one on PostgreSQL): the trial rows are
        created in this transaction, invisible to any other writer until it commits.
        """
        now = self.now
        trials, snaps, fit = [], {}, {}
        for nct, item in items.items():
            if item.unfit is not None:
                self.records.error(item.unfit)
                continue
            fit[nct] = item
            trials.append(
                {
                    "nct_id": nct,
                    "active": True,
                    "source": source_of(self.name),
                    "added_at": now,
                    "registry_state": "found",
                    "latest_version": 1,
                    **item.listed,
                    "last_checked_at": now,
                }
            )
            snaps[nct] = {
                "version": 1,
                "fetched_at": now,
                "content_hash": item.digest,
                "canon_version": record.RECEIVED_FORM,
                "origin": "poll",
                "last_update_posted": item.posted,
                "last_update_submitted": item.submitted,
                "data_timestamp": self.summary.data_timestamp,
                "api_version": self.records.api_version,
                "raw_size": item.raw_size,
                "run_id": self.run_id,
            }
        if not trials:
            return
        # The first page large enough trains the database's dictionary (in this page's
        # transaction: a page rolled back takes it along), and every whole record after it
        # is compressed with it (by a worker, when the batch was prepared in a pool).
        trained = codec.current(session)
        if trained is None:
            trained = codec.train(session, [item.raw() for item in fit.values()])
        self.trained = trained
        for nct, item in fit.items():
            if not _compressed_with(item, trained):
                before = None
                if item.encoding is not None and item.dict_id is not None:
                    before = codec.for_body(session, item.dict_id, item.body)
                snaps[nct]["encoding"], snaps[nct]["body"] = codec.encode(
                    item.raw(before), trained=trained
                )
            else:
                snaps[nct]["encoding"], snaps[nct]["body"] = item.encoding, item.body
            snaps[nct]["dict_id"] = trained.id if trained is not None else None
        made = session.execute(
            sa.insert(Trial).returning(col(Trial.id), col(Trial.nct_id)), trials
        ).all()
        trial_ids = {nct: trial_id for trial_id, nct in made}
        session.execute(
            sa.insert(Snapshot), [{**snaps[n], "trial_id": trial_ids[n]} for n in snaps]
        )
        self.summary.fetched += len(snaps)
        self.summary.new_versions += len(snaps)
        self.records.seen.update(snaps)
        rows: list[dict[str, Any]] = []
        for nct in snaps:
            title, status, info = fit[nct].member
            rows.append(
                {
                    "watch_id": self.watch_id,
                    "nct_id": nct,
                    "first_seen": now,
                    "last_seen": now,
                    "title": title,
                    "status": status,
                    "info": info,
                }
            )
        session.execute(sa.insert(WatchMatch), rows)
        if announce:
            for row in rows:
                nct = row["nct_id"]
                study = studies[nct] if studies is not None else fit[nct].study(trained)
                self._announce(session, nct, study)

    def _open_members(self, session: Session, ids: Iterable[str]) -> dict[str, WatchMatch]:
        rows = session.exec(
            select(WatchMatch).where(
                WatchMatch.watch_id == self.watch_id,
                col(WatchMatch.left_at).is_(None),
                col(WatchMatch.nct_id).in_(list(ids)),
            )
        )
        return {m.nct_id: m for m in rows}

    def _member(
        self,
        session: Session,
        nct: str,
        study: dict[str, Any],
        row: WatchMatch | None,
        announce: bool,
    ) -> None:
        title, status, info = _summary_of(study)
        if row is not None:
            row.last_seen, row.title, row.status, row.info = self.now, title, status, info
            session.add(row)
            return
        session.add(
            WatchMatch(
                watch_id=self.watch_id,
                nct_id=nct,
                first_seen=self.now,
                last_seen=self.now,
                title=title,
                status=status,
                info=info,
            )
        )
        if announce:
            self._announce(session, nct, study)

    def _announce(self, session: Session, nct: str, study: dict[str, Any]) -> None:
        """An "entered" event: a study new to the scope, or back in it."""
        before = session.exec(
            select(WatchMatch)
            .where(WatchMatch.watch_id == self.watch_id, WatchMatch.nct_id == nct)
            .where(col(WatchMatch.left_at).is_not(None))
            .order_by(col(WatchMatch.id).desc())
        ).first()
        reason = (
            f"matches again (left {before.left_at.date().isoformat()}: {before.left_reason})"
            if before is not None and before.left_at is not None
            else "new in the mirrored scope"
        )
        try:
            line = match_of(study).line()
        except record.RecordError:
            line = nct
        summary = f"new study in mirror {self.name}: {line}"
        session.add(
            WatchEvent(
                watch_id=self.watch_id,
                nct_id=nct,
                event="entered",
                reason=reason,
                summary=summary,
                at=self.now,
                run_id=self.run_id,
            )
        )
        self.result.entered.append(nct)
        self.result.events.append(summary)

    # -- membership by IDs-only listing

    def reconcile(self, params: dict[str, Any]) -> None:
        """List the scope's IDs: members missing from it left (with the reason, versions
        kept); IDs in it that the mirror lacks are fetched in full."""
        query = search_params(params)
        query.update({"fields": "NCTId", "countTotal": "true", "pageSize": str(ID_PAGE_SIZE)})
        listed: set[str] = set()
        total: int | None = None
        for page in self.client.pages(query):
            if total is None and isinstance(page.get("totalCount"), int):
                total = page["totalCount"]
            for study in page.get("studies") or []:
                try:
                    listed.add(record.nct_id_of(study))
                except record.RecordError as exc:
                    bad = f"the ID listing held an unusable record: {exc}"
                    raise IncompleteSearch(bad) from exc
        if total is not None and len(listed) < total:
            # A short listing would report members as gone that are not.
            raise IncompleteSearch(
                f"the ID listing held {len(listed)} studies but the registry counts {total}"
            )
        with session_scope(self.engine) as session:
            current = dict(
                session.exec(  # type: ignore[call-overload]
                    select(WatchMatch.nct_id, WatchMatch.status).where(
                        WatchMatch.watch_id == self.watch_id, col(WatchMatch.left_at).is_(None)
                    )
                ).all()
            )
        missing = sorted(listed - set(current))
        for chunk in chunks(missing, self.client.settings.batch_size):
            for page in self.client.studies_by_ids(chunk):
                studies = [s for s in page.get("studies") or [] if self._usable(s)]
                with self.records.page() as session:
                    self.ingest(session, studies, announce=True)
        leaving = {n: s for n, s in current.items() if n not in listed}
        gone = departures(self.client, params, leaving) if leaving else {}
        with session_scope(self.engine) as session:
            self.now = database_now(session)
            rows = self._open_members(session, sorted(leaving))
            for nct in sorted(leaving):
                row = rows[nct]
                departure = gone.get(nct, Departure(NO_LONGER_MATCHES))
                row.left_at, row.left_reason = self.now, departure.reason
                row.status = departure.status or row.status
                session.add(row)
                summary = (
                    f"study left mirror {self.name}: {nct}, {row.title or 'untitled'}: "
                    f"{departure.reason}"
                )
                session.add(
                    WatchEvent(
                        watch_id=self.watch_id,
                        nct_id=nct,
                        event="left",
                        reason=departure.reason,
                        summary=summary,
                        at=self.now,
                        run_id=self.run_id,
                    )
                )
                self.result.left.append(nct)
                self.result.left_reasons[nct] = departure.reason
                self.result.events.append(summary)
        self.result.reconciled = True


def _compressed_with(item: Prepared, trained: codec.Trained | None) -> bool:
    """Whether a worker compressed the item with this very dictionary."""
    if trained is None or item.encoding != codec.TRAINED or item.dict_id != trained.id:
        return False
    return bool(zstandard.get_frame_parameters(item.body).dict_id == trained.zdict.dict_id())


def member_count(session: Session, watch_id: int) -> int:
    return int(
        session.execute(
            sa.select(sa.func.count(col(WatchMatch.id))).where(
                col(WatchMatch.watch_id) == watch_id, col(WatchMatch.left_at).is_(None)
            )
        ).scalar_one()
    )


def _finish(engine: Engine, watch_id: int, result: MirrorResult, error: str | None) -> MirrorResult:
    with session_scope(engine) as session:
        result.matches = member_count(session, watch_id)
        watch = session.get(Watch, watch_id)
        if watch is not None:
            watch.last_run_at = database_now(session)
            watch.last_outcome = "failed" if error else "ok"
            watch.last_error = error
            session.add(watch)
    if error:
        result.outcome, result.error = "failed", error
        log.warning("mirror %s failed: %s", result.name, error)
    return result


def _archive_first(
    run: _Mirror,
    params: dict[str, Any],
    state: _State,
    settings: Settings,
    progress: mirror_archive.ProgressFactory | None,
) -> None:
    """The archive's records stored, and the mark moved to its data date less a day."""
    newest = mirror_archive.first_load(
        run.engine,
        run.client,
        run.watch_id,
        params,
        settings,
        ingest=lambda session, studies: run.ingest(
            session, [s for s in studies if run._usable(s)], announce=False
        ),
        error=run.records.error,
        transaction=run.records.page,
        progress=progress,
        prepared=run.ingest_prepared,
        spec=run.dict_spec,
    )
    # The archive is an earlier release than the API's pages: a study the API now sends
    # with other content was updated since, not contradicted within one answer.
    run.records.seen.clear()
    mark = _day_before(newest) if newest else None
    if mark and (state.mark is None or mark > state.mark):
        state.mark = mark
        with session_scope(run.engine) as session:
            _save_state(session, run.watch_id, state)


def run_mirror(
    engine: Engine,
    client: CtgovClient,
    name: str,
    *,
    run_id: int | None = None,
    full: bool = False,
    data_timestamp: str | None = None,
    settings: Settings | None = None,
    progress: mirror_archive.ProgressFactory | None = None,
) -> MirrorResult:
    """Bring one mirror up to date: resume or continue its load from the stored mark, then
    (on a full sync, once loaded) reconcile its members with an IDs-only listing.

    A whole-registry mirror with `from_archive` makes its first load from the registry's
    archive (sync.watches.mirror_archive; `settings` say where the data directory is), then
    from the archive's data date on by the API.

    A failure keeps every committed page and the mark that goes with it: the next run
    resumes there, without asking again for what is stored.
    """
    with session_scope(engine) as session:
        watch = get_watch(session, name)
        assert watch.id is not None
        watch_id, stored = watch.id, dict(watch.params or {})
    result = MirrorResult(name=name)
    start = client.requests
    try:
        params = validate_params(name, stored)
        timestamp = data_timestamp or client.version()["dataTimestamp"]
    except (InvalidWatch, ApiError) as exc:
        result.requests = client.requests - start
        return _finish(engine, watch_id, result, str(exc))
    # How the first load is made is no part of the scope: choosing it later starts no new load.
    scope = {k: v for k, v in params.items() if k != "from_archive"}
    with session_scope(engine) as session:
        state = _load_state(session, watch_id, scope)
    was_complete = state.complete
    run = _Mirror(engine, client, watch_id, name, run_id, timestamp, result)
    failure: str | None = None
    try:
        if not was_complete and mirror_archive.chosen(params):
            _archive_first(run, params, state, settings or Settings(), progress)
        run.load(params, state)
        if full and was_complete:
            run.reconcile(params)
    except (ApiError, ArchiveError) as exc:
        failure = str(exc)
    except sa.exc.DBAPIError as exc:
        if runs.database_lost(exc):
            # Lost or full: the run that holds this mirror ends on it, recorded as such, with
            # the pages committed so far counted on its row.
            raise
        failure = runs.database_error(exc)
    s = run.summary
    result.fetched, result.new_versions, result.changes = s.fetched, s.new_versions, s.changes
    result.requests = client.requests - start
    if failure is None and not s.errors:
        # Clean: the next run asks only for what the registry updated since this release.
        with session_scope(engine) as session:
            state.mark = _day_before(timestamp) or state.mark
            state.complete = True
            _save_state(session, watch_id, state)
    result.complete = state.complete
    found = errors.counted(s.errors)[:3]
    return _finish(engine, watch_id, result, failure or ("; ".join(found) or None))
