"""One sync run: decide what to fetch, fetch in batches, store versions and changes, account."""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from models import SyncRun, Trial
from models.db import database_now, session_scope
from sync.core import errors, paging, record
from sync.core.diff import walk as differ
from sync.core.states import Origin, RegistryState, RunKind, RunOutcome
from sync.core.util import IN_LIST_SIZE, Progress, chunks
from sync.ingest import freshness
from sync.ingest.freshness import META_DATA_TIMESTAMP as META_DATA_TIMESTAMP
from sync.ingest.freshness import MIRROR_SOURCE_PREFIX
from sync.ingest.prepare import prepare
from sync.registry.client import (
    ApiError,
    ApiHTTPError,
    CtgovClient,
    Moved,
    NotFound,
    PagingBound,
)
from sync.store import codec, runs
from sync.store import snapshots as store
from sync.store.locks import Busy, exclusive
from sync.store.runs import recorded_run

log = logging.getLogger(__name__)
META_LAST_GOOD_SYNC = "last_good_sync_date"


@dataclass
class SyncSummary:
    run_id: int | None = None
    outcome: str = RunOutcome.RUNNING
    mode: str = "incremental"
    requests: int = 0
    fetched: int = 0
    new_versions: int = 0
    not_found: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # What the run met that is not an error of its own (the registry's data going back).
    warnings: list[str] = field(default_factory=list)
    changes: int = 0
    changes_by_category: dict[str, int] = field(default_factory=dict)
    new_versions_by_trial: dict[str, int] = field(default_factory=dict)
    data_timestamp: str | None = None
    since: str | None = None
    tracked: int = 0
    watches: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def track(
    session: Session, nct_ids: list[str], source: str = "manual"
) -> tuple[list[str], list[str]]:
    """Track these (already normalised) IDs; reactivates removed ones. Returns (added, already).

    The known ones are read in a few IN queries and the new ones inserted in one flush: 10,000
    IDs are a few statements, not 10,000 round trips."""
    existing: dict[str, Trial] = {}
    for part in chunks(nct_ids, IN_LIST_SIZE):
        known = session.exec(select(Trial).where(col(Trial.nct_id).in_(part)))
        existing.update((t.nct_id, t) for t in known)
    added, already = [], []
    new: dict[str, None] = {}
    for nct in nct_ids:
        trial = existing.get(nct)
        if trial is None:
            if nct not in new:
                new[nct] = None
                added.append(nct)
            else:
                already.append(nct)
        elif not trial.active:
            trial.active = True
            session.add(trial)
            added.append(nct)
        elif trial.source.startswith(MIRROR_SOURCE_PREFIX) and not source.startswith(
            MIRROR_SOURCE_PREFIX
        ):
            # A study a mirror brought, now tracked in its own right: fetched by ID from now
            # on too, so removing the mirror does not stop it (an equal record fetched twice
            # in a run is no second version).
            trial.source = source
            session.add(trial)
            added.append(nct)
        else:
            already.append(nct)
    if new:
        # Rows, not ORM objects: building 10,000 Trial instances cost more than inserting them.
        now = database_now(session)
        fresh = {"source": source, "active": True, "added_at": now,
                 "registry_state": RegistryState.UNKNOWN, "latest_version": 0}  # fmt: skip
        rows = [{"nct_id": nct, **fresh} for nct in new]
        session.execute(insert(Trial), rows)
    session.flush()
    return added, already


def untrack(session: Session, nct_ids: list[str]) -> tuple[list[str], list[str]]:
    """Stop tracking; the versions already stored are kept. Returns (removed, unknown)."""
    removed, unknown = [], []
    for nct in nct_ids:
        trial = store.get_trial(session, nct)
        if trial is None or not trial.active:
            unknown.append(nct)
        else:
            trial.active = False
            session.add(trial)
            removed.append(nct)
    return removed, unknown


