"""Consistent answers of the CLI: what the registry does not know is reported (exit 0), an ID not
tracked here is bad input (exit 2), valid input that finds nothing says so (exit 0), and the
summaries count in words ("1 request") and stay bounded."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from sync.testing.factory import make_study, nct, with_last_update, with_status
from tests.support.history_capture import NCT as CAPTURED
from tests.support.history_capture import serve as serve_history

UNKNOWN = "NCT07480213"  # well formed; the fake registry does not know it


def _synced(cli, fake_ctgov, *ids: str) -> None:
    assert cli("add", *ids).exit_code == 0
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr


def test_the_backfill_bar_counts_the_versions(cli, fake_ctgov, monkeypatch) -> None:
    from sync.cli import backfill, common

    serve_history(fake_ctgov)
    assert cli("add", CAPTURED).exit_code == 0
    screen = io.StringIO()
    # Both names of the console: a module imported under the patch would keep it for the
    # tests after this one, whose stderr would then go to this screen.
    terminal = Console(file=screen, force_terminal=True, width=100, stderr=True)
    monkeypatch.setattr(common, "err", terminal)
    monkeypatch.setattr(backfill, "err", terminal)
    r = cli("backfill", CAPTURED)
    assert r.exit_code == 0, r.stdout + r.stderr
    # The history list and its ten versions: it starts at 0/1, never at 0/0.
    shown = set(re.findall(r"(\d+)/(\d+)", screen.getvalue()))
    assert ("11", "11") in shown and ("0", "0") not in shown, shown
    # Again: nothing left to fetch, and the bar still counts the list it asked.
    screen.seek(0)
    screen.truncate()
    assert cli("backfill", CAPTURED).exit_code == 0
    shown = set(re.findall(r"(\d+)/(\d+)", screen.getvalue()))
    assert ("1", "1") in shown and ("0", "0") not in shown, shown


@pytest.mark.parametrize("command", [["history"], ["diff"], ["show"], ["diff", "--json"]])
def test_an_id_the_registry_does_not_know_is_reported_exit_0(cli, fake_ctgov, command) -> None:
    _synced(cli, fake_ctgov, UNKNOWN)
    r = cli(*command, UNKNOWN)
    assert r.exit_code == 0, r.stdout + r.stderr
    said = r.stderr if "--json" in command else r.stdout
    assert f"{UNKNOWN}: not found at the registry" in said
    assert "no versions stored" not in r.stdout + r.stderr
    assert "--json" not in command or r.json() == []


def test_an_untracked_id_is_bad_input_for_every_command(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1)))
    _synced(cli, fake_ctgov, nct(1))
    for args in (
        ["history", nct(2)],
        ["diff", nct(2)],
        ["show", nct(2)],
        ["digest", "--trial", nct(2)],
        ["ack", "--all", "--trial", nct(2)],
    ):
        r = cli(*args)
        assert r.exit_code == 2, (args, r.stdout, r.stderr)
        assert f"{nct(2)} is not tracked" in r.stderr, args
    assert cli("digest", "--trial", nct(1)).exit_code == 0


def test_a_valid_date_before_the_first_version_finds_nothing_exit_0(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1), last_update="2026-10-01"))
    _synced(cli, fake_ctgov, nct(1))
    r = cli("show", nct(1), "--as-of", "2020")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout.strip() == (
        f"{nct(1)}: no version stored as of 2020-12-31; the first is v1 of 2026-10-01"
    )
    j = cli("show", nct(1), "--as-of", "2020", "--json")
    assert j.exit_code == 0 and j.json()["version"] is None and j.json()["latest_version"] == 1
    assert cli("show", nct(1), "--as-of", "20x0").exit_code == 2  # not a date: bad input
    one = cli("diff", nct(1))
    assert one.exit_code == 0 and "one version stored, nothing to compare yet" in one.stdout
    assert cli("diff", nct(1), "--from", "1", "--to", "3").exit_code == 2  # no version 3


def test_sync_prints_a_bounded_summary_and_the_json_keeps_everything(cli, fake_ctgov) -> None:
    ids = [nct(i) for i in range(1, 9)]
    for i in ids:
        fake_ctgov.put(make_study(i))
    assert cli("add", *ids).exit_code == 0
    r = cli("sync")
    assert r.exit_code == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("sync ok (first): 2 requests, 8 studies fetched, 8 new versions")
    stored = [line for line in lines if "stored version" in line]
    assert [line.split(":")[0].strip() for line in stored] == ids[:5]
    assert "  and 3 more trials (sync --json lists them all)" in lines
    # One changed: singular words, an incremental run.
    fake_ctgov.put(with_last_update(with_status(fake_ctgov.get(ids[0]), "COMPLETED"), "2026-11-21"))
    fake_ctgov.bump()
    again = cli("sync", "--json").json()
    assert again["mode"] == "incremental" and again["new_versions_by_trial"] == {ids[0]: 2}
    idle = cli("sync")
    assert idle.stdout.startswith(
        "sync ok (skipped): 1 request, 0 studies fetched, 0 new versions, 0 changes"
    ), idle.stdout
    runs = cli("status", "--json").json()["runs"]
    modes = [run["mode"] for run in sorted(runs, key=lambda run: run["id"])]
    assert modes == ["first", "incremental", "skipped"]


def test_list_json_says_found_only_once_the_registry_was_asked(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1)))
    assert cli("add", nct(1), UNKNOWN).exit_code == 0
    before = {t["nct_id"]: (t["found"], t["registry_state"]) for t in cli("list", "--json").json()}
    assert before == {nct(1): (None, "unknown"), UNKNOWN: (None, "unknown")}
    assert cli("sync").exit_code == 0
    after = {t["nct_id"]: (t["found"], t["registry_state"]) for t in cli("list", "--json").json()}
    assert after == {nct(1): (True, "found"), UNKNOWN: (False, "not_found")}
    assert cli("show", UNKNOWN, "--json").json()["found"] is False


def test_registry_text_in_brackets_is_printed_not_taken_for_markup(cli, fake_ctgov) -> None:
    title = "A [bold]PET[/bold] study of [web] [18F]FDG uptake"
    fake_ctgov.put(make_study(nct(1), title=title))
    _synced(cli, fake_ctgov, nct(1))
    assert title in cli("show", nct(1)).stdout
    bad = cli("show", nct(1), "--as-of", "[web]")
    assert bad.exit_code == 2 and "'[web]' is not a date" in bad.stderr


def test_the_not_found_line_of_a_sync_is_bounded(cli, fake_ctgov) -> None:
    ids = [nct(i) for i in range(1, 9)]  # none of them at the registry
    assert cli("add", *ids).exit_code == 0
    r = cli("sync")
    assert r.exit_code == 0, r.stdout + r.stderr
    # Wrapped to the width (80 in a pipe): read with the folds undone.
    assert max(len(x) for x in r.stdout.splitlines()) <= 80
    said = " ".join(r.stdout.split())
    assert f"not found at the registry: {', '.join(ids[:5])} and 3 more" in said
    assert sorted(cli("sync", "--full", "--json").json()["not_found"]) == ids
