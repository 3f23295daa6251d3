"""Watches against the fake registry: who enters and leaves (and why), tracking new matches in
the same sync, failed searches that must not look like departures, paging, the shipped watches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from models import SyncRun, Trial, Watch, WatchEvent, WatchMatch
from models.db import session_scope
from sync.config import ConfigError, Settings, WatchConfig, load_settings
from sync.ingest.run import SyncSummary, run_sync, untrack
from sync.registry.client import CtgovClient
from sync.store import snapshots as store
from sync.testing.factory import nct, samples_dir, with_last_update, with_status
from sync.watches import definitions as watches
from sync.watches import runner as discover
from sync.watches import similar
from tests.support import PROJECT_ROOT
from tests.support.studies import (
    CLL1,
    DLL3_CART,
    DUAL,
    LUPUS,
    NEUK,
    SCLC_CHEMO,
    UMBRELLA,
    all_studies,
    car_study,
    cd19_lupus,
    cll1_aml,
    dual_target,
    neuk203_13,
)

ANY_CAR_NK = WatchConfig(name="any-car-nk", term='"CAR-NK" OR "CAR NK"')
RECRUITING_CAR_NK = WatchConfig(
    name="recruiting-car-nk",
    term='"CAR-NK" OR "CAR NK"',
    status=["RECRUITING", "NOT_YET_RECRUITING"],
)


def shipped(name: str) -> WatchConfig:
    """A watch as declared in the project's own config.toml."""
    settings = load_settings(PROJECT_ROOT / "config.toml")
    return next(w for w in settings.watches if w.name == name)


def sync(engine, client, *configs: WatchConfig) -> SyncSummary:  # type: ignore[no-untyped-def]
    settings = Settings(watches=list(configs))
    hook = discover.sync_hook(engine, settings, client=client)
    return run_sync(engine, client, before_fetch=hook)


def run_once(engine, client, config: WatchConfig) -> discover.WatchResult:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        watches.sync_config_watches(s, [config])
    return discover.run_watch(engine, client, config.name)


def events(engine, kind: str | None = None) -> list[WatchEvent]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        q = select(WatchEvent).order_by(col(WatchEvent.id))
        if kind:
            q = q.where(WatchEvent.event == kind)
        return list(s.exec(q))


def members(engine, name: str, current_only: bool = False) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return [m.to_dict() for m in watches.member_rows(s, name, current_only=current_only)]


def changed(study: dict[str, Any], day: str = "2026-11-21") -> dict[str, Any]:
    return with_last_update(study, day)


# -- entering and the same-run sync ------------------------------------------------------------


def test_new_match_between_syncs_is_tracked_and_synced_in_the_same_run(
    engine, fake_ctgov, client
) -> None:
    watch = shipped("car-nk-sclc")
    fake_ctgov.put(neuk203_13())
    fake_ctgov.put(cd19_lupus())
    first = sync(engine, client, watch)
    assert first.outcome == "ok", first.errors
    assert first.watches == [
        {
            "name": "car-nk-sclc",
            "outcome": "ok",
            "matches": 1,
            "entered": [NEUK],
            "left": [],
            "left_reasons": {},
            "tracked": [NEUK],
            "events": [first.watches[0]["events"][0]],
            "requests": 1,
            "error": None,
        }
    ]
    assert first.new_versions_by_trial == {NEUK: 1}

    # Tomorrow a new CAR-NK trial in SCLC is posted: nobody types its ID.
    fake_ctgov.put(dual_target())
    fake_ctgov.bump()
    second = sync(engine, client, watch)
    assert second.outcome == "ok", second.errors
    assert second.watches[0]["entered"] == [DUAL]
    assert second.watches[0]["left"] == []
    assert second.watches[0]["matches"] == 2
    assert second.new_versions_by_trial == {DUAL: 1}  # fetched in full, in this same run
    with session_scope(engine) as s:
        trial = store.get_trial(s, DUAL)
        assert trial is not None
        assert (trial.source, trial.latest_version, trial.registry_state) == (
            "watch:car-nk-sclc",
            1,
            "found",
        )
        assert store.get_trial(s, LUPUS) is None  # never matched, never tracked
    entered = events(engine, "entered")
    assert [e.nct_id for e in entered] == [NEUK, DUAL]
    assert entered[0].reason == "first run of the watch"
    assert entered[1].reason is None and entered[1].run_id == second.run_id
    assert entered[1].summary == (
        f"new study matched car-nk-sclc: {DUAL}, Adaptive Phase 1/2 Study of Dual-Target CAR-NK "
        "Cells in Relapsed/Refractory Small Cell Lung Cancer (SCLC), RECRUITING, "
        "Phase 1/Phase 2, SCLC Cell Therapy Consortium"
    )
    with session_scope(engine) as s:
        run = s.get(SyncRun, second.run_id)
        assert run is not None and run.details["watches"][0]["entered"] == [DUAL]