class _Run:
    """The state of one sync run; the public entry point is run_sync()."""

    def __init__(
        self,
        engine: Engine,
        client: CtgovClient,
        *,
        batch_size: int,
        full: bool,
        progress: Progress | None,
        summary: SyncSummary,
    ) -> None:
        self.engine = engine
        self.client = client
        self.batch_size = batch_size
        self.full = full
        self.progress = progress
        self.s = summary
        self.by_category: Counter[str] = Counter()
        self.api_version: str | None = None
        self.ok_chunks = 0
        self.failed_chunks = 0
        # One study once per answer: the studies stored (or found unchanged) in this run, and
        # those the registry sent twice with different content (NCT ID -> earliest update
        # date of the copies), of which no copy is kept.
        self.seen: set[str] = set()
        self.conflicts: dict[str, str] = {}

    @contextmanager
    def page(self) -> Iterator[Session]:
        """The transaction of one page's records (or one record's), whose figures count only
        when it commits: they go onto the run's row in that very transaction (runs.counts),
        and when it rolls back the summary's figures go back to what they were before it."""
        s = self.s
        fetched, new_versions, changes = s.fetched, s.new_versions, s.changes
        by_category, by_trial = Counter(self.by_category), dict(s.new_versions_by_trial)
        try:
            with session_scope(self.engine) as session:
                yield session
                runs.counts(
                    session,
                    s.run_id,
                    fetched=s.fetched - fetched,
                    new_versions=s.new_versions - new_versions,
                    changes=s.changes - changes,
                )
        except BaseException:
            s.fetched, s.new_versions, s.changes = fetched, new_versions, changes
            self.by_category, s.new_versions_by_trial = by_category, by_trial
            raise

    def error(self, message: str) -> None:
        # The summary carries it to the user (the CLI's error lines, the daemon's run line):
        # a warning here would print it a second time.
        log.info(message)
        self.s.errors.append(message)

    def store_study(
        self,
        session: Session,
        requested: str,
        study: dict[str, Any],
        trials: dict[str, Trial] | None = None,
    ) -> None:
        """Store one record; `trials` are the page's trials, loaded with one query."""
        try:
            nct = record.nct_id_of(study)
        except record.RecordError as exc:
            self.error(f"{requested}: unusable record: {exc}")
            return
        if not isinstance(study.get("protocolSection"), dict):
            self.error(f"{nct}: record without protocolSection; not stored")
            return
        if problems := record.shape_problems(study):
            self.error(f"{nct}: record with fields of the wrong type; not stored: {problems[0]}")
            return
        if nct in self.conflicts:
            return
        trial = (trials or {}).get(nct) or store.get_trial(session, nct)
        if trial is None:
            self.error(f"{nct}: the registry sent a record that was not asked for")
            return
        if nct in self.seen:
            # Sent again in this run (another page): the same content is nothing new, other
            # content contradicts the first copy.
            if self.same_as_stored(session, trial, study):
                return
            self.contradicted(session, nct, [study], trial)
            return
        self.s.fetched += 1
        try:
            stored = store.store_version(
                session,
                trial,
                study,
                run_id=self.s.run_id,
                data_timestamp=self.s.data_timestamp,
                api_version=self.api_version,
            )
        except (TypeError, ValueError, AttributeError) as exc:
            self.error(f"{nct}: record could not be stored: {exc}")
            return
        self.seen.add(nct)
        trial.registry_state = RegistryState.FOUND
        trial.last_checked_at = database_now(session)
        trial.last_error = None
        session.add(trial)
        if stored is None:
            return
        self.s.new_versions += 1
        self.s.new_versions_by_trial[nct] = stored.snapshot.version
        if stored.previous is not None:
            changes = differ.diff_records(stored.previous, study)
            store.add_changes(
                session,
                trial,
                stored.snapshot.version - 1,
                stored.snapshot.version,
                changes,
                self.s.run_id,
            )
            self.s.changes += len(changes)
            self.by_category.update(str(c.category) for c in changes)

    def same_as_stored(self, session: Session, trial: Trial, study: dict[str, Any]) -> bool:
        assert trial.id is not None
        session.flush()
        latest = store.get_snapshot(session, trial.id, trial.latest_version)
        if latest is None:
            return False
        try:
            return store.changed_hash(session, latest, study) is None
        except (TypeError, ValueError, AttributeError):
            return False

    def screen(self, session: Session, studies: list[Any]) -> list[Any]:
        """A page's records, one per study (sync.core.paging.one_per_study): identical copies
        count once; a study whose copies differ is stored from none of them."""
        screened = paging.one_per_study(studies, _nct_or_none, _content_or_raw)
        if screened.conflicting:
            copies = {n: [s for s in studies if _nct_or_none(s) == n] for n in screened.conflicting}
            for nct, same in copies.items():
                self.contradicted(session, nct, same, None)
        return screened.kept

    def contradicted(
        self, session: Session, nct: str, copies: list[Any], trial: Trial | None
    ) -> None:
        """The registry sent `nct` twice in this run with different content: neither copy is
        its word. A version this run stored from the first copy is taken back; the run ends
        partial (the incremental marks stay), so the next run asks for the study again."""
        dates = [d for d in (_posted(c) for c in copies) if d]
        trial = trial or store.get_trial(session, nct)
        if trial is not None:
            undone = store.undo_run_version(session, trial, self.s.run_id)
            if undone is not None:
                self.s.new_versions -= 1
                self.s.new_versions_by_trial.pop(nct, None)
                self.s.changes -= len(undone)
                self.by_category.subtract(str(c.category) for c in undone)
                self.by_category = +self.by_category
            if trial.last_update_posted:
                dates.append(str(trial.last_update_posted))
        earliest = min(dates, default="")
        if nct in self.conflicts:
            self.conflicts[nct] = min(self.conflicts[nct], earliest) if earliest else earliest
            return
        self.conflicts[nct] = earliest
        self.error(
            f"{nct}: two different copies in one answer; neither stored; asked next run"
        )

    def fetch_chunk(self, ids: list[str], since: str | None) -> set[str]:
        """Fetch one filter.ids chunk, page by page, each page in its own transaction."""
        seen: set[str] = set()
        wanted = set(ids)
        for page in self.client.studies_by_ids(ids, since=since):
            with self.page() as session:
                studies = self.screen(session, page.get("studies") or [])
                # A study the registry contradicted itself on is not asked alone (it was
                # answered); the next run asks for it again.
                seen.update(wanted & self.conflicts.keys())
                trials = _trials_of(session, studies)
                # Studies never stored before: written together after the page's others.
                first: list[tuple[Trial, dict[str, Any]]] = []
                for study in studies:
                    if not isinstance(study, dict):
                        self.error("the registry sent a study that is not an object")
                        continue
                    try:
                        nct = record.nct_id_of(study)
                    except record.RecordError as exc:
                        self.error(f"unusable record in a batch answer: {exc}")
                        continue
                    # filter.ids also matches a record's former IDs: an alias answer, and
                    # the only one when the batch asked for both the old and the new ID.
                    olds = (wanted & set(_aliases_of(study))) - {nct}
                    if nct not in wanted and not olds:
                        self.error(f"{nct}: the registry sent a record that was not asked for")
                        continue
                    for old in sorted(olds):
                        self.record_alias(session, old, nct)
                        seen.add(old)
                    seen.add(nct)
                    trial = trials.get(nct)
                    if (
                        trial is not None
                        and not trial.latest_version
                        and nct not in self.seen
                        and nct not in self.conflicts
                    ):
                        first.append((trial, study))
                    else:
                        self.store_study(session, nct, study, trials)
                self.store_first_versions(session, first, trials)
        return seen

    def store_first_versions(
        self,
        session: Session,
        pairs: list[tuple[Trial, dict[str, Any]]],
        trials: dict[str, Trial],
    ) -> None:
        """Version 1 of trials that have none, as a mirror's first load writes them: prepared
        (received-form hash, key fields, compressed body: sync.ingest.prepare) and inserted in
        one multi-row statement, the trial rows updated in one. A record that cannot be a first
        version, or a trial another writer gave a version meanwhile, takes store_study's way
        (which reports it, or compares it)."""
        if not pairs:
            return
        if session.get_bind().dialect.name != "sqlite":
            # What store_version does trial by trial: lock the rows, read latest_version anew.
            ids = [t.id for t, _ in pairs]
            rows = session.execute(
                sa.select(col(Trial.id), col(Trial.latest_version))
                .where(col(Trial.id).in_(ids))
                .with_for_update()
            ).all()
            locked: dict[int | None, int] = {int(i): int(v or 0) for i, v in rows}
        else:
            locked = {t.id: 0 for t, _ in pairs}  # SQLite's writers queue: none came between
        trained = codec.current(session)
        now = database_now(session)
        snaps: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for trial, study in pairs:
            nct = trial.nct_id
            item = prepare(study, trained, trained.id if trained else None, members=False)
            if item.unfit is not None or locked.get(trial.id):
                self.store_study(session, nct, study, trials)
                continue
            listed = dict(item.listed)
            listed["title"] = listed["title"] or trial.title
            snaps.append(
                {
                    "trial_id": trial.id,
                    "version": 1,
                    "content_hash": item.digest,
                    "canon_version": record.RECEIVED_FORM,
                    "last_update_posted": item.posted,
                    "last_update_submitted": item.submitted,
                    "encoding": item.encoding or codec.WHOLE,
                    "body": item.body if item.encoding else codec.encode(item.body)[1],
                    "base_version": None,
                    "dict_id": item.dict_id,
                    "raw_size": item.raw_size,
                    "fetched_at": now,
                    "origin": Origin.POLL,
                    "registry_version": None,
                    "registry_date": None,
                    "data_timestamp": self.s.data_timestamp,
                    "api_version": self.api_version,
                    "run_id": self.s.run_id,
                }
            )
            fields = {
                **listed,
                "latest_version": 1,
                "registry_state": RegistryState.FOUND,
                "last_checked_at": now,
                "last_error": None,
            }
            updates.append({"trial_key": trial.id, **{"v_" + k: v for k, v in fields.items()}})
            for name, value in fields.items():
                # The loaded row says what the database now holds, and is not written again.
                set_committed_value(trial, name, value)
            self.s.fetched += 1
            self.s.new_versions += 1
            self.s.new_versions_by_trial[nct] = 1
            self.seen.add(nct)
        if not snaps:
            return
        columns = [k[2:] for k in updates[0] if k != "trial_key"]
        table = Trial.__table__  # type: ignore[attr-defined]  # Core: one executemany UPDATE
        session.connection().execute(
            sa.update(table)  # type: ignore[arg-type]
            .where(table.c.id == sa.bindparam("trial_key"))  # type: ignore[attr-defined]
            .values({k: sa.bindparam("v_" + k) for k in columns}),
            updates,
        )
        store.insert_first_versions(session, snaps)


    def resolve_missing(self, nct: str) -> None:
        """A requested ID absent from a batch answer: ask for it alone (404 or alias)."""
        try:
            study = self.client.study(nct)
        except NotFound:
            self.mark(nct, RegistryState.NOT_FOUND)
            return
        except Moved as moved:
            self.follow_alias(nct, moved.new_id)
            return
        except ApiError as exc:
            self.error(f"{nct}: {exc}")
            return
        with self.page() as session:
            self.store_study(session, nct, study)

    def mark(self, nct: str, state: str) -> None:
        """The registry does not know this ID ("not_found") or refuses it ("rejected")."""
        with session_scope(self.engine) as session:
            trial = store.get_trial(session, nct)
            if trial is not None:
                trial.registry_state = state
                trial.last_checked_at = database_now(session)
                session.add(trial)
        (self.s.not_found if state == RegistryState.NOT_FOUND else self.s.rejected).append(nct)

    def fetch_isolating(self, ids: list[str], since: str | None) -> set[str]:
        """fetch_chunk, except that one ID the registry rejects (it answers 400 to the whole
        filter.ids batch) is isolated by halving the batch: the others are fetched in this run.

        A 400 that is not about an ID (a parameter) is raised again: a single ID is asked
        alone, where only the ID can be wrong, and answering normally proves the batch's 400
        was something else."""
        try:
            return self.fetch_chunk(ids, since)
        except ApiHTTPError as exc:
            if exc.status != 400:
                raise
            refused = exc
        if len(ids) == 1:
            return self.probe(ids[0], refused)
        mid = len(ids) // 2
        return self.fetch_isolating(ids[:mid], since) | self.fetch_isolating(ids[mid:], since)

    def probe(self, nct: str, refused: ApiHTTPError) -> set[str]:
        """Ask for one ID of a refused batch alone: rejected, not found, alias, or fine."""
        try:
            self.client.study(nct)
        except ApiHTTPError as exc:
            if exc.status != 400:
                raise
            self.mark(nct, RegistryState.REJECTED)
            return {nct}
        except NotFound:
            self.mark(nct, RegistryState.NOT_FOUND)
            return {nct}
        except Moved as moved:
            self.follow_alias(nct, moved.new_id)
            return {nct}
        # The ID is fine on its own: the batch's 400 was about the request, not an ID.
        raise refused

    def record_alias(self, session: Session, old: str, new: str) -> None:
        """old now answers as new: remember it, and track new in its own right."""
        self.s.aliases[old] = new
        trial = store.get_trial(session, old)
        if trial is not None:
            trial.registry_state = RegistryState.ALIAS
            trial.alias_of = new
            trial.last_checked_at = database_now(session)
            session.add(trial)
        track(session, [new], source=f"alias:{old}")
        session.flush()

    def follow_alias(self, old: str, new: str) -> None:
        with session_scope(self.engine) as session:
            self.record_alias(session, old, new)
        try:
            study = self.client.study(new)
        except ApiError as exc:
            self.error(f"{old} -> {new}: {exc}")
            return
        with self.page() as session:
            self.store_study(session, new, study)

    def run(self, targets: freshness.Targets, since: str | None) -> None:
        groups = [(targets.new, None), (targets.known, None if self.full else since)]
        total = targets.count
        done = 0
        for ids, group_since in groups:
            for chunk in chunks(ids, self.batch_size):
                alone: list[str] = []  # asked for one by one, after the batch
                try:
                    seen = self.fetch_isolating(chunk, group_since)
                except PagingBound as exc:
                    # The pages before the bound are stored; the rest of the answer is not
                    # believed (nor the absences in it): the run is partial, asked again next.
                    self.ok_chunks += 1
                    self.error(str(exc))
                except ApiError as exc:
                    self.failed_chunks += 1
                    self.error(f"batch of {len(chunk)} trials ({chunk[0]}…): {exc}")
                else:
                    self.ok_chunks += 1
                    for nct in chunk:
                        if nct in seen:
                            continue
                        if nct in targets.not_found:
                            # Known not found, absent again (a new registration would have
                            # come back, even incrementally): no request of its own.
                            self.mark(nct, RegistryState.NOT_FOUND)
                        elif group_since is None:
                            # Incremental answers leave out unchanged records; only a full
                            # answer's absences say something about the registry.
                            alone.append(nct)
                # Progress by the ID: 200 IDs the registry does not know are 200 requests,
                # minutes at one a second, and a batch is no sign of life for that long.
                done += len(chunk) - len(alone)
                self.report(done, total)
                for nct in alone:
                    self.resolve_missing(nct)
                    done += 1
                    self.report(done, total)

    def report(self, done: int, total: int) -> None:
        if self.progress:
            self.progress(done, total, "IDs")


