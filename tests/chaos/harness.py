"""What the attacks share: a fake registry with scoped faults, a scenario, state and integrity."""

from __future__ import annotations

import copy
import functools
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from models import Change, Snapshot, SyncRun, Trial, Watch, WatchEvent, WatchMatch
from models import db as dbm
from models.db import session_scope
from sync.config import ApiSettings, Settings, WatchConfig
from sync.core import record
from sync.ingest.run import SyncSummary, run_sync, track
from sync.registry.client import CtgovClient
from sync.store import codec
from sync.store import snapshots as store
from sync.testing.factory import (
    make_study,
    nct,
    with_criteria,
    with_enrollment,
    with_last_update,
    with_status,
)
from sync.testing.fakectgov import RECORD_FAULTS, FakeRegistry, Fault, Request, Response
from sync.watches import runner as discover

VERSION_PATH = "/api/v2/version"
STUDIES_PATH = "/api/v2/studies"
_HISTORY_LIST = re.compile(r"^/api/int/studies/[^/]+$")
_HISTORY_VERSION = re.compile(r"^/api/int/studies/[^/]+/history/[^/]+$")

Scope = Callable[[str, dict[str, str]], bool]

# Which requests each endpoint of the matrix is: faults are aimed at one, the others answer.
ENDPOINTS: dict[str, Scope] = {
    "/version": lambda p, q: p == VERSION_PATH,
    "/studies by IDs": lambda p, q: p == STUDIES_PATH and "filter.ids" in q and "fields" not in q,
    "/studies/{id}": lambda p, q: p.startswith(STUDIES_PATH + "/"),
    "watch search": lambda p, q: p == STUDIES_PATH and "filter.ids" not in q,
    "history list": lambda p, q: bool(_HISTORY_LIST.match(p)),
    "history version": lambda p, q: bool(_HISTORY_VERSION.match(p)),
}

# Client settings for attacks: fast backoff, a short timeout, a small retry budget, small
# batches and pages so that one run makes many requests of each kind.
ATTEMPTS = 3
TIMEOUT = 1.0
RETRY_BUDGET = 2.0


def chaos_api(**overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "requests_per_second": 1000,
        "timeout_seconds": TIMEOUT,
        "max_attempts": ATTEMPTS,
        "max_retry_seconds": RETRY_BUDGET,
        "retry_wait_initial": 0.01,
        "retry_wait_max": 0.05,
        "batch_size": 4,
        "page_size": 3,
    }
    values.update(overrides)
    return ApiSettings(**values)


def api_env(api: ApiSettings) -> dict[str, str]:
    """The same settings as TRIALWATCH_API__* variables, for a CLI in a subprocess."""
    return {
        f"TRIALWATCH_API__{k.upper()}": str(v)
        for k, v in api.model_dump().items()
        if k != "user_agent"
    }


