"""What the read commands say: the registry states of a tracked ID (found, not found, alias,
rejected, not synced yet) in show, list and similar; config trials before any sync; dates
that `show --as-of` accepts; the backfill seam listed once."""

from __future__ import annotations

from typing import Any

import pytest

from sync.testing.factory import make_study, nct, with_last_update, with_status

OLD, NEW, GONE, NEVER = nct(1), nct(2), nct(3), nct(4)


def sync(cli: Any, *args: str) -> dict[str, Any]:
    r = cli("sync", "--json", *args)
    assert r.exit_code == 0, r.stdout + r.stderr
    summary: dict[str, Any] = r.json()
    return summary


def one_line_error(result: Any, code: int = 2) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return str(lines[0])


def test_config_trials_are_listed_before_the_first_sync(cli, fake_ctgov) -> None:
    cli.write_config(f'trials = ["{OLD}", "{NEW}"]\n')
    r = cli("list", "--json")
    assert r.exit_code == 0, r.stderr
    assert [(t["nct_id"], t["registry_state"], t["source"]) for t in r.json()] == [
        (OLD, "unknown", "config"),
        (NEW, "unknown", "config"),
    ]
    text = cli("list")
    assert "not synced yet" in text.stdout and "no tracked trials" not in text.stderr
    assert "not synced yet" in cli("show", OLD).stdout
    assert fake_ctgov.count() == 0  # reading asks the registry nothing


def test_a_removed_config_trial_stays_removed(cli, fake_ctgov) -> None:
    cli.write_config(f'trials = ["{OLD}"]\n')
    assert cli("remove", OLD).exit_code == 0
    assert cli("list", "--json").json() == []


@pytest.fixture
def states(cli: Any, fake_ctgov: Any) -> Any:
    """OLD an alias of NEW (both tracked), GONE found then deleted, NEVER never registered."""
    fake_ctgov.put(make_study(NEW))
    fake_ctgov.put(make_study(GONE, title="DLL3 CAR-NK cells in small cell lung cancer"))
    fake_ctgov.put(make_study(nct(9), title="DLL3 CAR-NK cells for SCLC, second study"))
    fake_ctgov.alias(OLD, NEW)
    assert cli("add", OLD, NEW, GONE, NEVER, nct(9)).exit_code == 0
    fake_ctgov.reset_requests()
    first = sync(cli)
    fake_ctgov.delete(GONE)
    fake_ctgov.bump()
    sync(cli, "--full")
    return first


def test_an_alias_inside_a_batch_is_not_an_error(states, fake_ctgov) -> None:
    assert states["outcome"] == "ok" and states["errors"] == []
    assert states["aliases"] == {OLD: NEW} and states["not_found"] == [NEVER]
    # /version, one batch (OLD answered by NEW's record), NEVER alone (404); no GET of OLD.
    assert states["requests"] == 3


def test_show_list_and_similar_say_each_state(cli, states) -> None:
    listed = {t["nct_id"]: t for t in cli("list", "--json").json()}
    assert {n: t["registry_state"] for n, t in listed.items()} == {
        OLD: "alias", NEW: "found", GONE: "not_found", NEVER: "not_found", nct(9): "found",
    }  # fmt: skip
    assert listed[OLD]["alias_of"] == NEW

    shown = cli("show", OLD)
    assert shown.exit_code == 0 and f"alias of {NEW}" in shown.stdout
    assert cli("show", OLD, "--json").json()["registry_state"] == "alias"
    assert "not found at the registry" in cli("show", NEVER).stdout
    gone = cli("show", GONE)
    # Its last stored version, and what the registry says now.
    assert gone.exit_code == 0 and "not found at the registry" in gone.stdout
    assert "version" in gone.stdout and "1 of 1" in gone.stdout

    assert f"alias of {NEW}" in one_line_error(cli("similar", OLD))
    assert "tracked but not found at the registry" in one_line_error(cli("similar", NEVER))
    assert "not known to trialwatch" not in cli("similar", NEVER).stderr
    compared = cli("similar", GONE)
    assert compared.exit_code == 0, compared.stderr
    assert "no longer at the registry" in compared.stdout and nct(9) in compared.stdout


def test_similar_on_a_trial_never_synced_says_so(cli, fake_ctgov) -> None:
    cli("add", OLD)
    assert "not synced yet" in one_line_error(cli("similar", OLD))


# -- dates -------------------------------------------------------------------------------------


@pytest.fixture
def two_versions(cli: Any, fake_ctgov: Any) -> None:
    """OLD posted 2026-01-10 (v1) then 2026-02-10 (v2)."""
    v1 = make_study(OLD, status="NOT_YET_RECRUITING", last_update="2026-01-10")
    fake_ctgov.put(v1)
    cli("add", OLD)
    sync(cli)
    fake_ctgov.put(with_last_update(with_status(v1, "RECRUITING"), "2026-02-10"))
    fake_ctgov.bump()
    assert sync(cli, "--full")["new_versions"] == 1  # posted long before the data release