def _trials_of(session: Session, studies: list[Any]) -> dict[str, Trial]:
    """The trials of a page's records, by NCT ID, in one query (not one per record)."""
    ids = set()
    for study in studies:
        try:
            ids.add(record.nct_id_of(study))
        except (record.RecordError, AttributeError):
            continue
    if not ids:
        return {}
    rows = session.exec(select(Trial).where(col(Trial.nct_id).in_(sorted(ids))))
    return {t.nct_id: t for t in rows}


def _nct_or_none(study: Any) -> str | None:
    try:
        return record.nct_id_of(study)
    except (record.RecordError, AttributeError, TypeError):
        return None


def _content_or_raw(study: Any) -> str:
    """What decides whether two copies of a study are the same: the content a version is
    decided by (registry noise aside), or the raw record when it cannot be computed."""
    try:
        return record.content_hash(study)
    except (TypeError, ValueError, AttributeError):
        return repr(study)


def _posted(study: Any) -> str | None:
    try:
        value = record.last_update_posted(study)
    except (TypeError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _aliases_of(study: dict[str, Any]) -> list[str]:
    ident = study.get("protocolSection", {}).get("identificationModule", {})
    aliases = ident.get("nctIdAliases") if isinstance(ident, dict) else None
    return [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []


def run_sync(
    engine: Engine,
    client: CtgovClient,
    *,
    batch_size: int = 200,
    full: bool = False,
    trigger: str = "cli",
    progress: Progress | None = None,
    before_fetch: Callable[[SyncSummary], None] | None = None,
) -> SyncSummary:
    """Sync every active tracked trial; returns an honest summary (also stored as a SyncRun).

    `before_fetch` runs after the freshness check and before the trials are fetched (the watch
    searches use it, so that their new matches are fetched in the same run).
    One sync runs per database at a time: SyncBusy says when another one is running.
    """
    with sync_lock(engine), _gc_frozen():
        return _run_locked(engine, client, batch_size, full, trigger, progress, before_fetch)


@contextmanager
def sync_lock(engine: Engine) -> Iterator[None]:
    """The one lock of the writers of versions (a sync, or a mirror run outside a sync):
    SyncBusy when another holds it."""
    with ExitStack() as held:
        try:
            held.enter_context(exclusive(engine, "sync"))
        except Busy as exc:
            raise SyncBusy(
                f"another sync is running on this database ({exc}); nothing was fetched: "
                "try again when it has finished"
            ) from None
        yield


@contextmanager
def _gc_frozen() -> Iterator[None]:
    """Keep what was loaded before the run (modules, ORM metadata: most of the heap) out of the
    cyclic collector's full passes: every page of records triggers some, and re-scanning that
    heap each time cost about a tenth of an ingest's CPU. Objects are collected as before."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class SyncBusy(Exception):
    """Another process is syncing this database."""


def _run_locked(
    engine: Engine,
    client: CtgovClient,
    batch_size: int,
    full: bool,
    trigger: str,
    progress: Progress | None,
    before_fetch: Callable[[SyncSummary], None] | None,
) -> SyncSummary:
    summary = SyncSummary(mode="full" if full else "incremental")
    start_requests = client.requests
    r = _Run(engine, client, batch_size=batch_size, full=full, progress=progress, summary=summary)

    def close(session: Session, run: SyncRun) -> None:
        _finish(session, run, summary, client.requests - start_requests, r)

    # Syncs never overlap (the lock): a run that held it and still reads "running" has ended.
    with recorded_run(
        engine, summary, kind=RunKind.SYNC, trigger=trigger, mode=summary.mode, close=close,
        lock="sync"
    ) as run_id:
        summary.run_id = run_id
        try:
            _execute(engine, client, r, summary, before_fetch)
        except ApiError as exc:
            r.error(str(exc))
            summary.outcome = RunOutcome.FAILED
    return summary


def _execute(
    engine: Engine,
    client: CtgovClient,
    r: _Run,
    summary: SyncSummary,
    before_fetch: Callable[[SyncSummary], None] | None,
) -> None:
    version = client.version()
    summary.data_timestamp = version["dataTimestamp"]
    r.api_version = version.get("apiVersion")
    with session_scope(engine) as session:
        gate = freshness.gate(session, summary.data_timestamp, full=r.full)
        last_good = store.get_meta(session, META_LAST_GOOD_SYNC)
    if went_back := freshness.went_back(gate):
        # An older release than one already stored (a stale mirror or cache of the registry):
        # its records would be stored as new versions reverting newer ones. Nothing is asked
        # or stored from it, no mark moves; the next run asks again.
        summary.warnings.append(went_back)
        with session_scope(engine) as session:
            summary.tracked = freshness.tracked_count(session)
        summary.mode = "skipped"
        summary.outcome = RunOutcome.OK
        return
    if not gate.needed:
        # Nothing was published since the last clean sync and nothing new is tracked or
        # watched: the /version request was the whole run, whatever is tracked.
        with session_scope(engine) as session:
            summary.tracked = freshness.tracked_count(session)
        summary.mode = "skipped"
        summary.outcome = RunOutcome.OK
        return
    if before_fetch is not None:
        before_fetch(summary)
    with session_scope(engine) as session:
        # After the watches: their new matches are fetched in this run.
        targets = freshness.targets(session, gate)
        summary.tracked = freshness.tracked_count(session)
    since = None
    if last_good and not r.full:
        since = (date.fromisoformat(last_good) - timedelta(days=1)).isoformat()
    elif not r.full:
        # Never synced successfully: everything is fetched in full, and the run says so.
        targets.new, targets.known = targets.new + targets.known, []
        summary.mode = "first"
    summary.since = since if targets.known else None
    r.run(targets, since)
    if r.failed_chunks and not r.ok_chunks:
        summary.outcome = RunOutcome.FAILED
    elif summary.errors:
        summary.outcome = RunOutcome.PARTIAL
    else:
        summary.outcome = RunOutcome.OK


def _finish(session: Session, run: SyncRun, summary: SyncSummary, requests: int, r: _Run) -> None:
    summary.requests = requests
    summary.changes_by_category = dict(sorted(r.by_category.items()))
    run.mode = summary.mode
    run.requests = requests
    # The figures on the row are those its pages committed (runs.counts): the summary says
    # the same, whatever was counted in pages that were rolled back.
    summary.fetched, summary.new_versions = run.fetched, run.new_versions
    summary.changes = run.changes
    run.data_timestamp = summary.data_timestamp
    run.not_found = summary.not_found
    run.details = {
        "aliases": summary.aliases,
        "rejected": summary.rejected,
        "changes_by_category": summary.changes_by_category,
        "since": summary.since,
        "tracked": summary.tracked,
        "watches": summary.watches,
        "warnings": errors.counted(summary.warnings),
    }
    # Only a clean run moves the marks the next incremental run starts from; after a
    # partial or failed run the next one asks again for everything it may have missed.
    if summary.outcome == RunOutcome.OK and summary.data_timestamp and not summary.warnings:
        store.set_meta(session, META_DATA_TIMESTAMP, summary.data_timestamp)
        if summary.mode != "skipped":
            # The registry's clock, not ours: records in this data release were posted on
            # or before its date.
            store.set_meta(
                session,
                META_LAST_GOOD_SYNC,
                _date_of(summary.data_timestamp) or run.started_at.date().isoformat(),
            )


def _date_of(timestamp: str) -> str | None:
    try:
        return date.fromisoformat(timestamp[:10]).isoformat()
    except ValueError:
        return None