class ChaosRegistry(FakeRegistry):
    """The fake registry whose faults hit only the requests of one endpoint (`scope`).

    It also breaks /version bodies on record faults (the base fake only breaks study records):
    missing_protocol drops dataTimestamp, wrong_types sends numbers, unknown_fields adds fields.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scope: Scope | None = None
        self.hits: list[Request] = []  # the requests a fault was applied to

    def _log(
        self, method: str, path: str, params: dict[str, str], *, consume: bool = True
    ) -> tuple[Request, Fault | None]:
        in_scope = self.scope is None or self.scope(path, params)
        if in_scope and consume and path == VERSION_PATH:
            with self._lock:
                for f in list(self._faults):
                    if f.kind in RECORD_FAULTS:
                        f.times -= 1
                        if f.times <= 0:
                            self._faults.remove(f)
                        request = Request(method, path, params)
                        self._requests.append(request)
                        self.hits.append(request)
                        return request, copy.copy(f)
        request, fault = super()._log(method, path, params, consume=consume and in_scope)
        if fault is not None:
            with self._lock:
                self.hits.append(request)
        return request, fault

    def answer(self, path: str, params: dict[str, str], fault: Fault | None) -> Response:
        if path == VERSION_PATH and fault is not None and fault.kind in RECORD_FAULTS:
            body: dict[str, Any] = {"apiVersion": "2.0.5", "dataTimestamp": self.data_timestamp}
            if fault.kind == "missing_protocol":
                del body["dataTimestamp"]
            elif fault.kind == "wrong_types":
                body = {"apiVersion": 2, "dataTimestamp": 20261120}
            else:
                body["futureField"] = {"nested": ["added by a newer API"]}
            import json

            return Response(200, json.dumps(body).encode())
        return super().answer(path, params, fault)

    def hit_count(self) -> int:
        with self._lock:
            return len(self.hits)


# -- the scenario: what a registry and a user do between two syncs -----------------------------

WATCH = WatchConfig(name="lymphoma", titles="lymphoma")
TRACKED = [nct(i) for i in range(1, 9)]
MISSING = nct(9)  # tracked, never at the registry
ALIAS_OLD, ALIAS_NEW = nct(20), nct(21)  # the user adds OLD in stage 2; the registry says NEW
NEWCOMER = nct(40)  # appears in stage 2 and matches the watch
LEAVER = nct(3)  # stops matching the watch in stage 2


def _title(i: int) -> str:
    what = "B-Cell Lymphoma" if i in (1, 2, 3, 40) else "Small Cell Lung Cancer"
    return f"CAR-NK Cells in {what} (Study {i})"


@dataclass
class Scenario:
    """Stage 1: tracked trials and a watch. Stage 2: changes, a newcomer, a leaver, an alias."""

    fake: FakeRegistry
    batch_size: int = 4
    settings: Settings = field(default_factory=lambda: Settings(watches=[WATCH]))
    served: set[str] = field(default_factory=set)  # content hashes of every clean record

    def _remember(self) -> None:
        for i in [*range(1, 10), 20, 21, 40]:
            found = self.fake.get(nct(i))
            if found is not None:
                self.served.add(record.content_hash(found))

    def stage1(self, engine: Engine) -> None:
        self.fake.ids_match_aliases = False  # an alias is found by its single lookup (301)
        for i in [*range(1, 9), 21]:
            self.fake.put(make_study(nct(i), title=_title(i), last_update="2026-10-01"))
        with session_scope(engine) as s:
            track(s, [*TRACKED, MISSING])
        self._remember()

    def stage2(self, engine: Engine) -> None:
        f = self.fake
        day = "2026-11-21"
        f.put(with_last_update(with_status(f.get(nct(2)), "ACTIVE_NOT_RECRUITING"), day))
        left = f.get(LEAVER)
        assert left is not None
        left["protocolSection"]["identificationModule"]["briefTitle"] = "CAR-NK Cells (Study 3)"
        left["protocolSection"]["identificationModule"]["officialTitle"] = "Study 3"
        f.put(with_last_update(left, day))
        f.put(with_last_update(with_enrollment(f.get(nct(5)), 40, "ACTUAL"), day))
        crit = "Inclusion Criteria:\n\n* Age 18 or over\n\nExclusion Criteria:\n\n* Pregnancy\n"
        f.put(with_last_update(with_criteria(f.get(nct(6)), crit), day))
        f.put(make_study(NEWCOMER, title=_title(40), last_update=day))
        f.alias(ALIAS_OLD, ALIAS_NEW)
        f.set_data_timestamp("2026-11-21T09:00:03")
        with session_scope(engine) as s:
            track(s, [ALIAS_OLD])
        self._remember()

    def sync(self, engine: Engine, client: CtgovClient, **kw: Any) -> SyncSummary:
        hook = discover.sync_hook(engine, self.settings, client)
        return run_sync(engine, client, batch_size=self.batch_size, before_fetch=hook, **kw)


def make_client(fake: FakeRegistry, **overrides: Any) -> CtgovClient:
    return CtgovClient(fake.base_url, fake.history_url, chaos_api(**overrides))


# -- state and integrity -------------------------------------------------------------------------


def fingerprint(engine: Engine) -> dict[str, Any]:
    """Everything a user can learn from the database, without times and run numbers."""
    with session_scope(engine) as s:
        trials = list(s.exec(select(Trial)))
        ids = {t.id: t.nct_id for t in trials}
        watches = {w.id: w.name for w in s.exec(select(Watch))}
        snaps = sorted(
            # In the canonical form: a first version is stored with its received-form hash.
            (ids[x.trial_id], x.version, store.hash_of(s, x), x.origin, x.registry_version)
            for x in s.exec(select(Snapshot))
        )
        changes = sorted(
            (ids[c.trial_id], c.from_version, c.to_version, c.category, c.path, c.summary)
            for c in s.exec(select(Change))
        )
        matches = sorted(
            (watches[m.watch_id], m.nct_id, m.left_at is None) for m in s.exec(select(WatchMatch))
        )
        events = sorted(
            (watches[e.watch_id], e.nct_id, e.event) for e in s.exec(select(WatchEvent))
        )
        return {
            "trials": sorted(
                (t.nct_id, t.active, t.registry_state, t.alias_of, t.latest_version, t.status)
                for t in trials
            ),
            "snapshots": snaps,
            "changes": changes,
            "watch_matches": matches,
            "watch_events": events,
        }


def stored_hashes(engine: Engine) -> dict[tuple[str, int], str]:
    with session_scope(engine) as s:
        ids = {t.id: t.nct_id for t in s.exec(select(Trial))}
        return {(ids[x.trial_id], x.version): store.hash_of(s, x) for x in s.exec(select(Snapshot))}


def version_count(engine: Engine) -> int:
    with session_scope(engine) as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(Snapshot)).scalar_one())


def integrity_problems(engine: Engine) -> list[str]:
    """Everything wrong with a database; [] when it is sound.

    The engine's own check (SQLite), foreign keys, versions 1..N per trial with
    latest_version == N, every snapshot decoding to a record of its stored hash, changes
    between versions that exist, keyframes that exist.
    """
    problems: list[str] = []
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            check = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            if check != ["ok"]:
                problems.append(f"integrity_check: {check}")
            fks = list(conn.exec_driver_sql("PRAGMA foreign_key_check"))
            if fks:
                problems.append(f"foreign_key_check: {fks}")
            conn.rollback()
    orphans = {
        "snapshot.trial_id": "SELECT count(*) FROM snapshot s LEFT JOIN trial t "
        "ON t.id = s.trial_id WHERE t.id IS NULL",
        "change.trial_id": 'SELECT count(*) FROM "change" c LEFT JOIN trial t '
        "ON t.id = c.trial_id WHERE t.id IS NULL",
        "snapshot.run_id": "SELECT count(*) FROM snapshot s LEFT JOIN syncrun r "
        "ON r.id = s.run_id WHERE s.run_id IS NOT NULL AND r.id IS NULL",
        "watchmatch.watch_id": "SELECT count(*) FROM watchmatch m LEFT JOIN watch w "
        "ON w.id = m.watch_id WHERE w.id IS NULL",
    }
    with engine.connect() as conn:
        for what, sql in orphans.items():
            n = conn.exec_driver_sql(sql).scalar_one()
            if n:
                problems.append(f"{n} orphan rows in {what}")
        conn.rollback()
    with session_scope(engine) as s:
        for trial in s.exec(select(Trial)):
            assert trial.id is not None
            snaps = store.snapshots(s, trial.id)
            versions = [x.version for x in snaps]
            if versions != list(range(1, len(versions) + 1)):
                problems.append(f"{trial.nct_id}: versions {versions} are not 1..N")
            if trial.latest_version != (max(versions) if versions else 0):
                problems.append(
                    f"{trial.nct_id}: latest_version {trial.latest_version} but versions {versions}"
                )
            by_version = {x.version: x for x in snaps}
            for snap in snaps:
                if snap.base_version is not None and (
                    snap.base_version not in by_version
                    or not codec.is_whole(by_version[snap.base_version].encoding)
                ):
                    problems.append(f"{trial.nct_id} v{snap.version}: bad keyframe")
                    continue
                try:
                    doc = store.record_of(s, snap)
                except Exception as exc:  # noqa: BLE001  (any failure is the finding)
                    problems.append(f"{trial.nct_id} v{snap.version}: does not decode: {exc}")
                    continue
                if snap.canon_version in (record.CANON_VERSION, record.RECEIVED_FORM) and (
                    record.hash_in_form(doc, snap.canon_version) != snap.content_hash
                ):
                    problems.append(f"{trial.nct_id} v{snap.version}: hash does not match")
                if len(doc) and snap.raw_size and snap.raw_size <= 2:
                    problems.append(f"{trial.nct_id} v{snap.version}: empty body")
            for c in s.exec(select(Change).where(Change.trial_id == trial.id)):
                if not (1 <= c.from_version < c.to_version <= len(versions)):
                    problems.append(
                        f"{trial.nct_id}: change {c.id} between v{c.from_version} and "
                        f"v{c.to_version} of {len(versions)}"
                    )
        for run in s.exec(select(SyncRun)):
            if run.outcome not in ("running", "ok", "partial", "failed"):
                problems.append(f"run {run.id}: outcome {run.outcome!r}")
    return problems


# -- the control: the same scenario, never a fault ----------------------------------------------


@functools.lru_cache(maxsize=1)
def control() -> tuple[dict[str, Any], dict[str, Any], frozenset[str], int]:
    """(state after sync 1, state after sync 2, hashes served, requests of clean sync 2).

    Run once per process on SQLite: the state does not depend on the database kind.
    """
    with tempfile.TemporaryDirectory() as tmp, ChaosRegistry() as fake:
        engine = dbm.make_engine(f"sqlite:///{Path(tmp) / 'control.db'}")
        dbm.upgrade(engine)
        sc = Scenario(fake)
        sc.stage1(engine)
        with make_client(fake) as client:
            first = sc.sync(engine, client)
            assert first.outcome == "ok", first.errors
            after1 = fingerprint(engine)
            sc.stage2(engine)
            start = client.requests
            second = sc.sync(engine, client)
            assert second.outcome == "ok", second.errors
            requests = client.requests - start
            after2 = fingerprint(engine)
            third = sc.sync(engine, client)
            assert third.outcome == "ok" and fingerprint(engine) == after2
        assert integrity_problems(engine) == []
        engine.dispose()
        return after1, after2, frozenset(sc.served), requests


def elapsed_since(start: float) -> float:
    return round(time.monotonic() - start, 2)


# -- the backfill scenario: trials polled once, with a registry history behind them ------------

HISTORY_TRIALS = [nct(i) for i in range(101, 105)]
# (overall status, enrollment, last update posted) of registry versions 0, 1, 2 (2: current)
HISTORY_STEPS = [
    ("NOT_YET_RECRUITING", 20, "2025-01-10"),
    ("RECRUITING", 20, "2025-06-10"),
    ("RECRUITING", 30, "2026-10-01"),
]


@dataclass
class HistoryScenario:
    """Trials polled once (their current record), whose three registry versions a backfill
    imports before the polled one."""

    fake: FakeRegistry
    served: set[str] = field(default_factory=set)

    def prepare(self, engine: Engine, client: CtgovClient) -> None:
        for n in HISTORY_TRIALS:
            versions = {
                k: make_study(n, status=s, enrollment=(e, "ESTIMATED"), last_update=day)
                for k, (s, e, day) in enumerate(HISTORY_STEPS)
            }
            listed = [
                {
                    "version": k,
                    "date": v["protocolSection"]["statusModule"]["lastUpdateSubmitDate"],
                    "status": v["protocolSection"]["statusModule"]["overallStatus"],
                    "moduleLabels": ["Study Status", "Study Design"],
                }
                for k, v in versions.items()
            ]
            self.fake.put(versions[2])
            self.fake.set_history(n, listed, versions)
            self.served.update(record.content_hash(v) for v in versions.values())
        with session_scope(engine) as s:
            track(s, HISTORY_TRIALS)
        first = run_sync(engine, client, batch_size=4)
        assert first.outcome == "ok", first.errors

    def op(self, engine: Engine, client: CtgovClient, **_kw: Any) -> Any:
        from sync.ingest import backfill as history

        with session_scope(engine) as s:
            ids = history.targets(s)
        return history.backfill(engine, client, ids)


@functools.lru_cache(maxsize=1)
def history_control() -> tuple[dict[str, Any], dict[str, Any], frozenset[str]]:
    """(state before the backfill, state after it, hashes served): the clean backfill."""
    with tempfile.TemporaryDirectory() as tmp, ChaosRegistry() as fake:
        engine = dbm.make_engine(f"sqlite:///{Path(tmp) / 'control.db'}")
        dbm.upgrade(engine)
        sc = HistoryScenario(fake)
        with make_client(fake) as client:
            sc.prepare(engine, client)
            before = fingerprint(engine)
            done = sc.op(engine, client)
            assert done.outcome == "ok", done.errors
            after = fingerprint(engine)
            again = sc.op(engine, client)
            assert again.outcome == "ok" and fingerprint(engine) == after
        assert integrity_problems(engine) == []
        engine.dispose()
        return before, after, frozenset(sc.served)
