"""Answers that lie: a registry that offers pages forever, or holds one study twice.

Each attack runs the chaos scenario (stage 1 clean, stage 2 under the lie, then clean) or a
mirror load, and checks the run's outcome and reason, the requests made (within the bound of
sync.core.paging), the versions stored (none from the lying answer) and the clean run after
(exactly the versions of a run that never met the lie: none lost, none twice)."""

from __future__ import annotations

import functools
import json
import math
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from models import Snapshot, Trial
from models import db as dbm
from models.db import session_scope
from sync.config import Settings, WatchConfig
from sync.core.paging import SPARE_PAGES
from sync.ingest.run import META_LAST_GOOD_SYNC, SyncSummary, run_sync
from sync.store import snapshots as store
from sync.testing.factory import make_study, nct
from sync.testing.fakectgov import PAGING_PARAMS, Request
from sync.watches import runner as discover
from tests.chaos import harness
from tests.chaos.faults import lost_and_duplicates
from tests.chaos.harness import STUDIES_PATH, ChaosRegistry, Scenario, make_client

ALWAYS = 500  # far past any bound here: without one, a run would follow them all
BY_IDS = harness.ENDPOINTS["/studies by IDs"]
SEARCH = harness.ENDPOINTS["watch search"]


@dataclass
class Answer:
    """One attack's row in the chaos table."""

    attack: str
    where: str
    db: str
    outcome: str
    requests: int
    most_pages: int
    bound: int
    stored: int
    expected: int
    errors: list[str]
    lost: int = 0
    duplicates: int = 0
    converged: bool = False

    def row(self) -> dict[str, Any]:
        return {
            "table": "answers",
            "attack": self.attack,
            "where": self.where,
            "db": self.db,
            "outcome": self.outcome,
            "requests": self.requests,
            "pages/query (bound)": f"{self.most_pages} ({self.bound})",
            "versions stored (clean run)": f"{self.stored} ({self.expected})",
            "versions lost": self.lost,
            "duplicates": self.duplicates,
            "converged": "yes" if self.converged else "NO",
        }


def _query_key(r: Request) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in r.params.items() if k not in PAGING_PARAMS))


def pages_per_query(fake: ChaosRegistry) -> dict[tuple[tuple[str, str], ...], list[Request]]:
    out: dict[tuple[tuple[str, str], ...], list[Request]] = defaultdict(list)
    for r in fake.requests:
        if r.path == STUDIES_PATH:
            out[_query_key(r)].append(r)
    return out


def _most(fake: ChaosRegistry, first: Request) -> int:
    """What the query can find at most: its IDs, or the registry's own count (asked here)."""
    ids = first.params.get("filter.ids")
    if ids:
        return len([i for i in ids.replace(",", "|").split("|") if i])
    params = {k: v for k, v in first.params.items() if k != "pageToken"}
    params["countTotal"] = "true"
    answer = fake.answer(STUDIES_PATH, params, None)
    return int(json.loads(answer.body)["totalCount"])


def check_pages(fake: ChaosRegistry) -> tuple[int, int]:
    """(most pages one query took, its bound): every query within the bound."""
    worst = (0, 0)
    for requests in pages_per_query(fake).values():
        size = int(requests[0].params.get("pageSize", "10"))
        bound = max(1, math.ceil(_most(fake, requests[0]) / size)) + SPARE_PAGES
        assert len(requests) <= bound, f"{len(requests)} pages, bound {bound}: {requests[0]}"
        if len(requests) > worst[0]:
            worst = (len(requests), bound)
    return worst


def versions_of_run(engine: Engine, run_id: int | None) -> set[tuple[str, int]]:
    with session_scope(engine) as s:
        ids = {t.id: t.nct_id for t in s.exec(select(Trial))}
        return {
            (ids[x.trial_id], x.version)
            for x in s.exec(select(Snapshot).where(Snapshot.run_id == run_id))
        }


def last_good(engine: Engine) -> Any:
    with session_scope(engine) as s:
        return store.get_meta(s, META_LAST_GOOD_SYNC)


@functools.lru_cache(maxsize=4)
def clean_stage2(page_size: int) -> tuple[int, int]:
    """(studies fetched, new versions) of the clean stage-2 sync at this page size."""
    with tempfile.TemporaryDirectory() as tmp, ChaosRegistry() as fake:
        engine = dbm.make_engine(f"sqlite:///{Path(tmp) / 'control.db'}")
        dbm.upgrade(engine)
        sc = Scenario(fake)
        sc.stage1(engine)
        with make_client(fake, page_size=page_size) as client:
            assert sc.sync(engine, client).outcome == "ok"
            sc.stage2(engine)
            second = sc.sync(engine, client)
            assert second.outcome == "ok", second.errors
        engine.dispose()
        return second.fetched, second.new_versions


# The lies told to a tracked sync: (fault kind, endpoint scope, page size of the client).
SYNC_LIES: dict[str, tuple[str, Any, int, str]] = {
    "endless tokens": ("endless_tokens", BY_IDS, 3, "tracked-ID sync"),
    "endless tokens (search)": ("endless_tokens", SEARCH, 3, "watch search"),
    "one study twice, different": ("duplicate_different", BY_IDS, 3, "a page"),
    "one study twice, identical": ("duplicate_identical", BY_IDS, 3, "a page"),
    "one study on two pages, different": (
        "repeat_previous_different",
        lambda p, q: BY_IDS(p, q) and "pageToken" in q,
        1,
        "two pages of a run",
    ),
}


