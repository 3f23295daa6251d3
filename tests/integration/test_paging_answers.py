"""Answers that lie, against the fake registry: paging is bounded by what a query can find,
and a study comes once per answer (identical copies count once, different ones not at all)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from models import Snapshot
from models.db import session_scope
from sync.config import ApiSettings
from sync.ingest.run import run_sync, track
from sync.registry.client import CtgovClient, PagingBound
from sync.store import snapshots as store
from sync.testing.factory import make_study, nct

TRIALS = [nct(i) for i in range(1, 31)]


def small_pages(fake, **kw):  # type: ignore[no-untyped-def]
    settings = ApiSettings(requests_per_second=1000, page_size=3, max_attempts=2, **kw)
    return CtgovClient(fake.base_url, fake.history_url, settings)


def seeded(fake_ctgov, engine):  # type: ignore[no-untyped-def]
    for n in TRIALS:
        fake_ctgov.put(make_study(n, title=f"CAR-NK study {n}", last_update="2026-10-01"))
    with session_scope(engine) as s:
        track(s, TRIALS)


def versions(engine) -> int:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(Snapshot)).scalar_one())


@pytest.mark.parametrize("ids", [False, True])
def test_endless_page_tokens_stop_at_the_bound(fake_ctgov, ids) -> None:  # type: ignore[no-untyped-def]
    for i in range(1, 11):
        fake_ctgov.put(make_study(nct(i)))
    fake_ctgov.add_fault("endless_tokens", times=10_000)
    query = {"filter.ids": "|".join(nct(i) for i in range(1, 11))} if ids else {}
    with small_pages(fake_ctgov) as client:
        got = []
        with pytest.raises(PagingBound) as raised:
            for page in client.pages(query):
                got.extend(page["studies"])
    # 10 studies at 3 a page need 4 pages; 2 spare; not one request more.
    assert fake_ctgov.count("/api/v2/studies") == 6
    assert len(got) == 10
    first = fake_ctgov.requests[0].params
    assert ("countTotal" in first) is not ids  # a search is bounded by its count
    where = f"/studies (10 IDs from {nct(1)})" if ids else "/studies search"
    counted = "10 IDs" if ids else "a count of 10"
    assert str(raised.value) == (
        f"{where}: stopped after 6 pages, the most {counted} allow at 3 a page (+2 spare)"
    )


def test_an_honest_answer_is_not_bounded(fake_ctgov) -> None:  # type: ignore[no-untyped-def]
    for i in range(1, 11):
        fake_ctgov.put(make_study(nct(i)))
    with small_pages(fake_ctgov) as client:
        pages = list(client.pages({}))
    assert [len(p["studies"]) for p in pages] == [3, 3, 3, 1]


def test_a_sync_past_the_bound_ends_partial_with_the_reason(engine, fake_ctgov) -> None:  # type: ignore[no-untyped-def]
    seeded(fake_ctgov, engine)
    fake_ctgov.add_fault("endless_tokens", times=10_000)
    with small_pages(fake_ctgov) as client:
        summary = run_sync(engine, client, batch_size=30)
    assert summary.outcome == "partial"
    # /version, then 30 IDs at 3 a page: 10 pages needed, 2 spare.
    assert summary.requests == 1 + 12
    assert summary.errors == [
        f"/studies (30 IDs from {nct(1)}): stopped after 12 pages, the most 30 IDs allow "
        "at 3 a page (+2 spare)"
    ]
    # The pages before the bound were good answers: kept.
    assert summary.new_versions == versions(engine) == 30


def test_identical_copies_are_one_study(engine, fake_ctgov, client) -> None:  # type: ignore[no-untyped-def]
    seeded(fake_ctgov, engine)
    fake_ctgov.add_fault("duplicate_identical", times=10_000)
    summary = run_sync(engine, client)
    assert summary.outcome == "ok", summary.errors
    # One page held each of the 30 trials twice: 30 studies fetched, not 60.
    assert summary.fetched == 30 and summary.new_versions == versions(engine) == 30


def test_different_copies_store_neither_and_are_asked_again(engine, fake_ctgov, client) -> None:  # type: ignore[no-untyped-def]
    seeded(fake_ctgov, engine)
    assert run_sync(engine, client).outcome == "ok"
    with session_scope(engine) as s:
        mark = store.get_meta(s, "last_good_sync_date")
    fake_ctgov.bump()
    fake_ctgov.add_fault("duplicate_different", times=10_000)
    lied = run_sync(engine, client, full=True)
    assert lied.outcome == "partial"
    assert lied.new_versions == 0 and versions(engine) == 30
    assert len(lied.errors) == 30
    assert lied.errors[0] == (
        f"{nct(1)}: two different copies in one answer; neither stored; asked next run"
    )
    with session_scope(engine) as s:
        assert store.get_meta(s, "last_good_sync_date") == mark
    fake_ctgov.clear_faults()
    again = run_sync(engine, client)
    assert again.outcome == "ok" and again.new_versions == 0
    assert versions(engine) == 30  # no version 2 from the copy, no version 3 reverting it


def test_a_copy_on_a_later_page_takes_back_the_first(engine, fake_ctgov) -> None:  # type: ignore[no-untyped-def]
    seeded(fake_ctgov, engine)
    # The first page takes one (it has no page before it), the second the other.
    fake_ctgov.add_fault("repeat_previous_different", times=2)
    with small_pages(fake_ctgov) as client:
        lied = run_sync(engine, client, batch_size=30)
        # Page 2 repeated page 1's last study with another title: its version 1 is taken back.
        assert lied.outcome == "partial"
        assert lied.errors == [
            f"{nct(3)}: two different copies in one answer; neither stored; asked next run"
        ]
        assert lied.new_versions == versions(engine) == 29
        with session_scope(engine) as s:
            trial = store.get_trial(s, nct(3))
            assert trial is not None and trial.latest_version == 0
        again = run_sync(engine, client, batch_size=30)
    assert again.outcome == "ok", again.errors
    assert again.new_versions == 1 and versions(engine) == 30