def test_membership_search_asks_only_for_membership_fields(engine, fake_ctgov, client) -> None:
    fake_ctgov.put(neuk203_13())
    run_once(engine, client, RECRUITING_CAR_NK)
    searches = [r for r in fake_ctgov.requests if r.path == "/api/v2/studies"]
    assert len(searches) == 1
    params = searches[0].params
    assert params["fields"] == ",".join(watches.MEMBERSHIP_FIELDS)
    assert params["query.term"] == '"CAR-NK" OR "CAR NK"'
    assert params["filter.overallStatus"] == "RECRUITING|NOT_YET_RECRUITING"
    assert params["pageSize"] == "1000" and params["countTotal"] == "true"
    assert not any(k.startswith("filter.ids") for k in params)
    with session_scope(engine) as s:
        row = s.exec(select(WatchMatch)).one()
        assert row.info == {
            "phases": ["PHASE1"],
            "sponsor": "Cancer Institute and Hospital, Chinese Academy of Medical Sciences",
            "conditions": ["Small Cell Lung Cancer", "Neuroendocrine Tumors"],
            "interventions": ["NEUK203-13 Injection"],
        }


# -- leaving -----------------------------------------------------------------------------------


def test_a_study_that_stops_matching_leaves_once_and_can_come_back(
    engine, fake_ctgov, client
) -> None:
    fake_ctgov.put(neuk203_13())
    fake_ctgov.put(cd19_lupus())
    first = sync(engine, client, RECRUITING_CAR_NK)
    assert sorted(first.watches[0]["entered"]) == [LUPUS, NEUK]

    fake_ctgov.put(changed(with_status(fake_ctgov.get(LUPUS), "WITHDRAWN", why_stopped="Funding")))
    fake_ctgov.bump()
    second = sync(engine, client, RECRUITING_CAR_NK)
    assert second.outcome == "ok", second.errors
    w = second.watches[0]
    assert (w["entered"], w["left"], w["matches"]) == ([], [LUPUS], 1)
    reason = "its status changed to WITHDRAWN (was RECRUITING)"
    assert w["left_reasons"] == {LUPUS: reason}
    left = events(engine, "left")
    assert len(left) == 1
    assert left[0].reason == reason and left[0].run_id == second.run_id
    assert left[0].summary == (
        f"study left recruiting-car-nk: {LUPUS}, An Exploratory Clinical Study of Anti-CD19 CAR "
        f"NK Cells in the Treatment of Systemic Lupus Erythematosus: {reason}"
    )
    # It stays tracked, and its own record's change is synced like any other.
    assert second.new_versions_by_trial == {LUPUS: 2}

    fake_ctgov.bump()
    third = sync(engine, client, RECRUITING_CAR_NK)
    assert third.watches[0]["left"] == [] and third.watches[0]["entered"] == []
    assert len(events(engine, "left")) == 1  # reported once, not at every run

    fake_ctgov.put(changed(with_status(fake_ctgov.get(LUPUS), "RECRUITING"), "2026-11-25"))
    fake_ctgov.bump()
    fourth = sync(engine, client, RECRUITING_CAR_NK)
    assert fourth.watches[0]["entered"] == [LUPUS]
    back = events(engine, "entered")[-1]
    assert back.nct_id == LUPUS
    assert back.reason is not None and back.reason.startswith("matches again (left 20")
    assert back.reason.endswith(f": {reason})")
    rows = [r for r in members(engine, "recruiting-car-nk") if r["nct_id"] == LUPUS]
    assert [r["left_reason"] for r in rows] == [None, reason]  # current stay first
    assert rows[0]["left"] is None and rows[1]["left"] is not None
    assert len(members(engine, "recruiting-car-nk", current_only=True)) == 2


