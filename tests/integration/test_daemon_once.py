"""`daemon --once`: one cycle (the check, the sync it calls for) and stop, for a timer or cron."""

from __future__ import annotations

from sync.testing.factory import make_study, nct


def test_once_checks_syncs_and_stops(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1)))
    assert cli("add", nct(1)).exit_code == 0
    r = cli("daemon", "--once")
    assert r.exit_code == 0, r.stderr
    assert "sync run 1 ok" in r.stderr and "daemon stopped (one cycle done)" in r.stderr
    runs = cli("status", "--json").json()
    assert [(x["trigger"], x["outcome"], x["new_versions"]) for x in runs["runs"]] == [
        ("daemon", "ok", 1)
    ]
    assert runs["daemon"]["state"] == "stopped"
    # Nothing new at the registry: the next cycle checks and syncs nothing.
    again = cli("daemon", "--once")
    assert again.exit_code == 0 and "no sync" in again.stderr
    assert len(cli("status", "--json").json()["runs"]) == 1


def test_once_exits_1_when_the_registry_cannot_be_reached(cli) -> None:
    cli.env["TRIALWATCH_API_URL"] = "http://127.0.0.1:9/api/v2"
    cli.env["TRIALWATCH_API__MAX_ATTEMPTS"] = "1"
    assert cli("add", nct(1)).exit_code == 0
    r = cli("daemon", "--once")
    assert r.exit_code == 1
    assert "check failed" in r.stderr and "daemon stopped (one cycle done)" in r.stderr


def test_once_with_serve_is_bad_usage(cli) -> None:
    r = cli("daemon", "--once", "--serve")
    assert r.exit_code == 2 and "do not go together" in r.stderr
