"""The core sync against the fake registry: batching, incremental fetches, versions, faults."""

from __future__ import annotations

import socket

import pytest
from sqlmodel import select

from models import Snapshot, SyncRun, Trial
from models.db import session_scope
from sync.config import ApiSettings
from sync.ingest.run import run_sync, track
from sync.registry.client import CtgovClient
from sync.store import snapshots as store
from sync.testing.factory import (
    make_study,
    nct,
    with_enrollment,
    with_last_update,
    with_status,
    with_version_holder,
)


def _track(engine, ids):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        track(s, ids)


def _versions(engine, nct_id):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        trial = store.get_trial(s, nct_id)
        assert trial is not None
        return [snap.version for snap in store.snapshots(s, trial.id)]


def _seed(fake, n, start=1, last_update="2026-10-01"):  # type: ignore[no-untyped-def]
    ids = [nct(i) for i in range(start, start + n)]
    for i in ids:
        fake.put(make_study(i, last_update=last_update))
    return ids


def test_first_sync_stores_version_one(engine, fake_ctgov, client) -> None:
    ids = _seed(fake_ctgov, 3)
    _track(engine, ids)
    summary = run_sync(engine, client)
    assert summary.outcome == "ok"
    assert summary.fetched == 3
    assert summary.new_versions == 3
    # /version + one filter.ids batch
    assert summary.requests == 2
    for i in ids:
        assert _versions(engine, i) == [1]
    with session_scope(engine) as s:
        trial = store.get_trial(s, ids[0])
        assert trial is not None and trial.registry_state == "found"
        assert trial.status == "RECRUITING"
        record = store.load_record(s, trial.id, 1)
        assert record == fake_ctgov.get(ids[0])


def test_unchanged_resync_makes_one_request_and_no_version(engine, fake_ctgov, client) -> None:
    ids = _seed(fake_ctgov, 3)
    _track(engine, ids)
    run_sync(engine, client)
    fake_ctgov.reset_requests()
    summary = run_sync(engine, client)
    assert summary.outcome == "ok"
    assert summary.mode == "skipped"
    assert summary.requests == 1
    assert fake_ctgov.count() == 1
    assert summary.new_versions == 0


def test_content_change_after_refresh_writes_new_version(engine, fake_ctgov, client) -> None:
    ids = _seed(fake_ctgov, 5)
    _track(engine, ids)
    run_sync(engine, client)
    changed = with_status(fake_ctgov.get(ids[2]), "ACTIVE_NOT_RECRUITING")
    fake_ctgov.put(with_last_update(changed, "2026-11-20"))
    fake_ctgov.bump()
    fake_ctgov.reset_requests()
    summary = run_sync(engine, client)
    assert summary.outcome == "ok", summary.errors
    assert summary.new_versions == 1
    assert summary.new_versions_by_trial == {ids[2]: 2}
    assert _versions(engine, ids[2]) == [1, 2]
    assert _versions(engine, ids[0]) == [1]
    # incremental: the batch asked only for records updated since the last good sync - 1 day
    batch = [r for r in fake_ctgov.requests if r.path == "/api/v2/studies"]
    assert len(batch) == 1
    assert "AREA[LastUpdatePostDate]RANGE[" in batch[0].params["filter.advanced"]
    assert summary.changes >= 1
    assert "status" in summary.changes_by_category


def test_derived_only_change_writes_no_version(engine, fake_ctgov, client) -> None:
    ids = _seed(fake_ctgov, 1)
    _track(engine, ids)
    run_sync(engine, client)
    study = fake_ctgov.get(ids[0])
    study["derivedSection"]["miscInfoModule"]["versionHolder"] = "2026-11-21"
    fake_ctgov.put(with_last_update(study, "2026-11-21"))
    fake_ctgov.bump()
    summary = run_sync(engine, client, full=True)
    assert summary.outcome == "ok"
    assert summary.fetched == 1
    assert summary.new_versions == 0
    assert _versions(engine, ids[0]) == [1]


