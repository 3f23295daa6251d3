"""Backfill from the registry's record history: the real capture's ten versions, end to end."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlmodel import col, select

from models import Change, RegistryVersion, Snapshot, SyncRun
from models.db import session_scope
from sync.core import record
from sync.ingest import backfill as history
from sync.ingest import backfill_plan as history_plan
from sync.ingest.run import run_sync, track
from sync.store import snapshots as store
from sync.store import views
from tests.support.history_capture import NCT, capture, current_markdown, registry_versions, serve


def timeline(engine: Any) -> list[tuple[int, str, int | None, str | None, str]]:
    with session_scope(engine) as s:
        trial = store.get_trial(s, NCT)
        assert trial is not None
        return [
            (
                snap.version,
                snap.origin,
                snap.registry_version,
                snap.registry_date,
                store.record_of(s, snap)["protocolSection"]["statusModule"]["overallStatus"],
            )
            for snap in store.snapshots(s, trial.id)
        ]


def hashes(engine: Any) -> list[str]:
    with session_scope(engine) as s:
        trial = store.get_trial(s, NCT)
        assert trial is not None
        return [record.content_hash(store.record_of(s, x)) for x in store.snapshots(s, trial.id)]


def changes(engine: Any) -> list[tuple[int, int, str, str, Any, Any]]:
    with session_scope(engine) as s:
        rows = s.exec(select(Change).order_by(col(Change.from_version), col(Change.id))).all()
        return [(r.from_version, r.to_version, r.category, r.path, r.old, r.new) for r in rows]


def _track(engine: Any, *ids: str) -> None:
    with session_scope(engine) as s:
        track(s, list(ids))


def _backfill(engine: Any, client: Any, **kw: Any) -> history.BackfillSummary:
    return history.backfill(engine, client, [NCT], **kw)


def expected_hashes() -> list[str]:
    bodies = registry_versions(capture())
    return [
        record.content_hash(history.parse_version_doc({"study": b}, NCT, v))
        for v, b in sorted(bodies.items())
    ]


# -- the fixture itself -----------------------------------------------------------------------


def test_the_derived_versions_end_in_the_capture() -> None:
    cap = capture()
    bodies = registry_versions(cap)
    assert sorted(bodies) == list(range(10))
    assert bodies[9] == cap["study"]
    assert len(set(expected_hashes())) == 10  # every version changes something


# -- the imported timeline --------------------------------------------------------------------


def test_backfill_imports_the_captures_timeline(engine, fake_ctgov, client) -> None:
    serve(fake_ctgov)
    _track(engine, NCT)
    summary = _backfill(engine, client)
    assert summary.outcome == "ok", summary.errors
    assert summary.requests == 11  # the list and ten versions
    assert fake_ctgov.count("/api/int/studies/NCT03690141/history/") == 10
    listed = capture()["history"]["changes"]
    assert timeline(engine) == [
        (v["version"] + 1, "history", v["version"], v["date"], v["status"]) for v in listed
    ]
    assert hashes(engine) == expected_hashes()
    with session_scope(engine) as s:
        run = s.exec(select(SyncRun).where(SyncRun.kind == "backfill")).one()
        assert (run.outcome, run.requests, run.fetched, run.new_versions) == ("ok", 11, 10, 10)
        stored = store.load_record(s, store.get_trial(s, NCT).id, 10)  # type: ignore[union-attr]
    # Stored as the documented API's Markdown, without the search highlighting.
    assert "<mark" not in json.dumps(stored) and "&#x2F;" not in json.dumps(stored)
    criteria = stored["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    assert criteria.startswith("Inclusion Criteria:\n\n* Men ≥18 years.\n")


def test_status_and_enrollment_changes_are_found_between_the_right_versions(
    engine, fake_ctgov, client
) -> None:
    serve(fake_ctgov)
    _track(engine, NCT)
    _backfill(engine, client)
    found = changes(engine)
    status = [(f, t, old, new) for f, t, cat, path, old, new in found if path.endswith("Status")
              and cat == "status"]  # fmt: skip
    assert status == [
        (1, 2, "NOT_YET_RECRUITING", "RECRUITING"),
        (7, 8, "RECRUITING", "ACTIVE_NOT_RECRUITING"),
        (9, 10, "ACTIVE_NOT_RECRUITING", "COMPLETED"),
    ]
    enrollment = [(f, t) for f, t, cat, *_ in found if cat == "enrollment"]
    assert enrollment and set(enrollment) == {(7, 8)}
    assert {(f, t) for f, t, cat, *_ in found if cat == "eligibility"} == {(5, 6)}
    assert {(f, t) for f, t, cat, *_ in found if cat == "outcomes"} == {(5, 6)}
    assert {t for _, t, *_ in found} == set(range(2, 11))  # every step has its changes
    with session_scope(engine) as s:
        rows = s.exec(select(Change).where(Change.to_version == 8)).all()
        # Dated when the registry recorded them: never news in a digest.
        assert {r.detected_at.date().isoformat() for r in rows} == {"2019-07-16"}


def test_rerun_is_idempotent(engine, fake_ctgov, client) -> None:
    serve(fake_ctgov)
    _track(engine, NCT)
    _backfill(engine, client)
    before, found = timeline(engine), changes(engine)
    again = _backfill(engine, client)
    assert again.outcome == "ok"
    assert again.requests == 1  # the list only
    assert (again.fetched, again.imported, again.changes) == (0, 0, 0)
    assert timeline(engine) == before and changes(engine) == found


def test_resume_after_a_failure_in_the_middle(engine, fake_ctgov, client) -> None:
    serve(fake_ctgov)
    _track(engine, NCT)
    # Version 4 keeps failing (more times than the client retries).
    fake_ctgov.add_fault("status", status=500, times=20, path=f"/api/int/studies/{NCT}/history/4")
    first = _backfill(engine, client)
    assert first.outcome == "partial"
    assert len(first.errors) == 1 and "registry version 4" in first.errors[0]
    assert "HTTP 500" in first.errors[0]
    assert [v for v, *_ in timeline(engine)] == [1, 2, 3, 4]
    fake_ctgov.clear_faults()
    fake_ctgov.reset_requests()
    second = _backfill(engine, client)
    assert second.outcome == "ok"
    assert second.requests == 1 + 6  # the list, then versions 4 to 9 only
    assert [r.path.rsplit("/", 1)[1] for r in fake_ctgov.requests][1:] == list("456789")
    assert hashes(engine) == expected_hashes()
    assert [rv for _, _, rv, *_ in timeline(engine)] == list(range(10))


def test_only_modules_fetches_fewer_versions_and_a_full_run_fills_the_gaps(
    engine, fake_ctgov, client
) -> None:
    serve(fake_ctgov)
    _track(engine, NCT)
    only = _backfill(engine, client, only_modules=history_plan.parse_modules("eligibility"))
    assert only.outcome == "ok"
    # The list, the first version, the one that touched Eligibility (v5), the latest.
    assert only.requests == 4
    assert [(rv, st) for _, _, rv, _, st in timeline(engine)] == [
        (0, "NOT_YET_RECRUITING"),
        (5, "RECRUITING"),
        (9, "COMPLETED"),
    ]
    with session_scope(engine) as s:
        rows = s.exec(select(RegistryVersion).order_by(col(RegistryVersion.registry_version)))
        known = [(r.registry_version, r.snapshot_version, r.overall_status) for r in rows]
    assert len(known) == 10  # every listed version is recorded …
    assert [v for v, local, _ in known if local is None] == [1, 2, 3, 4, 6, 7, 8]  # … not fetched
    assert known[7][2] == "ACTIVE_NOT_RECRUITING"  # its status known from the list alone
    assert only.trials[0].not_fetched == 7

    fake_ctgov.reset_requests()
    full = _backfill(engine, client)
    assert full.outcome == "ok"
    assert full.requests == 1 + 7
    assert hashes(engine) == expected_hashes()
    # The changes were rebuilt around every inserted version: one step at a time.
    assert {(f, t) for f, t, *_ in changes(engine)} == {(v, v + 1) for v in range(1, 10)}


def test_history_view_places_unfetched_versions_in_the_timeline(engine, fake_ctgov, client) -> None:
    from sync.store import views

    serve(fake_ctgov)
    _track(engine, NCT)
    _backfill(engine, client, only_modules=history_plan.parse_modules("eligibility"))
    with session_scope(engine) as s:
        items = views.history(s, NCT)
    assert [(it.registry_version, it.fetched) for it in items] == [
        (0, True), (1, False), (2, False), (3, False), (4, False),
        (5, True), (6, False), (7, False), (8, False), (9, True),
    ]
    unfetched = [it for it in items if not it.fetched]
    assert all(it.version is None and it.origin == "history" for it in unfetched)
    assert unfetched[5].overall_status == "ACTIVE_NOT_RECRUITING"  # registry v7


def test_only_modules_status_touches_every_version(engine, fake_ctgov, client) -> None:
    serve(fake_ctgov)
    _track(engine, NCT)
    # Every submission moves the last-update dates, which live in Study Status.
    summary = _backfill(engine, client, only_modules=history_plan.parse_modules("status"))
    assert summary.requests == 11 and summary.imported == 10


def test_only_overall_status_changes(engine, fake_ctgov, client) -> None:
    serve(fake_ctgov)
    _track(engine, NCT)
    summary = _backfill(engine, client, only_modules=history_plan.parse_modules("overall-status"))
    assert summary.requests == 5  # the list and v0, v1, v7, v9: where the status moved
    assert [(rv, st) for _, _, rv, _, st in timeline(engine)] == [
        (0, "NOT_YET_RECRUITING"),
        (1, "RECRUITING"),
        (7, "ACTIVE_NOT_RECRUITING"),
        (9, "COMPLETED"),
    ]


def test_parse_modules() -> None:
    assert history_plan.parse_modules("status, Eligibility,design") == [
        "Eligibility",
        "Study Design",
        "Study Status",
    ]
    assert history_plan.parse_modules("contacts/locations") == ["Contacts/Locations"]
    with pytest.raises(ValueError, match="unknown module 'statuz'"):
        history_plan.parse_modules("status,statuz")
    with pytest.raises(ValueError):
        history_plan.parse_modules(" , ")


# -- the seam with polled versions ------------------------------------------------------------


def test_seam_same_content_is_one_version(cli, engine, fake_ctgov) -> None:
    serve(fake_ctgov, polled=current_markdown())
    assert cli("add", NCT).exit_code == 0
    assert cli("sync").exit_code == 0
    r = cli("backfill", NCT, "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    result = r.json()
    assert result["outcome"] == "ok" and result["requests"] == 11
    assert (result["imported"], result["trials"][0]["merged"]) == (9, 1)
    items = cli("history", NCT, "--json").json()
    assert len(items) == 10
    assert [(i["origin"], i["registry_version"]) for i in items] == [
        *(("history", v) for v in range(9)),
        ("poll", 9),  # the polled version is the registry's version 9
    ]
    assert items[-1]["registry_date"] == "2020-04-27"
    # The last step is status and dates only: no text field reads as changed.
    last = [c["category"] for c in cli("diff", NCT, "--json").json()]
    assert set(last) <= {"status", "dates"} and "status" in last
    with session_scope(engine) as s:
        rows = s.exec(select(Change).where(Change.to_version == 10)).all()
        # Dated at the registry's version 9, not when version 10 was polled: not news.
        assert rows and {r.detected_at.date().isoformat() for r in rows} == {"2020-04-27"}
    # Polling again adds nothing.
    fake_ctgov.bump()
    assert cli("sync").exit_code == 0
    assert len(cli("history", NCT, "--json").json()) == 10


def test_backfill_then_poll_is_one_timeline_too(cli, fake_ctgov) -> None:
    serve(fake_ctgov, polled=current_markdown())
    r = cli("add", NCT, "--backfill", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.json()["backfill"]["imported"] == 10
    assert cli("sync").exit_code == 0
    items = cli("history", NCT, "--json").json()
    assert [i["origin"] for i in items] == ["history"] * 10
    assert cli("list", "--json").json()[0]["status"] == "COMPLETED"


def test_seam_different_content_is_one_change(cli, engine, fake_ctgov) -> None:
    polled = current_markdown()
    polled["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 17
    serve(fake_ctgov, polled=polled)
    cli("add", NCT)
    assert cli("sync").exit_code == 0
    assert cli("backfill", NCT).exit_code == 0
    items = cli("history", NCT, "--json").json()
    assert [i["origin"] for i in items] == ["history"] * 10 + ["poll"]
    assert items[-1]["registry_version"] is None
    seam = [c for c in changes(engine) if c[:2] == (10, 11)]
    assert [(cat, old["count"], new["count"]) for *_, cat, _p, old, new in seam] == [
        ("enrollment", 16, 17)
    ]
    assert items[-1]["changes"] == 1


def test_polled_versions_move_up_with_their_changes_and_keyframes(
    engine, fake_ctgov, client, monkeypatch
) -> None:
    monkeypatch.setattr(store, "KEYFRAME_EVERY", 2)  # keyframes and their users on both sides
    polled = current_markdown()
    serve(fake_ctgov, polled=polled)
    _track(engine, NCT)
    for count in (16, 18, 20):
        study = copy.deepcopy(polled)
        study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = count
        fake_ctgov.put(study)
        fake_ctgov.bump()
        assert run_sync(engine, client, full=True).outcome == "ok"
    assert [v for v, *_ in timeline(engine)] == [1, 2, 3]
    assert _backfill(engine, client).outcome == "ok"
    assert [(v, o, rv) for v, o, rv, *_ in timeline(engine)] == [
        *((v + 1, "history", v) for v in range(9)),
        (10, "poll", 9),
        (11, "poll", None),
        (12, "poll", None),
    ]
    found = changes(engine)
    enrollment = [(f, t, old, new) for f, t, cat, _p, old, new in found if cat == "enrollment"]
    assert [(f, t, old["count"], new["count"]) for f, t, old, new in enrollment] == [
        (7, 8, 30, 16),
        (10, 11, 16, 18),
        (11, 12, 18, 20),
    ]
    with session_scope(engine) as s:
        trial = store.get_trial(s, NCT)
        assert trial is not None and trial.latest_version == 12
        snaps = store.snapshots(s, trial.id)
        by_version = {x.version: x for x in snaps}
        for snap in snaps:
            if snap.encoding == "zstd-dict":
                assert by_version[snap.base_version].encoding == "zstd"  # type: ignore[index]
            assert store.record_of(s, snap)["protocolSection"]["identificationModule"]
        assert any(x.encoding == "zstd-dict" and x.origin == "poll" for x in snaps)
        counts = [store.record_of(s, x)["protocolSection"]["designModule"]["enrollmentInfo"]
                  ["count"] for x in snaps[-3:]]  # fmt: skip
        assert counts == [16, 18, 20]
        rows = s.exec(select(RegistryVersion).where(RegistryVersion.registry_version == 9)).one()
        assert rows.snapshot_version == 10


# -- reading the timeline ---------------------------------------------------------------------


def test_show_as_of_and_diff_across_history_and_polled(cli, fake_ctgov) -> None:
    serve(fake_ctgov, polled=current_markdown())
    cli("add", NCT)
    cli("sync")
    assert cli("backfill", NCT).exit_code == 0
    for day, status, enrollment in [
        ("2018-09-30", "NOT_YET_RECRUITING", 30),
        ("2019-01-01", "RECRUITING", 30),
        ("2019-08-01", "ACTIVE_NOT_RECRUITING", 16),
        ("2025-06-01", "COMPLETED", 16),
    ]:
        r = cli("show", NCT, "--as-of", day, "--json")
        assert r.exit_code == 0, r.stderr
        shown = r.json()
        assert (shown["status"], shown["enrollment"]["count"]) == (status, enrollment), day
    on_day = cli("show", NCT, "--as-of", "2018-12-11", "--json").json()
    assert (on_day["version"], on_day["registry_version"], on_day["origin"]) == (5, 4, "history")
    assert set(on_day) == set(cli("show", NCT, "--json").json())
    early = cli("show", NCT, "--as-of", "2018-01-01")
    assert early.exit_code == 0 and early.stdout == (
        f"{NCT}: no version stored as of 2018-01-01; the first is v1 of 2018-09-27\n"
    )
    # Across the seam: the first imported version against the polled one.
    r = cli("diff", NCT, "--from", "1", "--to", "10", "--json")
    assert r.exit_code == 0, r.stderr
    across = {(c["category"], str(c["old"]), str(c["new"])) for c in r.json()}
    assert ("status", "NOT_YET_RECRUITING", "COMPLETED") in across
    assert any(cat == "enrollment" for cat, *_ in across)
    assert any(cat == "eligibility" for cat, *_ in across)


def test_views_history_marks_imported_versions(engine, fake_ctgov, client) -> None:
    serve(fake_ctgov)
    _track(engine, NCT)
    _backfill(engine, client)
    with session_scope(engine) as s:
        items = views.history(s, NCT)
    assert items[0].origin == "history" and items[0].registry_version == 0
    assert items[0].changes == 0 and items[1].changes > 0


# -- when the undocumented endpoints misbehave ------------------------------------------------


def _break(fake: Any, how: str) -> None:
    cap = capture()
    if how == "404":
        return  # no history at all: the fake answers 404
    if how == "wrong shape of the list":
        fake.set_history(NCT, [{"date": "2018-09-27", "status": "RECRUITING"}], {})
        return
    fake.set_history(NCT, cap["history"]["changes"], registry_versions(cap))
    if how == "invalid JSON":
        fake.add_fault("invalid_json", times=20, path=f"/api/int/studies/{NCT}")
    elif how == "a version without protocolSection":
        fake.add_fault("missing_protocol", times=1, path=f"/api/int/studies/{NCT}/history/0")


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("invalid JSON", "invalid JSON"),
        ("wrong shape of the list", "without a version number"),
        ("a version without protocolSection", "no study.protocolSection"),
    ],
)
def test_a_broken_history_endpoint_leaves_everything_else_intact(
    cli, engine, fake_ctgov, how, says
) -> None:
    fake_ctgov.put(current_markdown())
    cli("add", NCT)
    assert cli("sync").exit_code == 0
    before = (timeline(engine), changes(engine))
    _break(fake_ctgov, how)
    r = cli("backfill", NCT)
    assert r.exit_code == 1
    assert "backfill failed" in r.stdout and says in " ".join(r.stdout.split())  # wrapped
    assert "Traceback" not in r.stdout + r.stderr
    assert (timeline(engine), changes(engine)) == before
    runs = cli("status", "--json").json()["runs"]
    assert runs[0]["kind"] == "backfill" and runs[0]["outcome"] == "failed"
    assert says in runs[0]["errors"][0]
    fake_ctgov.clear_faults()
    fake_ctgov.bump()
    assert cli("sync").exit_code == 0


def test_all_backfills_every_tracked_trial_and_reports_each(cli, fake_ctgov) -> None:
    from sync.testing.factory import make_study, nct

    serve(fake_ctgov, polled=current_markdown())
    fake_ctgov.put(make_study(nct(1)))
    cli("add", NCT, nct(1))
    r = cli("backfill", "--all", "--json")
    # One of the two has no history at the registry: an outcome, not a failure.
    assert r.exit_code == 0, r.stdout
    result = r.json()
    assert result["outcome"] == "ok" and result["errors"] == []
    outcomes = {t["nct_id"]: t["outcome"] for t in result["trials"]}
    assert outcomes == {NCT: "ok", nct(1): "no_history"}
    assert len(cli("history", NCT, "--json").json()) == 10
    text = cli("backfill", "--all")
    assert text.exit_code == 0 and "backfill ok" in text.stdout
    assert f"{nct(1)}: no history published by the registry" in text.stdout
    # So the digests that follow do not warn about that run.
    digest = cli("digest", "--json").json()
    assert digest["health"]["clean"] is True
    assert {r["kind"] for r in digest["runs"]} >= {"backfill"}


def test_no_history_for_the_one_trial_asked_is_ok_too(cli, fake_ctgov) -> None:
    fake_ctgov.put(current_markdown())
    cli("add", NCT)
    before = cli("history", NCT, "--json").json()
    r = cli("backfill", NCT)
    assert r.exit_code == 0
    assert f"{NCT}: no history published by the registry" in r.stdout
    assert cli("history", NCT, "--json").json() == before


# -- the command line -------------------------------------------------------------------------


def test_config_can_make_backfill_the_default_on_add(cli, fake_ctgov) -> None:
    serve(fake_ctgov)
    cli.write_config("backfill_on_add = true\n")
    r = cli("add", NCT)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "backfill ok" in r.stdout and "10 imported" in r.stdout
    assert len(cli("history", NCT, "--json").json()) == 10


def test_add_no_backfill_overrides_the_config(cli, fake_ctgov) -> None:
    serve(fake_ctgov)
    cli.write_config("backfill_on_add = true\n")
    r = cli("add", NCT, "--no-backfill", "--json")
    assert r.exit_code == 0 and "backfill" not in r.json()
    assert fake_ctgov.count("/api/int") == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "give NCT IDs or --all"),
        ((NCT, "--all"), "give NCT IDs or --all"),
        (("NCT123",), "NCT123"),
        (("NCT00000001",), "NCT00000001 is not tracked"),
        ((NCT, "--only-modules", "statuz"), "unknown module 'statuz'"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(cli, fake_ctgov, args, says) -> None:
    serve(fake_ctgov)
    cli("add", NCT)
    r = cli("backfill", *args)
    assert r.exit_code == 2
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert fake_ctgov.count("/api/int") == 0


def test_text_output_names_what_was_done(cli, fake_ctgov) -> None:
    serve(fake_ctgov)
    cli("add", NCT)
    r = cli("backfill", NCT, "--only-modules", "eligibility,design")
    assert r.exit_code == 0, r.stdout + r.stderr
    # The list, v0, v2 (design), v5 (eligibility), v7 (design), v9 (the latest).
    assert "backfill ok (only Eligibility, Study Design): 6 requests" in r.stdout
    assert "5 new versions" in r.stdout and "5 known but not fetched" in r.stdout


def test_hashes_of_an_older_canonical_form_do_not_make_new_versions(
    engine, fake_ctgov, client
) -> None:
    fake_ctgov.put(current_markdown())
    _track(engine, NCT)
    run_sync(engine, client)
    with session_scope(engine) as s:
        snap = s.exec(select(Snapshot)).one()
        snap.canon_version, snap.content_hash = record.CANON_VERSION - 1, "0" * 64
        s.add(snap)
    fake_ctgov.bump()
    assert run_sync(engine, client, full=True).new_versions == 0


def test_all_with_nothing_tracked_says_so(cli, fake_ctgov) -> None:
    r = cli("backfill", "--all", "--json")
    assert r.exit_code == 0 and "no tracked trials" in r.stderr
    assert r.json()["trials"] == [] and r.json()["outcome"] == "ok"
    assert fake_ctgov.count() == 0


def test_a_version_with_fields_of_the_wrong_type_is_refused(engine, fake_ctgov, client) -> None:
    serve(fake_ctgov)
    _track(engine, NCT)
    fake_ctgov.add_fault("wrong_types", times=1, path=f"/api/int/studies/{NCT}/history/3")
    first = _backfill(engine, client)
    assert first.outcome == "partial"
    assert "registry version 3" in first.errors[0] and "enrollmentInfo.count is str" in (
        first.errors[0]
    )
    assert [rv for _, _, rv, *_ in timeline(engine)] == [0, 1, 2]  # nothing of the bad body
    assert _backfill(engine, client).outcome == "ok"
    assert hashes(engine) == expected_hashes()


def test_backfills_do_not_overlap(engine, fake_ctgov, client) -> None:
    from sync.store.locks import exclusive

    serve(fake_ctgov)
    _track(engine, NCT)
    # a file lock on SQLite, an advisory lock on PostgreSQL: held here, refused to the backfill
    with exclusive(engine, "backfill"), pytest.raises(history.BackfillBusy):
        _backfill(engine, client)
    assert _backfill(engine, client).outcome == "ok"