@pytest.mark.parametrize(
    ("as_of", "version", "day"),
    [
        ("2026-02", 2, "2026-02-28"),  # a month is its last day: compared as dates
        ("2026-01", 1, "2026-01-31"),
        ("2026", 2, "2026-12-31"),
        ("2026-02-09", 1, "2026-02-09"),
        ("2026-02-10", 2, "2026-02-10"),
        ("2026-02-10T08:30", 2, "2026-02-10"),
        ("2026-02-10T23:30:00-05:00", 2, "2026-02-11"),
    ],
)
def test_as_of_accepts_years_months_days_and_datetimes(
    cli, two_versions, as_of, version, day
) -> None:
    r = cli("show", OLD, "--as-of", as_of, "--json")
    assert r.exit_code == 0, r.stderr
    assert (r.json()["version"], r.json()["as_of_date"]) == (version, day)
    assert f"as of {day}" in cli("show", OLD, "--as-of", as_of).stdout


@pytest.mark.parametrize("bad", ["abc", "2026-13-01", "20260210", "2026-02-30", "26-02", ""])
def test_as_of_refuses_anything_else(cli, two_versions, bad) -> None:
    line = one_line_error(cli("show", OLD, "--as-of", bad))
    assert "YYYY, YYYY-MM, YYYY-MM-DD or an ISO date-time" in line


def test_as_of_before_the_first_version(cli, two_versions) -> None:
    # A valid date that finds nothing: said in one line, not an error.
    early = cli("show", OLD, "--as-of", "2025")
    assert early.exit_code == 0 and early.stderr == ""
    assert early.stdout.startswith(f"{OLD}: no version stored as of 2025-12-31; the first is v1")


def test_list_and_show_label_their_last_update(cli, fake_ctgov, two_versions) -> None:
    # A dates-only update: the registry's answer moves, the stored version does not.
    fake_ctgov.put(with_last_update(fake_ctgov.get(OLD), "2026-03-01"))
    fake_ctgov.bump()
    assert sync(cli, "--full")["new_versions"] == 0
    listed = cli("list", "--json").json()[0]
    shown = cli("show", OLD, "--json").json()
    assert listed["last_update_posted"] == shown["registry_last_update_posted"] == "2026-03-01"
    assert shown["last_update_posted"] == "2026-02-10"  # the shown version's own
    text = cli("show", OLD).stdout
    # Wrapped under the value column at 80 columns.
    assert "2026-02-10 (this version; the registry's latest answer: 2026-03-01)" in " ".join(
        text.split()
    )
    assert "(registry)" in cli("list").stdout  # the column says whose date it is


# -- the backfill seam -------------------------------------------------------------------------


def _seam_history(fake: Any, dates: str) -> None:
    """Registry v0 then v1; API v2 serves v1. The history list dates each version by its
    submission date or, as some captures do, by its posting date."""
    v0 = make_study(OLD, status="NOT_YET_RECRUITING", last_update="2026-01-10")
    v1 = with_last_update(with_status(v0, "RECRUITING"), "2026-02-10")

    def day(study: dict[str, Any]) -> str:
        status = study["protocolSection"]["statusModule"]
        if dates == "submitted":
            return str(status["lastUpdateSubmitDate"])
        return str(status["lastUpdatePostDateStruct"]["date"])

    fake.set_history(
        OLD,
        [
            {
                "version": 0,
                "date": day(v0),
                "status": "NOT_YET_RECRUITING",
                "moduleLabels": ["Study Status"],
            },
            {
                "version": 1,
                "date": day(v1),
                "status": "RECRUITING",
                "moduleLabels": ["Study Status"],
            },
        ],
        {0: v0, 1: v1},
    )
    fake.put(v1)


@pytest.mark.parametrize("dates", ["submitted", "posted"])
@pytest.mark.parametrize("only", [None, "eligibility"])
def test_the_polled_record_is_listed_once_with_its_registry_version(
    cli, fake_ctgov, dates, only
) -> None:
    _seam_history(fake_ctgov, dates)
    cli("add", OLD)
    sync(cli)
    args = ["backfill", OLD, "--json"] + (["--only-modules", only] if only else [])
    r = cli(*args)
    assert r.exit_code == 0, r.stdout + r.stderr
    trial = r.json()["trials"][0]
    items = cli("history", OLD, "--json").json()
    assert [(i["origin"], i["registry_version"], i["fetched"]) for i in items] == [
        ("history", 0, True),
        ("poll", 1, True),
    ]
    assert trial["not_fetched"] == 0 and trial["merged"] == 1
    text = cli("history", OLD).stdout
    assert "known, not fetched" not in text and "poll (registry v1)" in text