def test_full_sync_catches_change_without_new_post_date(engine, fake_ctgov, client) -> None:
    # The registry sets a lapsed study to UNKNOWN without moving LastUpdatePostDate.
    ids = _seed(fake_ctgov, 2)
    _track(engine, ids)
    run_sync(engine, client)
    fake_ctgov.put(with_status(fake_ctgov.get(ids[0]), "UNKNOWN"))
    fake_ctgov.bump()
    incremental = run_sync(engine, client)
    assert incremental.new_versions == 0
    full = run_sync(engine, client, full=True)
    assert full.outcome == "ok"
    assert full.new_versions == 1
    assert _versions(engine, ids[0]) == [1, 2]


def test_not_found_among_found(engine, fake_ctgov, client) -> None:
    ids = _seed(fake_ctgov, 2)
    missing = "NCT07480213"
    _track(engine, [*ids, missing])
    summary = run_sync(engine, client)
    assert summary.outcome == "ok"
    assert summary.not_found == [missing]
    assert summary.new_versions == 2
    with session_scope(engine) as s:
        trial = store.get_trial(s, missing)
        assert trial is not None and trial.registry_state == "not_found"
        assert trial.latest_version == 0


def test_alias_is_followed_and_recorded(engine, fake_ctgov, client) -> None:
    new_id = nct(50)
    fake_ctgov.put(make_study(new_id))
    old_id = nct(49)
    fake_ctgov.alias(old_id, new_id)
    _track(engine, [old_id])
    summary = run_sync(engine, client)
    assert summary.outcome == "ok", summary.errors
    assert summary.aliases == {old_id: new_id}
    with session_scope(engine) as s:
        old = store.get_trial(s, old_id)
        new = store.get_trial(s, new_id)
        assert old is not None and old.registry_state == "alias" and old.alias_of == new_id
        assert new is not None and new.latest_version == 1 and new.active
    # the next run asks for the target, not the alias
    fake_ctgov.bump()
    fake_ctgov.reset_requests()
    run_sync(engine, client)
    assert all("/studies/" + old_id not in r.path for r in fake_ctgov.requests)


def test_paging_and_batches(engine, fake_ctgov) -> None:
    ids = _seed(fake_ctgov, 23)
    _track(engine, ids)
    settings = ApiSettings(requests_per_second=1000, page_size=4, retry_wait_initial=0.01)
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as c:
        summary = run_sync(engine, c, batch_size=10)
    assert summary.outcome == "ok"
    assert summary.fetched == 23
    # 3 batches (10, 10, 3) of pages of 4: 3 + 3 + 1 pages, plus /version
    assert summary.requests == 1 + 3 + 3 + 1
    pages = [r for r in fake_ctgov.requests if r.path == "/api/v2/studies"]
    assert sum(1 for r in pages if "pageToken" in r.params) == 4
    for i in ids:
        assert _versions(engine, i) == [1]


def test_429_with_retry_after_then_success(engine, fake_ctgov, client) -> None:
    ids = _seed(fake_ctgov, 2)
    _track(engine, ids)
    fake_ctgov.add_fault("status", status=429, retry_after="1", path="/api/v2/studies")
    summary = run_sync(engine, client)
    assert summary.outcome == "ok", summary.errors
    assert summary.new_versions == 2
    statuses = [r.status for r in fake_ctgov.requests if r.path == "/api/v2/studies"]
    assert statuses == [429, 200]
    assert summary.requests == 3


def test_503_burst_beyond_budget_is_partial_and_next_run_completes(engine, fake_ctgov) -> None:
    first = _seed(fake_ctgov, 3, start=1)
    second = _seed(fake_ctgov, 3, start=101)
    _track(engine, first + second)
    settings = ApiSettings(
        requests_per_second=1000, max_attempts=3, retry_wait_initial=0.01, retry_wait_max=0.02
    )
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as c:
        ok = run_sync(engine, c, batch_size=3)
    assert ok.outcome == "ok"
    # both batches change; the second batch's request then fails more times than allowed
    for i in first + second:
        fake_ctgov.put(
            with_last_update(with_enrollment(fake_ctgov.get(i), 30, "ACTUAL"), "2026-11-20")
        )
    fake_ctgov.bump()
    fake_ctgov.reset_requests()
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as c:
        # the first batch answers; the second is refused 3 times (the whole budget)
        fake_ctgov.add_fault("slow", delay=0.0, path="/api/v2/studies")
        fake_ctgov.add_fault("status", status=503, times=3, path="/api/v2/studies")
        partial = run_sync(engine, c, batch_size=3)
    assert partial.outcome in ("partial", "failed")
    assert partial.errors and "503" in " ".join(partial.errors)
    assert [r.status for r in fake_ctgov.requests].count(503) == 3
    # nothing stored before was lost
    for i in first + second:
        assert _versions(engine, i)[0] == 1
    # the next clean run picks up what was missed (same data timestamp: not skipped)
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as c:
        done = run_sync(engine, c, batch_size=3)
    assert done.outcome == "ok"
    for i in first + second:
        assert _versions(engine, i) == [1, 2]


