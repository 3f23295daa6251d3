"""Mirror watches: a whole scope loaded page by page, resumed after a stop, kept current by
date-windowed deltas, and reconciled with an IDs-only listing (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from models import Change, Snapshot, SyncRun, Trial, WatchEvent
from models.db import session_scope
from sync.config import ApiSettings, Settings
from sync.ingest import run as sync_engine
from sync.registry.client import ApiUnavailable, CtgovClient
from sync.testing.factory import registry_study
from sync.testing.fakectgov import FakeRegistry
from sync.watches import definitions as watches
from sync.watches import mirror
from sync.watches import runner as discover
from tests.support.stored import counts

N = 240
PAGE = 40
FIRST_DAY = date(2026, 6, 1)


def day_of(i: int) -> str:
    # About 15 studies share each day: pages end in the middle of a day's studies.
    return (FIRST_DAY + timedelta(days=i // 15)).isoformat()


def fill(fake: FakeRegistry, n: int = N) -> None:
    for i in range(1, n + 1):
        fake.put(registry_study(i, day_of(i)))


@pytest.fixture
def mclient(fake_ctgov: FakeRegistry) -> Iterator[CtgovClient]:
    settings = ApiSettings(
        requests_per_second=1000,
        timeout_seconds=5,
        max_attempts=2,
        max_retry_seconds=2,
        retry_wait_initial=0.01,
        retry_wait_max=0.02,
        mirror_page_size=PAGE,
    )
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as c:
        yield c


def add_mirror(engine: sa.Engine, name: str, **params: Any) -> None:
    with session_scope(engine) as session:
        watches.add_watch(session, watches.check(name, {**params, "mirror": True}), set())


def sync(engine: sa.Engine, client: CtgovClient, **kw: Any) -> sync_engine.SyncSummary:
    hook = discover.sync_hook(engine, Settings(), client)
    return sync_engine.run_sync(engine, client, before_fetch=hook, **kw)


def test_scope_query_ands_the_date_window_with_the_watchs_own_filter() -> None:
    q = mirror.scope_query({"advanced": "AREA[Phase]PHASE2", "cond": "lymphoma"}, "2026-07-01", 50)
    assert q["filter.advanced"] == (
        "(AREA[Phase]PHASE2) AND AREA[LastUpdatePostDate]RANGE[2026-07-01,MAX]"
    )
    assert q["sort"] == "LastUpdatePostDate:asc" and q["pageSize"] == "50"
    assert "fields" not in q and q["query.cond"] == "lymphoma"
    whole = mirror.scope_query({"mirror": True}, None, 1000)
    assert "filter.advanced" not in whole and "query.term" not in whole


def test_whole_registry_load_then_daily_delta_then_idle(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient
) -> None:
    fill(fake_ctgov)
    add_mirror(engine, "everything")
    first = sync(engine, mclient)
    assert first.outcome == "ok", first.errors
    # /version, then the pages: nothing fetched by ID batches.
    assert first.requests <= 2 + math.ceil(N / PAGE)
    assert not [r for r in fake_ctgov.requests if "filter.ids" in r.params]
    result = first.watches[0]
    assert result["mirror"] and result["complete"] and result["fetched"] == N
    # The mirror's work is the run's: in its totals and in the SyncRun row `status` shows.
    assert (first.fetched, first.new_versions) == (N, N)
    with session_scope(engine) as s:
        run = s.get(SyncRun, first.run_id)
        assert run is not None and (run.fetched, run.new_versions) == (N, N)
    assert result["entered"] == []  # a first load announces nobody: it is the whole scope
    assert counts(engine) == (N, N, N)
    with session_scope(engine) as s:
        sources = set(s.exec(select(Trial.source)).all())
        members = watches.member_rows(s, "everything")
    assert sources == {"mirror:everything"}
    assert len(members) == N and all(m.left is None for m in members)

    # A release later: 1% of the scope (and one new registration) updated.
    fake_ctgov.reset_requests()
    fake_ctgov.bump()
    today = fake_ctgov.data_timestamp[:10]
    for i in (7, 100):
        study = registry_study(i, today)
        study["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
        fake_ctgov.put(study)
    fake_ctgov.put(registry_study(N + 1, today))
    delta = sync(engine, mclient)
    assert delta.outcome == "ok", delta.errors
    assert delta.requests <= 3
    windows = [r.params.get("filter.advanced", "") for r in fake_ctgov.requests]
    assert any("RANGE[2026-11-19,MAX]" in w for w in windows), windows
    d = delta.watches[0]
    assert (d["mode"], d["new_versions"], d["entered"]) == ("delta", 3, ["NCT90000241"])
    assert (delta.new_versions, delta.changes) == (3, d["changes"]) and delta.changes >= 2
    with session_scope(engine) as s:
        status_changes = s.exec(
            select(func.count()).select_from(Change).where(Change.path.contains("overallStatus"))  # type: ignore[union-attr]
        ).one()
        entered = s.exec(select(WatchEvent.nct_id).where(WatchEvent.event == "entered")).all()
    assert status_changes == 2 and entered == ["NCT90000241"]
    assert counts(engine) == (N + 1, N + 3, N + 3)

    # Nothing published since: one request, nothing fetched.
    fake_ctgov.reset_requests()
    idle = sync(engine, mclient)
    assert (idle.outcome, idle.requests, idle.mode) == ("ok", 1, "skipped")


def test_a_stopped_load_resumes_from_its_date_mark_without_refetching(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient, monkeypatch: Any
) -> None:
    fill(fake_ctgov)
    add_mirror(engine, "everything")
    real_get = mclient.get
    pages = 0

    def failing_get(url: str, params: dict[str, str] | None = None) -> Any:
        nonlocal pages
        if url.endswith("/studies"):
            pages += 1
            if pages == 4:
                raise ApiUnavailable("connection lost (test)")
        return real_get(url, params)

    monkeypatch.setattr(mclient, "get", failing_get)
    stopped = sync(engine, mclient)
    assert stopped.outcome != "ok"
    assert counts(engine)[1] == 3 * PAGE  # three committed pages, nothing half-written
    with session_scope(engine) as s:
        mark = watches_state(s)["mark"]
    assert mark == day_of(3 * PAGE)

    monkeypatch.setattr(mclient, "get", real_get)
    fake_ctgov.reset_requests()
    resumed = sync(engine, mclient)
    assert resumed.outcome == "ok", resumed.errors
    asked = [r.params for r in fake_ctgov.requests if r.path.endswith("/studies")]
    assert f"RANGE[{mark},MAX]" in asked[0]["filter.advanced"]
    # Only the mark's day is asked again: at most one page more than what was left.
    assert len(asked) <= math.ceil((N - 3 * PAGE) / PAGE) + 1
    assert counts(engine) == (N, N, N)
    assert resumed.watches[0]["new_versions"] == N - 3 * PAGE


def watches_state(session: Any) -> dict[str, Any]:
    from models import Meta

    rows = session.exec(select(Meta).where(col(Meta.key).startswith("mirror_state:"))).all()
    assert len(rows) == 1
    value: dict[str, Any] = rows[0].value
    return value


def test_full_sync_reconciles_a_deleted_and_an_out_of_scope_study(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient
) -> None:
    n = 60
    for i in range(1, n + 1):
        study = registry_study(i, day_of(i))
        study["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
        fake_ctgov.put(study)
    add_mirror(engine, "recruiting", status=["RECRUITING"])
    assert sync(engine, mclient).outcome == "ok"
    with session_scope(engine) as s:
        before = s.exec(select(func.count()).select_from(Snapshot)).one()

    fake_ctgov.bump()
    fake_ctgov.delete("NCT90000005")
    moved = registry_study(9, fake_ctgov.data_timestamp[:10])
    moved["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    fake_ctgov.put(moved)
    fake_ctgov.reset_requests()
    full = sync(engine, mclient, full=True)
    assert full.outcome == "ok", full.errors
    w = full.watches[0]
    assert w["reconciled"] and sorted(w["left"]) == ["NCT90000005", "NCT90000009"]
    assert "gone from the registry" in w["left_reasons"]["NCT90000005"]
    assert "status changed to COMPLETED" in w["left_reasons"]["NCT90000009"]
    assert any(r.params.get("fields") == "NCTId" for r in fake_ctgov.requests)
    with session_scope(engine) as s:
        members = {m.nct_id: m for m in watches.member_rows(s, "recruiting")}
        left = select(WatchEvent.nct_id, WatchEvent.reason).where(WatchEvent.event == "left")
        events = dict(s.exec(left).all())
        after = s.exec(select(func.count()).select_from(Snapshot)).one()
    assert members["NCT90000005"].left and members["NCT90000009"].left_reason
    assert members["NCT90000001"].left is None
    assert set(events) == {"NCT90000005", "NCT90000009"}
    assert after == before  # versions kept; the out-of-scope update was not fetched

    # The next plain delta does not report them again.
    fake_ctgov.bump()
    again = sync(engine, mclient)
    assert again.outcome == "ok" and again.watches[0]["left"] == []


def test_cli_mirror_add_sync_list_members(cli: Any, fake_ctgov: FakeRegistry) -> None:
    fill(fake_ctgov, 30)
    added = cli("watch", "add", "everything", "--mirror", "--json")
    assert added.exit_code == 0, added.stderr
    assert added.json()["query"] == {"mirror": True}
    done = cli("sync", "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["watches"][0]["fetched"] == 30
    listed = cli("list", "--json").json()
    rows = listed if isinstance(listed, list) else listed["trials"]
    assert len(rows) == 30 and {r["source"] for r in rows} == {"mirror:everything"}
    members = cli("watch", "members", "everything", "--json")
    assert members.exit_code == 0
    assert {m["left"] for m in members.json()} == {None}
    assert {"left", "left_reason"} <= set(members.json()[0])
    fake_ctgov.put(registry_study(31, fake_ctgov.data_timestamp[:10]))
    ran = cli("watch", "run", "everything", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert "NCT90000031" in ran.stdout  # entered: run outside a sync, as a delta
    scoped = cli("watch", "add", "lymphoma", "--mirror", "--cond", "lymphoma")
    assert scoped.exit_code == 0 and "mirror of the search cond=lymphoma" in scoped.stdout
    plain = cli("watch", "add", "nothing", "--json")
    assert plain.exit_code == 2 and "has no query" in plain.stderr


def test_pages_of_large_records_shrink_to_the_byte_budget(
    engine: sa.Engine, fake_ctgov: FakeRegistry
) -> None:
    fill(fake_ctgov)  # real records, 8 KB to 369 KB each
    budget = 256 * 1024
    settings = ApiSettings(
        requests_per_second=1000, max_attempts=2, retry_wait_initial=0.01,
        retry_wait_max=0.02, mirror_page_size=PAGE, mirror_page_bytes=budget,
    )
    add_mirror(engine, "everything")
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as client:
        seen: list[tuple[int, int]] = []  # (studies asked for, bytes received) per page
        pages = client.pages
        def spy(params: dict[str, str], **kw: Any) -> Iterator[dict[str, Any]]:
            for doc in pages(params, **kw):
                seen.append((len(doc["studies"]), client.last_response_bytes))
                yield doc
        client.pages = spy  # type: ignore[method-assign]
        summary = sync(engine, client)
    assert summary.outcome == "ok", summary.errors
    assert counts(engine) == (N, N, N)  # smaller pages lose and repeat nothing
    asked = [int(r.params["pageSize"]) for r in fake_ctgov.requests if "pageSize" in r.params]
    assert asked[0] == PAGE and min(asked) < PAGE
    for (n, size), following in zip(seen, asked[1:], strict=False):
        assert following == max(1, min(PAGE, int(budget / (size / n)))), (n, size, following)
    # What the budget is for: pages after the first hold about that much (a page can still
    # run over when its records are larger than the page before's).
    later = [size for _n, size in seen[1:]]
    assert sum(later) / len(later) < 1.5 * budget, later


def test_watch_run_of_a_mirror_refuses_while_a_sync_runs(
    cli: Any, db_url: str, fake_ctgov: FakeRegistry
) -> None:
    """A mirror run outside a sync writes versions too: while a sync holds the database's sync
    lock, `watch run` of a mirror refuses as a second sync does; a plain watch still runs."""
    from models import db
    from sync.store import locks

    fill(fake_ctgov, 30)
    assert cli("watch", "add", "everything", "--mirror").exit_code == 0
    assert cli("watch", "add", "carnk", "--term", "CAR-NK").exit_code == 0
    engine = db.make_engine(db_url)
    try:
        with locks.exclusive(engine, "sync"):
            second = cli("sync")
            ran = cli("watch", "run", "everything")
            assert ran.exit_code == second.exit_code == 1, ran.stderr
            assert "another sync is running" in ran.stderr
            assert cli("watch", "run", "carnk").exit_code == 0  # writes no versions
            with session_scope(engine) as s:
                assert s.exec(select(func.count()).select_from(Snapshot)).one() == 0
        after = cli("watch", "run", "everything", "--json")
        assert after.exit_code == 0, after.stderr
        assert after.json()["watches"][0]["fetched"] == 30
    finally:
        engine.dispose()


def test_a_mirrored_study_tracked_in_its_own_right_outlives_the_mirror(
    cli: Any, fake_ctgov: FakeRegistry
) -> None:
    fill(fake_ctgov, 30)
    assert cli("watch", "add", "everything", "--mirror").exit_code == 0
    assert cli("sync").exit_code == 0
    study = "NCT90000007"
    added = cli("add", study, "--json")
    assert added.exit_code == 0, added.stderr
    rows = {r["nct_id"]: r for r in cli("list", "--json").json()}
    assert rows[study]["source"] == "manual" and rows["NCT90000008"]["source"].startswith("mirror:")
    # While the mirror runs, an update reaches it once: by the mirror's delta and by ID alike.
    fake_ctgov.bump()
    changed = registry_study(7, fake_ctgov.data_timestamp[:10])
    changed["protocolSection"]["statusModule"]["overallStatus"] = "SUSPENDED"
    fake_ctgov.put(changed)
    assert cli("sync").exit_code == 0
    versions = [h["version"] for h in cli("history", study, "--json").json() if h["fetched"]]
    assert versions == [1, 2], versions
    # Without the mirror, the tracked study is still kept current; the others are not.
    assert cli("watch", "remove", "everything").exit_code == 0
    fake_ctgov.bump()
    again = registry_study(7, fake_ctgov.data_timestamp[:10])
    again["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    fake_ctgov.put(again)
    assert cli("sync").exit_code == 0
    shown = cli("show", study, "--json").json()
    assert shown["status"] == "TERMINATED" and shown["latest_version"] == 3, shown
