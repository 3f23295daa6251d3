"""Long runs say how far they are: a line every progress_seconds in a pipe or the daemon's log."""

from __future__ import annotations

import re

from sync.testing.factory import make_study, nct

LINE = re.compile(r"^sync: [\d,]+ of 60 IDs asked, [\d,]+ requests?, ETA (\S+.*|not known yet)$")


def _add_unknown(cli, fake_ctgov) -> None:  # type: ignore[no-untyped-def]
    fake_ctgov.put(make_study(nct(1)))
    # 59 IDs the registry does not know: each is asked for alone after its batch.
    assert cli("add", " ".join(nct(i) for i in range(1, 61))).exit_code == 0


def test_a_first_sync_in_a_pipe_prints_progress_lines(cli, fake_ctgov) -> None:
    _add_unknown(cli, fake_ctgov)
    cli.env["TRIALWATCH_PROGRESS_SECONDS"] = "0.000001"  # every step, for the test
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    assert len(r.json()["not_found"]) == 59
    lines = r.stderr.splitlines()
    assert lines and all(LINE.match(x) for x in lines), lines
    done = [int(x.split()[1].replace(",", "")) for x in lines]
    # One ID at a time after the batch: the count moves while the lone requests are made.
    assert done == sorted(done) and len(set(done)) > 50 and done[-1] == 59


def test_the_default_interval_keeps_a_short_run_quiet(cli, fake_ctgov) -> None:
    _add_unknown(cli, fake_ctgov)
    r = cli("sync")
    assert r.exit_code == 0 and r.stderr == ""


def test_the_daemon_logs_its_sync_progress(cli, fake_ctgov) -> None:
    _add_unknown(cli, fake_ctgov)
    cli.env["TRIALWATCH_PROGRESS_SECONDS"] = "0.000001"
    r = cli("daemon", "--once")
    assert r.exit_code == 0, r.stderr
    logged = [x[x.index("sync: ") :] for x in r.stderr.splitlines() if " IDs asked" in x]
    assert len(logged) > 50 and all(LINE.match(x) for x in logged), logged
