"""Outcome changes judged and timed through real syncs, and `trialwatch outcomes`."""

from __future__ import annotations

from sync.testing.factory import with_last_update
from sync.testing.outcome_ratings import record_with
from tests.support.history_capture import NCT as CAPTURED
from tests.support.history_capture import current_markdown
from tests.support.history_capture import serve as serve_history

NCT = "NCT90000001"
# The base record started on 2022-03-09; its primary completion is moved to the future here.
RECRUITING = {"primaryCompletionDateStruct": {"date": "2027-03", "type": "ESTIMATED"}}
BEFORE = {"primaryOutcomes": [{"measure": "Overall survival", "timeFrame": "12 months"}]}


def _sync(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr


def _outcome_events(cli):  # type: ignore[no-untyped-def]
    r = cli("history", NCT, "--json")
    assert r.exit_code == 0, r.stderr
    return [e for e in r.json()[-1]["events"] if e["category"] == "outcomes"]


def _two_versions(cli, fake_ctgov, after, **dates):  # type: ignore[no-untyped-def]
    first = record_with(BEFORE, NCT, "2026-10-01")
    status = first["protocolSection"]["statusModule"]
    status.update(dates)
    fake_ctgov.put(first)
    assert cli("add", NCT).exit_code == 0
    _sync(cli)
    second = record_with(after, NCT, "2026-11-20")
    second["protocolSection"]["statusModule"].update(dates)
    fake_ctgov.put(with_last_update(second, "2026-11-20"))
    fake_ctgov.bump()
    _sync(cli)


def test_a_time_frame_changed_after_the_start_is_medium_and_says_so(cli, fake_ctgov) -> None:
    after = {"primaryOutcomes": [{"measure": "Overall Survival", "timeFrame": "24 months"}]}
    _two_versions(cli, fake_ctgov, after, **RECRUITING)
    (event,) = _outcome_events(cli)
    assert event["kind"] == "primary_outcome"
    assert event["importance"] == "medium"
    assert "time frame changed: 12 months → 24 months" in event["summary"]
    assert event["summary"].endswith("(during recruitment)")


def test_a_new_primary_after_the_start_is_an_outcome_switch_first_among_high(
    cli, fake_ctgov
) -> None:
    after = {
        "primaryOutcomes": [{"measure": "Objective response rate", "timeFrame": "12 months"}],
        "secondaryOutcomes": [{"measure": "Overall survival", "timeFrame": "12 months"}],
    }
    _two_versions(cli, fake_ctgov, after)  # after the primary completion (2025-03-03)
    r = cli("history", NCT, "--json")
    events = r.json()[-1]["events"]
    assert events[0]["kind"] == "outcome_switch" and events[0]["importance"] == "high"
    assert "new primary outcome: Objective response rate" in events[0]["summary"]
    assert "Overall survival moved to secondary" in events[0]["summary"]
    assert events[0]["summary"].endswith("(after primary completion)")


def test_rewording_is_low_and_timed_before_the_start(cli, fake_ctgov) -> None:
    after = {"primaryOutcomes": [{"measure": "Overall Survival."}]}
    after["primaryOutcomes"][0]["timeFrame"] = "12 Months"
    _two_versions(
        cli,
        fake_ctgov,
        after,
        startDateStruct={"date": "2027-01", "type": "ESTIMATED"},
        **RECRUITING,
        overallStatus="NOT_YET_RECRUITING",
    )
    (event,) = _outcome_events(cli)
    assert event["importance"] == "low", event
    assert event["summary"].endswith("(before start)")


def test_outcomes_on_a_backfilled_history(cli, fake_ctgov) -> None:
    serve_history(fake_ctgov, polled=current_markdown())
    assert cli("add", CAPTURED).exit_code == 0
    # Before the backfill only the current version is stored: the pre-specified is not known.
    _sync_or_backfill = cli("sync", "--json")
    assert _sync_or_backfill.exit_code == 0
    r = cli("outcomes", CAPTURED, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["pre_specified"] is None, r.stdout + r.stderr + _sync_or_backfill.stdout
    assert "backfill" in r.json()["note"]
    r = cli("backfill", CAPTURED)
    assert r.exit_code == 0, r.stdout + r.stderr
    r = cli("outcomes", CAPTURED, "--json")
    data = r.json()
    pre = data["pre_specified"]
    # v0 (registry) is the only version before the actual start 2018-10-12.
    assert pre is not None and pre["registry_version"] == 0, data
    assert any("RECIST" in o["measure"] + o.get("description", "") for o in
               pre["primary_outcomes"])  # fmt: skip
    timed = [c for c in data["changes"] if c["list"] == "primary"]
    assert timed and all(c["timing"] == "during recruitment" for c in timed), data["changes"]
    text = cli("outcomes", CAPTURED).stdout
    assert "pre-specified primary outcomes (v1" in text
    assert "during recruitment" in text


def test_versions_stored_before_the_timing_get_it_from_the_stored_version(
    cli, fake_ctgov, db_url
) -> None:
    from sqlmodel import select

    from models import Change, db
    from models.db import session_scope

    after = {"primaryOutcomes": [{"measure": "Overall Survival", "timeFrame": "24 months"}]}
    _two_versions(cli, fake_ctgov, after, **RECRUITING)
    engine = db.make_engine(db_url)
    with session_scope(engine) as s:
        # As an older trialwatch stored them: no dates on the outcome changes.
        for row in s.exec(select(Change).where(Change.category == "outcomes")).all():
            row.detail = {k: v for k, v in (row.detail or {}).items() if k != "dates"} or None
            s.add(row)
    engine.dispose()
    (event,) = _outcome_events(cli)
    assert event["summary"].endswith("(during recruitment)"), event
    r = cli("diff", NCT, "--json")
    assert any(c.get("importance") == "medium" for c in r.json()), r.stdout
    r = cli("outcomes", NCT, "--json")
    (change,) = r.json()["changes"]
    assert change["timing"] == "during recruitment"
    assert change["text"].endswith("time frame changed: 12 months → 24 months")


def test_the_trial_page_and_the_api_show_the_outcomes(cli, fake_ctgov, db_url, engine) -> None:
    import html

    from fastapi.testclient import TestClient

    from tests.support.web_seed import make_app

    serve_history(fake_ctgov, polled=current_markdown())
    assert cli("add", CAPTURED).exit_code == 0
    assert cli("backfill", CAPTURED).exit_code == 0
    printed = cli("outcomes", CAPTURED, "--json").json()
    with TestClient(make_app(db_url, engine)) as web:
        assert web.get(f"/api/trials/{CAPTURED}/outcomes").json() == printed
        page = web.get(f"/trials/{CAPTURED}")
    assert page.status_code == 200
    body = html.unescape(page.text)
    assert "Primary outcomes: pre-specified, and what changed since" in body
    assert printed["pre_specified"]["primary_outcomes"][0]["measure"] in body
    assert "during recruitment" in body
