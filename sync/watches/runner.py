"""Watches: run saved searches, record who enters and leaves (and why), track new matches."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models import SyncRun, Watch, WatchEvent, WatchMatch
from models.db import database_now, session_scope
from sync.config import Settings
from sync.core.states import RunKind, RunOutcome
from sync.ingest import freshness
from sync.ingest import run as sync_engine
from sync.registry.client import ApiError, ApiHTTPError, CtgovClient
from sync.store import runs
from sync.store import snapshots as store
from sync.store.runs import recorded_run
from sync.watches import mirror
from sync.watches.definitions import (
    InvalidWatch,
    UnknownWatch,
    get_watch,
    sync_config_watches,
    validate_params,
)
from sync.watches.results import WatchResult
from sync.watches.search import (
    NO_LONGER_MATCHES,
    Departure,
    Match,
    departures,
    search,
)

log = logging.getLogger(__name__)


def _open_rows(session: Session, watch_id: int) -> dict[str, WatchMatch]:
    rows = session.exec(
        select(WatchMatch).where(WatchMatch.watch_id == watch_id, col(WatchMatch.left_at).is_(None))
    )
    return {m.nct_id: m for m in rows}


def _last_row(session: Session, watch_id: int, nct: str) -> WatchMatch | None:
    return session.exec(
        select(WatchMatch)
        .where(WatchMatch.watch_id == watch_id, WatchMatch.nct_id == nct)
        .order_by(col(WatchMatch.id).desc())
    ).first()


def _why(exc: Exception) -> str:
    # The search URL is long (every term variant, fields…) and says nothing the watch's name
    # does not; the status and the registry's own message do.
    if isinstance(exc, ApiHTTPError):
        return f"HTTP {exc.status} from the registry's search: {exc.body or 'no message'}"
    return str(exc)


def _fail(engine: Engine, watch_id: int, result: WatchResult, message: str) -> WatchResult:
    result.outcome, result.error = RunOutcome.FAILED, message
    with session_scope(engine) as session:
        # The members are those of the last good run: nobody left because a search failed.
        result.matches = len(_open_rows(session, watch_id))
        watch = session.get(Watch, watch_id)
        if watch is not None:
            watch.last_run_at = database_now(session)
            watch.last_outcome = RunOutcome.FAILED
            watch.last_error = message
            session.add(watch)
    # The result carries it to the user (watch run's line, the sync summary): once.
    log.info("watch %s failed: %s", result.name, message)
    return result


def run_watch(
    engine: Engine, client: CtgovClient, name: str, *, run_id: int | None = None
) -> WatchResult:
    """Run one watch: search, then record entries, departures (with reasons) and new tracks.

    A failed search changes no membership: nobody is reported as leaving because of it.
    """
    with session_scope(engine) as session:
        watch = get_watch(session, name)
        assert watch.id is not None
        watch_id, stored = watch.id, dict(watch.params or {})
    result = WatchResult(name=name)
    start = client.requests
    try:
        params = validate_params(name, stored)
        found = search(client, params)
    except (InvalidWatch, ApiError) as exc:
        result.requests = client.requests - start
        return _fail(engine, watch_id, result, _why(exc))

    with session_scope(engine) as session:
        leaving = {n: m.status for n, m in _open_rows(session, watch_id).items() if n not in found}
    gone = departures(client, params, leaving) if leaving else {}

    before = copy.deepcopy(result)
    for attempt in (1, 2):
        try:
            _record(engine, watch_id, name, found, gone, run_id, result)
            break
        except IntegrityError:
            # Another run of this watch opened the same membership meanwhile (the unique
            # index on open memberships refused ours): read its rows and record again.
            if attempt == 2:
                raise
            result = copy.deepcopy(before)
    result.matches = len(found)
    result.requests = client.requests - start
    return result


def _record(
    engine: Engine,
    watch_id: int,
    name: str,
    found: dict[str, Match],
    gone: dict[str, Departure],
    run_id: int | None,
    result: WatchResult,
) -> None:
    """Record one search's entries and departures in one transaction, stamped by the
    database's clock (`export --since` reads the events' times)."""
    with session_scope(engine) as session:
        now = database_now(session)
        watch = session.get(Watch, watch_id)
        assert watch is not None
        # Re-read inside the writing transaction: what another process did meanwhile counts.
        current = _open_rows(session, watch_id)
        first_run = (
            not current and watch.last_outcome != RunOutcome.OK and not _has_rows(session, watch_id)
        )
        for nct in sorted(found):
            m = found[nct]
            row = current.get(nct)
            if row is None:
                _enter(session, watch, m, now, run_id, first_run, result)
            else:
                row.last_seen, row.title, row.status, row.info = now, m.title, m.status, m.info()
                session.add(row)
            _track_if_new(session, watch, m, result)
        for nct in sorted(set(current) - set(found)):
            row = current[nct]
            departure = gone.get(nct, Departure(NO_LONGER_MATCHES))
            reason = departure.reason
            row.left_at, row.left_reason = now, reason
            row.status = departure.status or row.status
            session.add(row)
            summary = f"study left {name}: {nct}, {row.title or 'untitled'}: {reason}"
            session.add(
                WatchEvent(
                    watch_id=watch_id,
                    nct_id=nct,
                    event="left",
                    reason=reason,
                    summary=summary,
                    at=now,
                    run_id=run_id,
                )
            )
            result.left.append(nct)
            result.left_reasons[nct] = reason
            result.events.append(summary)
        watch.last_run_at, watch.last_outcome, watch.last_error = now, RunOutcome.OK, None
        session.add(watch)

def _has_rows(session: Session, watch_id: int) -> bool:
    return (
        session.exec(select(WatchMatch.id).where(WatchMatch.watch_id == watch_id)).first()
        is not None
    )


def _enter(
    session: Session,
    watch: Watch,
    m: Match,
    now: datetime,
    run_id: int | None,
    first_run: bool,
    result: WatchResult,
) -> None:
    assert watch.id is not None
    before = _last_row(session, watch.id, m.nct_id)
    reason = None
    if before is not None and before.left_at is not None:
        reason = f"matches again (left {before.left_at.date().isoformat()}: {before.left_reason})"
    elif first_run:
        reason = "first run of the watch"
    session.add(
        WatchMatch(
            watch_id=watch.id,
            nct_id=m.nct_id,
            first_seen=now,
            last_seen=now,
            title=m.title,
            status=m.status,
            info=m.info(),
        )
    )
    summary = f"new study matched {watch.name}: {m.line()}"
    session.add(
        WatchEvent(
            watch_id=watch.id,
            nct_id=m.nct_id,
            event="entered",
            reason=reason,
            summary=summary,
            at=now,
            run_id=run_id,
        )
    )
    result.entered.append(m.nct_id)
    result.events.append(summary)


def _track_if_new(session: Session, watch: Watch, m: Match, result: WatchResult) -> None:
    """Track a match of a tracking watch, unless trialwatch knows the trial already.

    A trial the user removed stays removed. Current members are checked too, so a watch
    switched to tracking picks up the members it already had.
    """
    if not watch.track or store.get_trial(session, m.nct_id) is not None:
        return
    sync_engine.track(session, [m.nct_id], source=f"watch:{watch.name}")
    trial = store.get_trial(session, m.nct_id)
    if trial is not None:
        trial.title, trial.status = m.title, m.status
    result.tracked.append(m.nct_id)


def active_watch_names(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(
            session.exec(
                select(Watch.name).where(col(Watch.active).is_(True)).order_by(col(Watch.name))
            )
        )


def run_watches(
    engine: Engine,
    client: CtgovClient,
    names: list[str] | None = None,
    *,
    run_id: int | None = None,
    full: bool = False,
    data_timestamp: str | None = None,
    settings: Settings | None = None,
    progress: Any = None,
) -> list[WatchResult]:
    """Run the named watches (default: every active one); one failing never stops the others.

    Mirrors are run by sync.watches.mirror; `full` makes them reconcile their members too;
    `settings` and `progress` serve a mirror's first load from the registry's archive."""
    mirrors = mirror.mirror_names(engine)
    results: list[WatchResult] = []
    for name in names if names is not None else active_watch_names(engine):
        try:
            if name in mirrors:
                results.append(
                    mirror.run_mirror(
                        engine,
                        client,
                        name,
                        run_id=run_id,
                        full=full,
                        data_timestamp=data_timestamp,
                        settings=settings,
                        progress=progress,
                    )
                )
                continue
            results.append(run_watch(engine, client, name, run_id=run_id))
        except UnknownWatch:
            raise
        except sa.exc.DBAPIError as exc:
            if runs.database_lost(exc):
                # Lost or full under every watch alike: the run ends on it, recorded as the
                # database error it is (not once a watch, nor as a crashed watch).
                raise
            log.info("watch %s failed on the database", name, exc_info=True)
            error = runs.database_error(exc)
            results.append(WatchResult(name, outcome=RunOutcome.FAILED, error=error))
        except Exception as exc:  # noqa: BLE001  (a bug in one watch must not stop a sync)
            log.exception("watch %s crashed", name)
            results.append(
                WatchResult(name, outcome=RunOutcome.FAILED, error=f"{type(exc).__name__}: {exc}")
            )
    return results


def sync_hook(
    engine: Engine, settings: Settings, client: CtgovClient | None = None
) -> Callable[[sync_engine.SyncSummary], None]:
    """What `trialwatch sync` runs before fetching: the watches due (every active one when the
    registry published a new release, else those never run), results into the summary.

    Without `client` the hook makes its own from the settings (and closes it).
    """

    def hook(summary: sync_engine.SyncSummary) -> None:
        with session_scope(engine) as session:
            sync_config_watches(session, settings.watches)
            names = freshness.due_watches(
                session, summary.data_timestamp or "", full=summary.mode == "full"
            )
        if not names:
            return
        own = client is None
        c = client or CtgovClient(settings.api_url, settings.history_url, settings.api)
        try:
            for result in run_watches(
                engine,
                c,
                names,
                run_id=summary.run_id,
                full=summary.mode == "full",
                data_timestamp=summary.data_timestamp,
                settings=settings,
            ):
                summary.watches.append(result.to_dict())
                # A mirror fetches and stores for the run: its totals are the run's too (and
                # the SyncRun's, which `status` shows), counted once, here.
                fetched, new_versions, changes = result.stored()
                summary.fetched += fetched
                summary.new_versions += new_versions
                summary.changes += changes
                if result.outcome != RunOutcome.OK:
                    summary.errors.append(f"watch {result.name}: {result.error}")
        finally:
            if own:
                c.close()

    return hook


@dataclass
class WatchRun:
    """What `trialwatch watch run` did: its run's id, each watch's result, and its warnings
    (a registry release older than the last one seen: then no watch ran)."""

    run_id: int
    results: list[WatchResult]
    warnings: list[str] = field(default_factory=list)


def run_recorded(
    engine: Engine,
    client: CtgovClient,
    settings: Settings,
    names: list[str] | None = None,
    trigger: str = "cli",
    progress: Any = None,
) -> WatchRun:
    """`trialwatch watch run`: run watches outside a sync, accounted for as a SyncRun.

    A mirror among them writes versions, as a sync does: the sync's lock is held for the run
    (SyncBusy when a sync, the daemon's or another mirror run holds it), and the registry's
    release is checked first, as a sync checks it: one older than the last one seen runs
    nothing (its records would be stored as new versions reverting newer ones).
    """
    with session_scope(engine) as session:
        sync_config_watches(session, settings.watches)
    mirrors = mirror.mirror_names(engine)
    writes = bool(mirrors & set(names)) if names is not None else bool(mirrors)
    with sync_engine.sync_lock(engine) if writes else nullcontext():
        lock = "sync" if writes else None
        return _run_recorded(engine, client, names, trigger, settings, progress, lock, writes)


def _run_recorded(
    engine: Engine,
    client: CtgovClient,
    names: list[str] | None,
    trigger: str,
    settings: Settings,
    progress: Any,
    lock: str | None,
    writes: bool,
) -> WatchRun:
    start = client.requests
    results: list[WatchResult] = []
    warnings: list[str] = []
    account = _Account()

    def close(_session: Session, run: SyncRun) -> None:
        run.requests = client.requests - start
        run.details = {"watches": [r.to_dict() for r in results], "warnings": warnings}
        if warnings:
            run.mode = "skipped"

    with recorded_run(
        engine, account, kind=RunKind.WATCH, trigger=trigger, mode="watches", close=close,
        lock=lock,
    ) as run_id:
        timestamp = _release(engine, client) if writes else None
        if timestamp is not None and timestamp[1] is not None:
            warnings.append(timestamp[1])
            account.outcome = RunOutcome.OK
            return WatchRun(run_id, results, warnings)
        results.extend(
            run_watches(
                engine,
                client,
                names,
                run_id=run_id,
                data_timestamp=timestamp[0] if timestamp else None,
                settings=settings,
                progress=progress,
            )
        )
        account.outcome = outcome_of(results)
        failed = [r for r in results if r.outcome != RunOutcome.OK]
        account.errors = [f"watch {r.name}: {r.error}" for r in failed]
    return WatchRun(run_id, results, warnings)


def _release(engine: Engine, client: CtgovClient) -> tuple[str, str | None] | None:
    """The registry's dataTimestamp and, when it is older than the last one seen, the warning;
    None when /version cannot be had (each mirror then meets that failure on its own)."""
    try:
        data_timestamp = client.version()["dataTimestamp"]
    except ApiError:
        return None
    with session_scope(engine) as session:
        gate = freshness.gate(session, data_timestamp)
    return data_timestamp, freshness.went_back(gate)


@dataclass
class _Account:
    outcome: str = RunOutcome.RUNNING
    errors: list[str] = field(default_factory=list)


def outcome_of(results: list[WatchResult]) -> str:
    """ok when every watch ran, failed when none did, partial in between."""
    failed = sum(r.outcome != RunOutcome.OK for r in results)
    if not failed:
        return RunOutcome.OK
    return RunOutcome.FAILED if failed == len(results) else RunOutcome.PARTIAL