def test_unreachable_api_fails_clearly(engine) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _track(engine, [nct(1)])
    settings = ApiSettings(
        requests_per_second=1000, max_attempts=2, retry_wait_initial=0.01, retry_wait_max=0.02
    )
    with CtgovClient(f"http://127.0.0.1:{port}/api/v2", settings=settings) as c:
        summary = run_sync(engine, c)
    assert summary.outcome == "failed"
    assert any("cannot reach" in e for e in summary.errors)
    with session_scope(engine) as s:
        run = s.exec(select(SyncRun).where(SyncRun.id == summary.run_id)).one()
        assert run.outcome == "failed" and run.finished_at is not None
        assert s.exec(select(Snapshot)).first() is None


def test_bad_body_writes_no_version(engine, fake_ctgov, client) -> None:
    ids = _seed(fake_ctgov, 2)
    _track(engine, ids)
    fake_ctgov.add_fault("missing_protocol", path="/api/v2/studies", times=1)
    summary = run_sync(engine, client)
    # the batch's bodies are refused; each trial is then asked for alone and stored from that
    assert summary.outcome == "partial"
    assert any("unusable record" in e for e in summary.errors)
    assert summary.requests == 1 + 1 + 2
    with session_scope(engine) as s:
        for i in ids:
            trial = store.get_trial(s, i)
            assert trial is not None and trial.latest_version == 1
            assert store.load_record(s, trial.id, 1) == fake_ctgov.get(i)
    again = run_sync(engine, client)
    assert again.outcome == "ok" and again.new_versions == 0


@pytest.mark.parametrize("kind", ["truncated", "invalid_json", "html200"])
def test_broken_bodies_are_retried_then_stored(engine, fake_ctgov, client, kind) -> None:
    ids = _seed(fake_ctgov, 2)
    _track(engine, ids)
    fake_ctgov.add_fault(kind, path="/api/v2/studies", times=1)
    summary = run_sync(engine, client)
    assert summary.outcome == "ok", summary.errors
    assert summary.new_versions == 2


def test_version_numbers_are_unique_per_trial(engine, fake_ctgov, client) -> None:
    ids = _seed(fake_ctgov, 1)
    _track(engine, ids)
    run_sync(engine, client)
    for n in range(3):
        fake_ctgov.put(
            with_last_update(
                with_version_holder(
                    with_enrollment(fake_ctgov.get(ids[0]), 30 + n, "ESTIMATED"),
                    f"2026-11-{21 + n}",
                ),
                f"2026-11-{21 + n}",
            )
        )
        fake_ctgov.bump()
        run_sync(engine, client)
    assert _versions(engine, ids[0]) == [1, 2, 3, 4]
    with session_scope(engine) as s:
        trial = s.exec(select(Trial).where(Trial.nct_id == ids[0])).one()
        assert trial.latest_version == 4


def test_oversized_answer_is_refused_without_retry(engine, fake_ctgov) -> None:
    ids = _seed(fake_ctgov, 3)
    _track(engine, ids)
    settings = ApiSettings(requests_per_second=1000, max_response_bytes=4096)
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as c:
        summary = run_sync(engine, c)
    assert summary.outcome == "failed"
    assert any("over the cap" in e for e in summary.errors)
    # refused once, not retried: /version and one batch request
    assert [r.path for r in fake_ctgov.requests] == ["/api/v2/version", "/api/v2/studies"]


def test_sqlite_file_is_owner_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from models import db

    path = tmp_path / "sub" / "tw.db"
    eng = db.make_engine(f"sqlite:///{path}")
    db.upgrade(eng)
    assert path.stat().st_mode & 0o777 == 0o600
    eng.dispose()