def test_departure_reasons_no_longer_matches_gone_and_moved(engine, fake_ctgov, client) -> None:
    fake_ctgov.put(neuk203_13())
    fake_ctgov.put(cd19_lupus())
    fake_ctgov.put(cll1_aml())
    assert run_once(engine, client, ANY_CAR_NK).matches == 3

    # LUPUS turns into a CAR-T study (same status); NEUK is deleted; CLL1 becomes an alias.
    fake_ctgov.put(
        car_study(
            LUPUS,
            title="An Exploratory Clinical Study of Anti-CD19 CAR-T Cells in Lupus",
            conditions=["Systemic Lupus Erythematosus"],
            interventions=[("BIOLOGICAL", "anti-CD19 CAR-T cells", "Autologous CAR-T cells.")],
            summary="Autologous anti-CD19 CAR-T cells in refractory SLE.",
            sponsor="Changhai Hospital",
        )
    )
    fake_ctgov.delete(NEUK)
    moved_to = nct(77)
    study = cll1_aml()
    study["protocolSection"]["identificationModule"]["nctId"] = moved_to
    fake_ctgov.put(study)
    fake_ctgov.alias(CLL1, moved_to)

    result = run_once(engine, client, ANY_CAR_NK)
    assert result.outcome == "ok", result.error
    assert result.entered == [moved_to]
    assert result.left_reasons == {
        CLL1: f"the record moved to {moved_to}",
        LUPUS: "the record no longer matches the search",
        NEUK: "the record is gone from the registry (404)",
    }
    # One batched lookup of the leavers, then one lone lookup for each absent one.
    lookups = [r for r in fake_ctgov.requests if "filter.ids" in r.params]
    assert len(lookups) == 1
    assert lookups[0].params["fields"] == "NCTId,OverallStatus"
    assert lookups[0].params["filter.ids"] == "|".join(sorted([CLL1, LUPUS, NEUK]))


def test_failed_search_reports_no_departures_and_the_run_is_partial(
    engine, fake_ctgov, client, api_settings
) -> None:
    fake_ctgov.put(neuk203_13())
    fake_ctgov.put(cd19_lupus())
    assert sync(engine, client, ANY_CAR_NK).outcome == "ok"

    fake_ctgov.bump()
    fake_ctgov.reset_requests()
    # Every attempt of the watch's search fails (the trials' batch comes after and succeeds).
    fake_ctgov.add_fault(
        "status", status=500, times=api_settings.max_attempts, path="/api/v2/studies"
    )
    second = sync(engine, client, ANY_CAR_NK)
    assert second.outcome == "partial"
    w = second.watches[0]
    # The members stay those of the last good run.
    assert (w["outcome"], w["left"], w["entered"], w["matches"]) == ("failed", [], [], 2)
    assert w["error"] == "HTTP 500 from the registry's search: 500 Internal Server Error"
    assert second.errors == [f"watch any-car-nk: {w['error']}"]
    assert events(engine, "left") == []
    assert len(members(engine, "any-car-nk", current_only=True)) == 2
    failed_searches = [
        r for r in fake_ctgov.requests if "query.term" in r.params and r.status == 500
    ]
    assert len(failed_searches) == api_settings.max_attempts
    batch = [r for r in fake_ctgov.requests if "filter.ids" in r.params]
    assert [r.status for r in batch] == [200]  # the tracked trials were still synced
    with session_scope(engine) as s:
        watch = watches.get_watch(s, "any-car-nk")
        assert watch.last_outcome == "failed" and "HTTP 500" in (watch.last_error or "")
        run = s.get(SyncRun, second.run_id)
        assert run is not None and run.outcome == "partial"

    fake_ctgov.bump()
    third = sync(engine, client, ANY_CAR_NK)
    assert third.outcome == "ok"
    assert (third.watches[0]["left"], third.watches[0]["matches"]) == ([], 2)


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("missing_protocol", "record has no protocolSection"),
        ("wrong_types", "designModule.phases is not a list of text"),
    ],
)
def test_unusable_record_in_the_answer_fails_the_search_not_the_members(
    engine, fake_ctgov, client, fault: str, why: str
) -> None:
    fake_ctgov.put(neuk203_13())
    assert run_once(engine, client, ANY_CAR_NK).matches == 1
    fake_ctgov.add_fault(fault, path="/api/v2/studies")
    result = run_once(engine, client, ANY_CAR_NK)
    assert result.outcome == "failed"
    assert result.error is not None and "unusable record" in result.error and why in result.error
    assert result.left == [] and events(engine, "left") == []
    with session_scope(engine) as s:
        assert s.exec(select(WatchMatch)).one().info["phases"] == ["PHASE1"]  # nothing lost


