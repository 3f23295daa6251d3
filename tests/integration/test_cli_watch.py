"""The `watch` and `similar` commands end to end (in-process) against the fake registry."""

from __future__ import annotations

from typing import Any

import pytest

from sync.testing.factory import nct, with_last_update, with_status
from tests.support.studies import (
    CLL1,
    DLL3_CART,
    DUAL,
    LUPUS,
    NEUK,
    UMBRELLA,
    all_studies,
    car_study,
    dual_target,
    neuk203_13,
)

SCLC_TERM = '"CAR-NK" AND (SCLC OR "small cell lung")'


def one_line_error(result: Any) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return str(lines[0])


def test_watch_add_run_list_members_remove_json_contracts(cli, fake_ctgov) -> None:
    added = cli(
        "watch", "add", "car-nk-sclc", "--term", SCLC_TERM,
        "--status", "RECRUITING,NOT_YET_RECRUITING", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert added.json() == {
        "name": "car-nk-sclc",
        "query": {"term": SCLC_TERM, "status": ["RECRUITING", "NOT_YET_RECRUITING"]},
        "track": True,
    }
    listed = cli("watch", "list", "--json").json()
    assert [(w["name"], w["matches"], w["last_run"]) for w in listed] == [("car-nk-sclc", 0, None)]

    fake_ctgov.put(neuk203_13())
    fake_ctgov.put(dual_target())
    ran = cli("watch", "run", "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert doc["outcome"] == "ok" and isinstance(doc["run_id"], int)
    assert [(w["name"], w["matches"], sorted(w["entered"]), w["left"], w["error"]) for w in
            doc["watches"]] == [("car-nk-sclc", 2, sorted([DUAL, NEUK]), [], None)]  # fmt: skip

    listed = cli("watch", "list", "--json").json()
    assert listed[0]["matches"] == 2
    assert listed[0]["last_run"] is not None and listed[0]["last_run"].startswith("20")
    rows = cli("watch", "members", "car-nk-sclc", "--json").json()
    assert [r["nct_id"] for r in rows] == sorted([DUAL, NEUK])
    for r in rows:
        assert set(r) >= {"nct_id", "first_seen", "last_seen", "left", "left_reason"}
        assert r["left"] is None and r["left_reason"] is None
        assert r["first_seen"] == r["last_seen"]

    # The new matches are tracked and synced by the next sync.
    synced = cli("sync", "--json").json()
    assert synced["new_versions_by_trial"] == {DUAL: 1, NEUK: 1}
    sources = {t["nct_id"]: t["source"] for t in cli("list", "--json").json()}
    assert sources == {DUAL: "watch:car-nk-sclc", NEUK: "watch:car-nk-sclc"}

    fake_ctgov.put(with_last_update(with_status(fake_ctgov.get(DUAL), "WITHDRAWN"), "2026-11-21"))
    text = cli("watch", "run", "car-nk-sclc")
    assert text.exit_code == 0, text.stderr
    assert "watch car-nk-sclc: ok, 1 match, 0 entered, 1 left" in text.stdout
    assert (
        f"study left car-nk-sclc: {DUAL}, Adaptive Phase 1/2 Study of Dual-Target CAR-NK Cells "
        "in Relapsed/Refractory Small Cell Lung Cancer (SCLC): its status changed to WITHDRAWN "
        "(was RECRUITING)"
    ) in " ".join(text.stdout.split())  # wrapped to 80 columns
    rows = {r["nct_id"]: r for r in cli("watch", "members", "car-nk-sclc", "--json").json()}
    assert rows[DUAL]["left"] is not None
    assert rows[DUAL]["left_reason"] == "its status changed to WITHDRAWN (was RECRUITING)"
    current = cli("watch", "members", "car-nk-sclc", "--current", "--json").json()
    assert [r["nct_id"] for r in current] == [NEUK]

    ev = cli("watch", "events", "--json").json()
    assert [(e["event"], e["nct_id"]) for e in ev] == [
        ("entered", NEUK),
        ("entered", DUAL),
        ("left", DUAL),
    ]
    runs = cli("status", "--json").json()["runs"]
    assert sorted(r["kind"] for r in runs) == ["sync", "watch", "watch"]

    removed = cli("watch", "remove", "car-nk-sclc", "--json")
    assert removed.exit_code == 0 and removed.json() == {"removed": "car-nk-sclc"}
    assert cli("watch", "list", "--json").json() == []
    everything = cli("watch", "list", "--all", "--json").json()
    assert [(w["name"], w["active"]) for w in everything] == [("car-nk-sclc", False)]
    assert len(cli("watch", "members", "car-nk-sclc", "--json").json()) == 2  # history kept
    assert {t["nct_id"] for t in cli("list", "--json").json()} == {DUAL, NEUK}  # still tracked


def test_sync_runs_config_watches_first_and_fetches_their_new_matches(cli, fake_ctgov) -> None:
    cli.write_config(f"[[watches]]\nname = \"car-nk-sclc\"\nterm = '{SCLC_TERM}'\n")
    fake_ctgov.put(neuk203_13())
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    s = r.json()
    assert s["outcome"] == "ok"
    w = s["watches"][0]
    assert {k: w[k] for k in ("name", "outcome", "matches", "entered", "left", "error")} == {
        "name": "car-nk-sclc",
        "outcome": "ok",
        "matches": 1,
        "entered": [NEUK],
        "left": [],
        "error": None,
    }
    assert s["new_versions_by_trial"] == {NEUK: 1}
    listed = cli("watch", "list", "--json").json()
    assert [(x["name"], x["source"], x["matches"]) for x in listed] == [
        ("car-nk-sclc", "config", 1)
    ]
    # Searches run again when the registry publishes a new data release.
    fake_ctgov.bump()
    text = cli("sync")
    assert "watch car-nk-sclc: ok, 1 match, 0 entered, 0 left" in text.stdout
    # A watch the config declares is changed there, not from the command line.
    assert "config file" in one_line_error(cli("watch", "remove", "car-nk-sclc"))
    assert "config file" in one_line_error(cli("watch", "add", "car-nk-sclc", "--term", "x"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["w", "--term", "CAR-NK", "--status", "RECRUITING,RECRUITNG"],
            "unknown status 'RECRUITNG'",
        ),
        (["w", "--status", "RECRUITING"], "has no query"),
        (["car nk!", "--term", "CAR-NK"], "name: use letters, digits"),
        (["w", "--term", "NCT07366658 NCT06027853"], "is only NCT IDs"),
        (["w", "--intr", '"CAR-NK'], "intr: unbalanced double quotes"),
        (["w", "--advanced", "AREA[Phase]PHASE1)"], "advanced: a ')' without its '('"),
    ],
)
def test_invalid_watch_parameters_are_one_line_exit_2(cli, args, message) -> None:
    line = one_line_error(cli("watch", "add", *args))
    assert message in line
    assert cli("watch", "list", "--json").json() == []


def test_duplicate_and_unknown_watches_are_one_line_exit_2(cli) -> None:
    assert cli("watch", "add", "w", "--term", "CAR-NK").exit_code == 0
    assert "already exists" in one_line_error(cli("watch", "add", "w", "--term", "CAR NK"))
    for args in (["run", "nope"], ["members", "nope"], ["remove", "nope"], ["events", "nope"]):
        assert "no watch named 'nope'" in one_line_error(cli("watch", *args))


def test_invalid_watch_in_config_is_rejected_with_exit_2(cli) -> None:
    cli.write_config('[[watches]]\nname = "empty"\nstatus = ["RECRUITING"]\n')
    r = cli("watch", "list")
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert "watch 'empty' has no query" in " ".join(r.stderr.split())


def test_a_failing_watch_run_exits_1_and_says_why(cli, fake_ctgov) -> None:
    fake_ctgov.put(neuk203_13())
    assert (
        cli("watch", "add", "bad", "--term", "CAR-NK", "--advanced", "AREA[NoSuchArea]x").exit_code
        == 0
    )
    assert cli("watch", "add", "good", "--term", "CAR-NK").exit_code == 0
    r = cli("watch", "run", "--json")
    assert r.exit_code == 1
    doc = r.json()
    assert doc["outcome"] == "partial"
    by_name = {w["name"]: w for w in doc["watches"]}
    assert by_name["bad"]["outcome"] == "failed" and "HTTP 400" in by_name["bad"]["error"]
    assert by_name["good"]["entered"] == [NEUK]
    text = cli("watch", "run", "bad")
    assert text.exit_code == 1 and "watch bad: failed: HTTP 400" in text.stdout
    listed = {w["name"]: w for w in cli("watch", "list", "--json").json()}
    assert listed["bad"]["last_outcome"] == "failed"
    assert "Unknown search area" in listed["bad"]["last_error"]


def test_paging_with_a_small_page_size(cli, fake_ctgov) -> None:
    cli.env["TRIALWATCH_API__PAGE_SIZE"] = "2"
    ids = [nct(i) for i in range(1, 6)]
    for i in ids:
        fake_ctgov.put(
            car_study(
                i,
                title=f"CD70 CAR-NK Cells in Renal Cell Carcinoma {i}",
                conditions=["Renal Cell Carcinoma"],
                interventions=[("BIOLOGICAL", "CD70 CAR-NK cells", "Cord blood derived.")],
                summary="Cord blood derived CD70 CAR-NK cells.",
                sponsor="Synthetic Kidney Group",
            )
        )
    assert cli("watch", "add", "cd70", "--term", "CAR-NK", "--no-track").exit_code == 0
    doc = cli("watch", "run", "--json").json()
    assert doc["watches"][0]["matches"] == 5 and doc["watches"][0]["requests"] == 3
    pages = [r for r in fake_ctgov.requests if "query.term" in r.params]
    assert [r.params["pageSize"] for r in pages] == ["2", "2", "2"]
    assert cli("list", "--json").json() == []  # --no-track


def test_similar_ranks_dll3_car_nk_sclc_above_cd19_car_nk_lupus(cli, fake_ctgov) -> None:
    for study in all_studies():
        fake_ctgov.put(study)
    assert cli("add", NEUK, DUAL, UMBRELLA, CLL1, LUPUS).exit_code == 0
    # A study only matched by a watch (not tracked) is ranked too, from its membership fields.
    watch = ["watch", "add", "dll3-car-t", "--term", '"CAR-T" AND DLL3', "--no-track"]
    assert cli(*watch).exit_code == 0
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["watches"][0]["entered"] == [DLL3_CART]

    doc = cli("similar", "NCT07366658", "--json").json()
    assert doc["nct_id"] == NEUK
    assert doc["features"]["targets"] == ["DLL3"]
    assert doc["features"]["modalities"] == ["CAR-NK"]
    assert doc["features"]["cell_sources"] == ["allogeneic", "iPSC-derived"]
    order = [x["nct_id"] for x in doc["similar"]]
    assert order[0] == DUAL
    assert order.index(DUAL) < order.index(LUPUS)
    assert order.index(UMBRELLA) < order.index(LUPUS)
    assert order.index(DLL3_CART) < order.index(LUPUS)
    rows = {x["nct_id"]: x for x in doc["similar"]}
    for row in doc["similar"]:
        assert set(row) >= {"nct_id", "score", "title", "status", "phases", "sources", "why"}
    assert rows[DLL3_CART]["sources"] == ["watch:dll3-car-t"]
    assert rows[DLL3_CART]["why"][:2] == [
        "same target: DLL3",
        "same disease: small cell lung cancer",
    ]
    assert rows[DUAL]["sources"] == ["tracked"]
    assert "same target" not in " ".join(rows[LUPUS]["why"])

    text = cli("similar", "nct07366658", "--limit", "2")
    assert text.exit_code == 0
    assert f"  1. {DUAL}" in text.stdout and "same target: DLL3" in text.stdout
    assert LUPUS not in text.stdout

    assert "not known to trialwatch" in one_line_error(cli("similar", "NCT09999999"))
    assert "8 digits" in cli("similar", "NCT123").stderr
    assert cli("similar", "NCT123").exit_code == 2