def lie_to_sync(engine: Engine, label: str) -> Answer:
    kind, scope, page_size, where = SYNC_LIES[label]
    _after1, control2, served, _requests = harness.control()
    clean_fetched, clean_new = clean_stage2(page_size)
    with ChaosRegistry() as fake, make_client(fake, page_size=page_size) as client:
        sc = Scenario(fake)
        sc.stage1(engine)
        first = sc.sync(engine, client)
        assert first.outcome == "ok", first.errors
        sc.stage2(engine)
        mark = last_good(engine)

        fake.reset_requests()
        fake.scope = scope
        fake.add_fault(kind, times=ALWAYS)
        lied: SyncSummary = sc.sync(engine, client)
        fake.clear_faults()
        fake.scope = None
        most_pages, bound = check_pages(fake)
        requests = len(fake.requests)
        assert lied.requests == requests, (lied.requests, requests)
        stored = versions_of_run(engine, lied.run_id)
        # The run's record says what it stored.
        assert lied.new_versions == len(stored), (lied.new_versions, stored)
        bad = {k: h for k, h in harness.stored_hashes(engine).items() if h not in served}
        assert not bad, f"versions stored from a lying answer: {bad}"
        assert harness.integrity_problems(engine) == []

        if kind == "duplicate_identical":
            # Harmless: the run is clean, each study counted once, nothing stored twice.
            assert lied.outcome == "ok", lied.errors
            assert lied.fetched == clean_fetched, (lied.fetched, clean_fetched)
            assert lied.new_versions == clean_new
            assert harness.fingerprint(engine) == control2
        else:
            assert lied.outcome == "partial", (lied.outcome, lied.errors)
            assert last_good(engine) == mark, "a partial run moved the incremental mark"
        if kind == "endless_tokens":
            assert any("stopped after" in e and "page" in e for e in lied.errors), lied.errors
            # A request for every page the bound allows, and not one more.
            assert most_pages == bound, (most_pages, bound)
        if kind in ("duplicate_different", "repeat_previous_different"):
            named = {e.split(":", 1)[0] for e in lied.errors if "two different copies" in e}
            assert named, lied.errors
            # No version of a contradicted study from this run (nor from its first copy).
            assert not {n for n, _v in stored} & named, (stored, named)
        if kind == "duplicate_different":
            # Every page came doubled: only the lone lookups (the alias) stored anything.
            assert {n for n, _v in stored} <= {harness.ALIAS_NEW}, stored

        again = sc.sync(engine, client)
        assert again.outcome == "ok", again.errors
        assert harness.integrity_problems(engine) == []
        final = harness.fingerprint(engine)
        converged = final == control2
        assert converged, harness_diff(final, control2)
        lost, duplicates = lost_and_duplicates(engine, control2, False)
        assert lost == 0 and duplicates == 0, (lost, duplicates)
    return Answer(
        attack=label,
        where=where,
        db=engine.dialect.name,
        outcome=str(lied.outcome),
        requests=requests,
        most_pages=most_pages,
        bound=bound,
        stored=len(stored),
        expected=clean_new,
        errors=lied.errors,
        lost=lost,
        duplicates=duplicates,
        converged=converged,
    )


def harness_diff(got: dict[str, Any], want: dict[str, Any]) -> str:
    from tests.chaos.faults import state_diff

    return f"no convergence: {state_diff(got, want)}"


# -- a mirror load under endless tokens -----------------------------------------------------------

MIRROR = WatchConfig(name="everything", mirror=True)
MIRROR_STUDIES = 12


def lie_to_mirror(engine: Engine) -> Answer:
    """A mirror's first load whose registry offers pages forever: the load stops at the bound
    with every real page stored; the next run completes it, storing nothing twice."""
    settings = Settings(watches=[MIRROR])
    with ChaosRegistry() as fake, make_client(fake, mirror_page_size=3) as client:
        for i in range(1, MIRROR_STUDIES + 1):
            fake.put(make_study(nct(500 + i), last_update=f"2026-10-{i:02d}"))
        hook = discover.sync_hook(engine, settings, client)
        fake.scope = SEARCH
        fake.add_fault("endless_tokens", times=ALWAYS)
        lied = run_sync(engine, client, before_fetch=hook)
        fake.clear_faults()
        fake.scope = None
        most_pages, bound = check_pages(fake)
        requests = len(fake.requests)
        assert lied.outcome == "partial", (lied.outcome, lied.errors)
        assert any("everything" in e and "stopped after" in e for e in lied.errors), lied.errors
        assert most_pages == bound, (most_pages, bound)
        stored = versions_of_run(engine, lied.run_id)
        assert lied.new_versions == len(stored) == MIRROR_STUDIES, (lied.new_versions, stored)
        assert harness.integrity_problems(engine) == []

        fake.reset_requests()
        again = run_sync(engine, client, before_fetch=discover.sync_hook(engine, settings, client))
        assert again.outcome == "ok", again.errors
        assert harness.integrity_problems(engine) == []
        with session_scope(engine) as s:
            total = s.execute(sa.select(sa.func.count()).select_from(Snapshot)).scalar_one()
        duplicates = int(total) - MIRROR_STUDIES
        assert again.new_versions == 0 and duplicates == 0, (again.new_versions, total)
        watch = again.watches[0]
        assert watch["complete"], watch
    return Answer(
        attack="endless tokens",
        where="mirror load",
        db=engine.dialect.name,
        outcome=str(lied.outcome),
        requests=requests,
        most_pages=most_pages,
        bound=bound,
        stored=len(stored),
        expected=MIRROR_STUDIES,
        errors=lied.errors,
        lost=0,
        duplicates=duplicates,
        converged=True,
    )