def test_a_400_fails_that_watch_only(engine, fake_ctgov, client) -> None:
    fake_ctgov.put(neuk203_13())
    bad = WatchConfig(name="bad-area", term="CAR-NK", advanced="AREA[NoSuchArea]x")
    summary = sync(engine, client, bad, ANY_CAR_NK)
    assert summary.outcome == "partial"
    by_name = {w["name"]: w for w in summary.watches}
    assert by_name["bad-area"]["outcome"] == "failed"
    assert "HTTP 400" in by_name["bad-area"]["error"]
    assert "Unknown search area" in by_name["bad-area"]["error"]
    assert by_name["any-car-nk"]["outcome"] == "ok"
    assert by_name["any-car-nk"]["entered"] == [NEUK]
    assert summary.new_versions_by_trial == {NEUK: 1}
    assert summary.errors == [f"watch bad-area: {by_name['bad-area']['error']}"]


def test_paging_over_several_pages(engine, fake_ctgov, api_settings) -> None:
    ids = [nct(i) for i in range(1, 8)]
    for i in ids:
        fake_ctgov.put(
            car_study(
                i,
                title=f"GPC3 CAR-NK Cells in Hepatocellular Carcinoma, Cohort {i[-1]}",
                conditions=["Hepatocellular Carcinoma"],
                interventions=[("BIOLOGICAL", "GPC3 CAR-NK cells", "Allogeneic.")],
                summary="GPC3-directed CAR-NK cells.",
                sponsor="Synthetic Liver Group",
            )
        )
    small = api_settings.model_copy(update={"page_size": 2})
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, small) as client:
        result = run_once(engine, client, ANY_CAR_NK)
        assert result.outcome == "ok", result.error
        assert result.matches == 7 and sorted(result.entered) == ids
        assert result.requests == 4
        pages = [r for r in fake_ctgov.requests if "query.term" in r.params]
        assert len(pages) == 4
        assert ["pageToken" in r.params for r in pages] == [False, True, True, True]
        assert {r.params["pageSize"] for r in pages} == {"2"}
        assert {r.params["fields"] for r in pages} == {",".join(watches.MEMBERSHIP_FIELDS)}

        fake_ctgov.delete(ids[3])
        again = run_once(engine, client, ANY_CAR_NK)
        assert again.matches == 6 and again.left == [ids[3]] and again.entered == []
        assert again.left_reasons == {ids[3]: "the record is gone from the registry (404)"}


# -- the shipped watches -----------------------------------------------------------------------

CAR_NK_SPELLINGS = [
    "CAR-NK cells",
    "CAR NK cells",
    "CARNK cells",
    "CAR-natural killer cells",
    "CAR natural killer cells",
    "chimeric antigen receptor NK cells",
    "chimeric antigen receptor-NK cells",
    "chimeric antigen receptor natural killer cells",
    "chimeric antigen receptor-natural killer cells",
    "chimeric antigen receptor (CAR) NK cells",
    "chimeric antigen receptor (CAR) natural killer (NK) cells",
    "CAR-modified NK cells",
    "CAR-engineered NK cells",
    "CAR-transduced NK cells",
    "CAR-iNK cells",
    "CAR iPSC-NK cells",
    "CAR-iPSC NK cells",
]


def _cell_study(nct_id: str, intervention: str, study_type: str = "INTERVENTIONAL") -> Any:
    return car_study(
        nct_id,
        title=f"Cell Therapy {nct_id} for Advanced Hepatocellular Carcinoma",
        conditions=["Hepatocellular Carcinoma"],
        interventions=[("BIOLOGICAL", f"anti-GPC3 {intervention}", "Given intravenously.")],
        summary="An open-label cell therapy study.",
        sponsor="Synthetic Liver Group",
        study_type=study_type,
    )


def test_every_car_nk_spelling_is_found_by_the_shipped_car_nk_watch(
    engine, fake_ctgov, client
) -> None:
    expected = []
    for i, spelling in enumerate(CAR_NK_SPELLINGS, 1):
        fake_ctgov.put(_cell_study(nct(i), spelling))
        expected.append(nct(i))
        # `similar` reads the same spellings as the same kind of therapy.
        assert similar.modalities_in([spelling]) == {"CAR-NK"}, spelling
    fake_ctgov.put(_cell_study(nct(90), "CAR-T cells"))
    fake_ctgov.put(_cell_study(nct(91), "haploidentical NK cells"))
    fake_ctgov.put(_cell_study(nct(92), "CAR-NK cells", study_type="OBSERVATIONAL"))
    result = run_once(engine, client, shipped("car-nk"))
    assert result.outcome == "ok", result.error
    assert sorted(result.entered) == expected


