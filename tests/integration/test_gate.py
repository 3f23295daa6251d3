"""The freshness gate with the shipped config.toml: an idle re-sync costs one request whatever
is tracked and watched; watches and not-found trials are asked once per data release; an ID
the registry rejects is isolated from its batch."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import select

from models import Trial
from models.db import session_scope
from sync.store import snapshots as store
from sync.testing.factory import make_study, nct, with_last_update, with_status
from tests.support import PROJECT_ROOT
from tests.support.studies import DUAL, all_studies, dual_target

SHIPPED = (PROJECT_ROOT / "config.toml").read_text(encoding="utf-8")
BAD = "NCT00000000"  # well formed for trialwatch, refused by the registry


def counts(fake: Any) -> dict[str, int]:
    """The requests since the last reset, by kind."""
    out = {"version": 0, "search": 0, "ids": 0, "single": 0}
    for r in fake.requests:
        if r.path.endswith("/version"):
            out["version"] += 1
        elif r.path.endswith("/studies"):
            out["ids" if "filter.ids" in r.params else "search"] += 1
        else:
            out["single"] += 1
    return out


def shipped_registry(fake: Any) -> None:
    """Every study of the shipped config's shape except NCT07480213, which the registry does
    not know (yet)."""
    for study in all_studies():
        if study["protocolSection"]["identificationModule"]["nctId"] != DUAL:
            fake.put(study)


def sync(cli: Any) -> dict[str, Any]:
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    summary: dict[str, Any] = r.json()
    assert summary["outcome"] == "ok", summary["errors"]
    return summary


def test_idle_resync_of_the_shipped_config_is_one_request(cli, fake_ctgov) -> None:
    cli.write_config(SHIPPED)
    shipped_registry(fake_ctgov)
    first = sync(cli)
    assert first["not_found"] == [DUAL]
    assert [w["outcome"] for w in first["watches"]] == ["ok", "ok"]
    for _ in range(3):
        fake_ctgov.reset_requests()
        again = sync(cli)
        assert again["mode"] == "skipped" and again["requests"] == 1
        assert counts(fake_ctgov) == {"version": 1, "search": 0, "ids": 0, "single": 0}
        assert again["watches"] == [] and again["not_found"] == []
    listed = {t["nct_id"]: t for t in cli("list", "--json").json()}
    assert listed[DUAL]["registry_state"] == "not_found"


def test_a_release_searches_each_watch_once_and_batches_the_not_found(cli, fake_ctgov) -> None:
    cli.write_config(SHIPPED)
    shipped_registry(fake_ctgov)
    sync(cli)
    fake_ctgov.bump()
    fake_ctgov.reset_requests()
    moved = sync(cli)
    assert [w["name"] for w in moved["watches"]] == ["car-nk", "car-nk-sclc"]
    searched = [r.params.get("query.term", "") for r in fake_ctgov.requests
                if "query.term" in r.params]  # fmt: skip
    assert len(searched) == 2  # one page each: each watch searched once
    got = counts(fake_ctgov)
    # /version, two searches, and one incremental batch of the stored ones that the
    # not-found ID rides (no batch nor lone GET of its own).
    assert got == {"version": 1, "search": 2, "ids": 1, "single": 0}
    assert moved["not_found"] == [DUAL]
    ids_batches = [r.params["filter.ids"] for r in fake_ctgov.requests if "filter.ids" in r.params]
    assert DUAL in ids_batches[0].split("|")
    assert "filter.advanced" in fake_ctgov.requests[-1].params
    # The same release again: one request.
    fake_ctgov.reset_requests()
    assert sync(cli)["requests"] == 1


def test_a_not_found_trial_registered_later_is_fetched_and_versioned(cli, fake_ctgov) -> None:
    cli.write_config(SHIPPED)
    shipped_registry(fake_ctgov)
    sync(cli)
    # Registered since: last posted in the next data release, as a new registration is.
    fake_ctgov.put(with_last_update(dual_target(), _next_day(fake_ctgov.data_timestamp)))
    # Not asked between releases …
    fake_ctgov.reset_requests()
    assert sync(cli)["requests"] == 1
    # … and fetched at the next one.
    fake_ctgov.bump()
    moved = sync(cli)
    assert moved["new_versions_by_trial"].get(DUAL) == 1
    listed = {t["nct_id"]: t for t in cli("list", "--json").json()}
    assert (listed[DUAL]["registry_state"], listed[DUAL]["latest_version"]) == ("found", 1)


def _next_day(timestamp: str) -> str:
    return (date.fromisoformat(timestamp[:10]) + timedelta(days=1)).isoformat()


@pytest.mark.parametrize("tracked", [10, 450])
def test_after_a_release_unknown_ids_ride_the_incremental_batches(
    cli, fake_ctgov, tracked: int
) -> None:
    """1 + ceil(N/200) ID requests after a release, whatever the registry does not know."""
    known = [nct(i) for i in range(1, tracked - 1)]
    unknown = [nct(tracked - 1), nct(tracked)]
    for nct_id in known:
        fake_ctgov.put(make_study(nct_id))
    assert cli("add", *known, *unknown).exit_code == 0
    assert sorted(sync(cli)["not_found"]) == unknown
    fake_ctgov.bump()
    fake_ctgov.reset_requests()
    moved = sync(cli)
    assert sorted(moved["not_found"]) == unknown
    batches = -(-tracked // 200)
    assert counts(fake_ctgov) == {"version": 1, "search": 0, "ids": batches, "single": 0}
    assert moved["requests"] == 1 + batches


def test_a_trial_added_between_releases_is_fetched_alone(cli, fake_ctgov) -> None:
    cli.write_config(SHIPPED)
    shipped_registry(fake_ctgov)
    sync(cli)
    fake_ctgov.put(make_study(nct(40)))
    assert cli("add", nct(40)).exit_code == 0
    fake_ctgov.reset_requests()
    summary = sync(cli)
    assert summary["new_versions_by_trial"] == {nct(40): 1}
    # /version and its batch: no watch search, no not-found re-ask, no incremental batch.
    assert counts(fake_ctgov) == {"version": 1, "search": 0, "ids": 1, "single": 0}


def test_a_watch_added_between_releases_runs_at_the_next_sync(cli, fake_ctgov) -> None:
    shipped_registry(fake_ctgov)
    cli("add", "NCT07366658")
    sync(cli)
    assert cli("watch", "add", "any-car-nk", "--term", '"CAR-NK"', "--no-track").exit_code == 0
    fake_ctgov.reset_requests()
    summary = sync(cli)
    assert [w["name"] for w in summary["watches"]] == ["any-car-nk"]
    assert counts(fake_ctgov)["search"] == 1
    fake_ctgov.reset_requests()
    assert sync(cli)["requests"] == 1


# -- an ID the registry rejects ---------------------------------------------------------------


def test_the_fake_answers_400_in_text_to_a_batch_holding_a_rejected_id(fake_ctgov, client) -> None:
    import httpx

    fake_ctgov.put(make_study(nct(1)))
    r = httpx.get(f"{fake_ctgov.base_url}/studies", params={"filter.ids": f"{nct(1)}|{BAD}"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/plain")
    assert BAD in r.text


@pytest.mark.parametrize("later", [False, True], ids=["first-sync", "added-later"])
def test_a_rejected_id_is_isolated_and_the_rest_of_its_batch_stored(
    cli, engine, fake_ctgov, later
) -> None:
    ids = [nct(i) for i in range(1, 7)]
    for i in ids:
        fake_ctgov.put(make_study(i))
    fresh = nct(7)
    fake_ctgov.put(make_study(fresh))
    if later:
        assert cli("add", *ids).exit_code == 0
        sync(cli)
        fake_ctgov.bump()
        # The bad ID and a newly added trial share a batch.
        assert cli("add", BAD, fresh).exit_code == 0
        stored = {fresh}
    else:
        assert cli("add", BAD, *ids, fresh).exit_code == 0
        stored = {*ids, fresh}
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    summary = r.json()
    assert summary["outcome"] == "ok" and summary["rejected"] == [BAD]
    assert summary["errors"] == []
    assert summary["new_versions_by_trial"] == dict.fromkeys(stored, 1)
    with session_scope(engine) as s:
        trial = store.get_trial(s, BAD)
        assert trial is not None and trial.registry_state == "rejected"
    listed = {t["nct_id"]: t["registry_state"] for t in cli("list", "--json").json()}
    assert listed[BAD] == "rejected"
    assert "rejected" in cli("list").stdout  # the table wraps the rest of the words
    status = cli("status", "--json").json()
    assert status["rejected"] == [BAD]
    assert "rejected by the registry: NCT00000000" in cli("status").stdout
    # Later batches leave it out, and the runs are clean.
    fake_ctgov.bump()
    fake_ctgov.reset_requests()
    next_run = sync(cli)
    assert next_run["rejected"] == [] and next_run["errors"] == []
    assert all(BAD not in r.params.get("filter.ids", "") and BAD not in r.path
               for r in fake_ctgov.requests)  # fmt: skip


def test_a_bad_id_in_a_big_batch_costs_a_few_requests(engine, fake_ctgov, client) -> None:
    from sync.ingest.run import run_sync, track

    ids = [nct(i) for i in range(1, 41)]
    for i in ids:
        fake_ctgov.put(make_study(i))
    with session_scope(engine) as s:
        track(s, [*ids, BAD])
    summary = run_sync(engine, client, batch_size=50)
    assert summary.outcome == "ok", summary.errors
    assert summary.rejected == [BAD] and summary.new_versions == 40
    # /version, the refused batch, halvings down to the bad ID (about log2(41) of them, each
    # with its good half), and the bad ID alone.
    assert summary.requests <= 2 + 2 * 6 + 1
    with session_scope(engine) as s:
        found = s.exec(select(Trial).where(Trial.registry_state == "found")).all()
    assert len(found) == 40


def test_a_400_that_is_not_about_an_id_fails_the_batch(
    engine, fake_ctgov, client, monkeypatch
) -> None:
    from sync.ingest.run import run_sync, track

    ids = [nct(i) for i in range(1, 9)]
    for i in ids:
        fake_ctgov.put(make_study(i))
    with session_scope(engine) as s:
        track(s, ids)
    # A batch request the registry refuses whatever its IDs (a parameter it does not know):
    # the IDs are fine alone, so none may be marked rejected.
    pages = client.pages
    monkeypatch.setattr(client, "pages", lambda params: pages({**params, "filter.bogus": "1"}))
    summary = run_sync(engine, client)
    assert summary.outcome == "failed" and summary.rejected == []
    assert "400" in summary.errors[0] and "Unknown parameter" in summary.errors[0]
    assert summary.requests <= 1 + 4 + 1  # /version, the halvings down one side, one probe
    with session_scope(engine) as s:
        states = {store.get_trial(s, i).registry_state for i in ids}  # type: ignore[union-attr]
    assert states == {"unknown"}


def test_resync_after_a_release_with_three_changed(cli, fake_ctgov) -> None:
    """The request counts the README quotes (printed with -s)."""
    cli.write_config(SHIPPED)
    shipped_registry(fake_ctgov)
    first = sync(cli)
    fake_ctgov.reset_requests()
    idle = sync(cli)
    changed = ["NCT07366658", "NCT07172412", "NCT06027853"]
    for i in changed:
        study = with_status(fake_ctgov.get(i), "ACTIVE_NOT_RECRUITING")
        fake_ctgov.put(with_last_update(study, "2026-11-21"))
    fake_ctgov.bump()
    fake_ctgov.reset_requests()
    release = sync(cli)
    assert sorted(release["new_versions_by_trial"]) == sorted(changed)
    print(
        f"\nrequests: first sync {first['requests']}, idle re-sync {idle['requests']}, "
        f"re-sync after a release with 3 changed {release['requests']} {counts(fake_ctgov)}"
    )
    assert idle["requests"] == 1
    # /version, two searches, one incremental batch that the unknown ID rides.
    assert release["requests"] == 4


def test_the_daemon_check_uses_the_same_gate(engine, fake_ctgov, client) -> None:
    from sync.config import Settings, load_settings
    from sync.daemon.service import Daemon
    from sync.ingest.run import run_sync

    shipped = load_settings(PROJECT_ROOT / "config.toml")
    settings = Settings(trials=shipped.trials, watches=shipped.watches)
    shipped_registry(fake_ctgov)
    d = Daemon(settings, engine, client_factory=lambda: client)
    d.check()  # never synced: a sync runs
    with session_scope(engine) as s:
        assert store.get_trial(s, DUAL).registry_state == "not_found"  # type: ignore[union-attr]
    fake_ctgov.reset_requests()
    d.check()  # the not-found trial and the two watches wait for the next release
    assert counts(fake_ctgov) == {"version": 1, "search": 0, "ids": 0, "single": 0}
    fake_ctgov.reset_requests()
    assert run_sync(engine, client).requests == 1  # and `sync` agrees
