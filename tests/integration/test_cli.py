"""The CLI end to end (in-process) against the fake registry: contracts of output and exit codes."""

from __future__ import annotations

from sync.testing.factory import make_study, nct, with_enrollment, with_last_update, with_status


def test_add_normalises_and_lists(cli) -> None:
    r = cli("add", "NCT07366658", "nct06027853", " NCT07366658 ")
    assert r.exit_code == 0, r.stderr
    assert "added NCT07366658" in r.stdout and "added NCT06027853" in r.stdout
    rows = cli("list", "--json").json()
    assert [x["nct_id"] for x in rows] == ["NCT06027853", "NCT07366658"]
    for row in rows:
        assert set(row) >= {"nct_id", "status", "latest_version", "found"}
        # Not asked yet: neither found nor not found, beside the state that says so.
        assert row["latest_version"] == 0 and row["found"] is None
        assert row["registry_state"] == "unknown"


def test_bad_id_is_one_line_exit_2_and_adds_nothing(cli) -> None:
    r = cli("add", "NCT07366658", "NCT123")
    assert r.exit_code == 2
    assert "NCT123" in r.stderr and "8 digits" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr
    assert cli("list", "--json").json() == []


def test_remove_keeps_versions_and_unknown_is_exit_2(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1)))
    cli("add", nct(1))
    assert cli("sync").exit_code == 0
    r = cli("remove", nct(1))
    assert r.exit_code == 0 and f"removed {nct(1)}" in r.stdout
    assert cli("list", "--json").json() == []
    everything = cli("list", "--all", "--json").json()
    assert everything[0]["latest_version"] == 1 and everything[0]["active"] is False
    assert cli("remove", nct(2)).exit_code == 2


def test_sync_json_contract_and_show_history_status(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1), enrollment=(24, "ESTIMATED")))
    cli("add", nct(1), "NCT07480213")
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    s = r.json()
    assert s["outcome"] == "ok"
    assert s["requests"] == 3  # /version, the batch, the lone lookup of the unknown ID
    assert s["fetched"] == 1 and s["new_versions"] == 1
    assert s["not_found"] == ["NCT07480213"] and s["errors"] == []

    listed = {x["nct_id"]: x for x in cli("list", "--json").json()}
    assert listed["NCT07480213"]["found"] is False
    assert listed[nct(1)]["latest_version"] == 1

    study = with_status(
        with_enrollment(fake_ctgov.get(nct(1)), 16, "ACTUAL"), "ACTIVE_NOT_RECRUITING"
    )
    fake_ctgov.put(with_last_update(study, "2026-11-21"))
    fake_ctgov.bump()
    assert cli("sync").exit_code == 0

    shown = cli("show", nct(1), "--json").json()
    assert shown["nct_id"] == nct(1)
    assert shown["status"] == "ACTIVE_NOT_RECRUITING"
    assert shown["enrollment"] == {"count": 16, "type": "ACTUAL"}
    assert shown["latest_version"] == 2 and isinstance(shown["phases"], list)
    assert shown["title"]

    hist = cli("history", nct(1), "--json").json()
    assert [h["version"] for h in hist] == [1, 2]
    for h in hist:
        assert set(h) >= {"version", "fetched_at", "origin", "last_update_posted"}
        assert h["origin"] == "poll"
    assert hist[1]["last_update_posted"] == "2026-11-21"

    text = cli("history", nct(1)).stdout
    assert "RECRUITING -> ACTIVE_NOT_RECRUITING" in text

    runs = cli("status", "--json").json()["runs"]
    assert [x["outcome"] for x in runs[:2]] == ["ok", "ok"]


def test_diff_cli_shows_old_and_new(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1), enrollment=(24, "ESTIMATED")))
    cli("add", nct(1))
    cli("sync")
    fake_ctgov.put(
        with_last_update(with_enrollment(fake_ctgov.get(nct(1)), 16, "ACTUAL"), "2026-11-21")
    )
    fake_ctgov.bump()
    cli("sync")
    changes = cli("diff", nct(1), "--json").json()
    enrollment = [c for c in changes if c["category"] == "enrollment"]
    assert enrollment, changes
    for c in changes:
        assert set(c) >= {"category", "path", "old", "new", "summary", "severity"}
    text = cli("diff", nct(1)).stdout
    assert "enrollment" in text and "24" in text and "16" in text
    assert cli("diff", nct(1), "--from", "1", "--to", "9").exit_code == 2


def test_unknown_trial_is_exit_2(cli) -> None:
    r = cli("show", nct(5))
    assert r.exit_code == 2 and "not tracked" in r.stderr


def test_sync_partial_exits_1(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1)))
    cli("add", nct(1))
    fake_ctgov.add_fault("status", status=500, times=10, path="/api/v2/studies")
    r = cli("sync", "--json")
    assert r.exit_code == 1
    assert r.json()["outcome"] in ("partial", "failed")


def test_malformed_config_says_file_line_and_what(cli) -> None:
    cli.write_config('trials = ["NCT07366658"]\n[api]\nbatch_size = "big"\n')
    r = cli("list")
    assert r.exit_code == 2
    assert str(cli.config_path) in r.stderr and "line 3" in r.stderr
    assert "batch_size" in r.stderr
    cli.write_config('trials = ["NCT07366658"\n')
    r = cli("list")
    assert r.exit_code == 2 and "line" in r.stderr and "TOML" in r.stderr
    cli.write_config('trials = ["NCT123"]\n')
    r = cli("list")
    assert r.exit_code == 2 and "NCT123" in r.stderr and "line 1" in r.stderr


def test_config_trials_are_synced_and_empty_config_means_defaults(cli, fake_ctgov) -> None:
    assert cli("list", "--json").json() == []
    fake_ctgov.put(make_study(nct(7)))
    cli.write_config(f'trials = ["{nct(7).lower()}"]\n')
    r = cli("sync", "--json")
    assert r.exit_code == 0 and r.json()["new_versions"] == 1


def test_db_upgrade(cli) -> None:
    r = cli("db", "upgrade")
    assert r.exit_code == 0 and "database at" in r.stdout


def test_sync_request_count_includes_watch_searches(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1), title="DLL3 CAR-NK cells in small cell lung cancer"))
    cli.write_config('[[watches]]\nname = "car-nk"\nterm = "CAR-NK"\n')
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    s = r.json()
    # /version, the watch search (one page), the batch fetching the new match
    assert s["requests"] == fake_ctgov.count() == 3
    assert s["watches"][0]["entered"] == [nct(1)]