def test_shipped_watches_on_the_tracked_trials_and_their_neighbours(
    engine, fake_ctgov, client
) -> None:
    for study in all_studies():
        fake_ctgov.put(study)
    sclc = run_once(engine, client, shipped("car-nk-sclc"))
    assert sorted(sclc.entered) == sorted([NEUK, DUAL, UMBRELLA])
    every = run_once(engine, client, shipped("car-nk"))
    assert sorted(every.entered) == sorted([NEUK, DUAL, UMBRELLA, CLL1, LUPUS])
    assert DLL3_CART not in every.entered and SCLC_CHEMO not in every.entered


# -- definitions ---------------------------------------------------------------------------------


def test_config_watches_are_upserted_and_dropped_ones_deactivated(engine) -> None:
    with session_scope(engine) as s:
        watches.sync_config_watches(s, [ANY_CAR_NK, RECRUITING_CAR_NK])
    changed_def = WatchConfig(name="any-car-nk", term='"CAR-NK"', track=False)
    with session_scope(engine) as s:
        watches.sync_config_watches(s, [changed_def])
    with session_scope(engine) as s:
        rows = {w.name: w for w in s.exec(select(Watch))}
        assert rows["any-car-nk"].params == {"term": '"CAR-NK"'}
        assert rows["any-car-nk"].track is False and rows["any-car-nk"].source == "config"
        assert rows["recruiting-car-nk"].active is False


def test_a_trial_the_user_removed_is_not_tracked_again_by_a_watch(
    engine, fake_ctgov, client
) -> None:
    fake_ctgov.put(neuk203_13())
    run_once(engine, client, ANY_CAR_NK)
    with session_scope(engine) as s:
        untrack(s, [NEUK])
    fake_ctgov.delete(NEUK)
    run_once(engine, client, ANY_CAR_NK)  # it leaves...
    fake_ctgov.put(neuk203_13())
    back = run_once(engine, client, ANY_CAR_NK)  # ...and comes back
    assert back.entered == [NEUK] and back.tracked == []
    with session_scope(engine) as s:
        trial = store.get_trial(s, NEUK)
        assert trial is not None and trial.active is False


def test_no_track_watch_records_members_without_tracking(engine, fake_ctgov, client) -> None:
    fake_ctgov.put(neuk203_13())
    result = run_once(engine, client, WatchConfig(name="quiet", term="CAR-NK", track=False))
    assert result.entered == [NEUK] and result.tracked == []
    with session_scope(engine) as s:
        assert s.exec(select(Trial)).all() == []
    # Switched to tracking, the watch tracks the members it already has.
    result = run_once(engine, client, WatchConfig(name="quiet", term="CAR-NK", track=True))
    assert result.entered == [] and result.tracked == [NEUK]
    with session_scope(engine) as s:
        assert [t.source for t in s.exec(select(Trial))] == ["watch:quiet"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"term": "CAR-NK", "status": ["RECRUITNG"]}, "unknown status 'RECRUITNG'"),
        ({"status": ["RECRUITING"]}, "has no query"),
        ({"term": "   "}, "has no query"),
        ({"term": "NCT07366658, NCT06027853"}, "is only NCT IDs"),
        ({"term": '"CAR-NK'}, "term: unbalanced double quotes"),
        ({"cond": "(SCLC OR NET"}, "cond: a '(' without its ')'"),
        ({"term": "CAR-NK", "phase": "PHASE1"}, "phase: unknown setting"),
    ],
)
def test_invalid_definitions_are_one_clear_line(params: dict[str, Any], message: str) -> None:
    with pytest.raises(watches.InvalidWatch) as caught:
        watches.check("w", params)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_invalid_watch_in_config_is_rejected_at_load(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[watches]]\nname = "empty"\nstatus = ["RECRUITING"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "watches[0]" in str(caught.value) and "has no query" in str(caught.value)
    path.write_text('[[watches]]\nname = "x"\nterm = "CAR-NK"\nstatus = ["NOPE"]\n')
    with pytest.raises(ConfigError, match="unknown status 'NOPE'"):
        load_settings(path)


def test_shipped_watch_parameters_are_in_the_spec_parameter_set() -> None:
    spec = samples_dir() / "spec" / "ctg-oas-v2.yaml"
    text = spec.read_text(encoding="utf-8")
    for w in load_settings(PROJECT_ROOT / "config.toml").watches:
        for name in watches.search_params(watches.params_of(w)):
            assert f'- name: "{name}"' in text, name
