"""Errors a user can cause: one line, once, naming the cause and what to do."""

from __future__ import annotations

import re

import pytest

from sync.testing.factory import make_study, nct
from tests.support.cli import tw


@pytest.mark.parametrize("url", ["garbage", "nosuchdb://host/x", "postgresql://user:s3cret@:bad"])
def test_bad_database_url_is_one_line_naming_the_variable(tmp_path, url: str) -> None:
    (tmp_path / "config.toml").write_text("")
    done = tw(
        "list",
        env={"TRIALWATCH_DATABASE_URL": url, "TRIALWATCH_CONFIG": str(tmp_path / "config.toml")},
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: environment variable TRIALWATCH_DATABASE_URL: ")
    assert "expected a SQLAlchemy URL such as sqlite:///" in lines[0]
    assert "s3cret" not in lines[0]


def test_bad_database_url_in_the_file_names_the_file_and_line(cli) -> None:
    cli.write_config('trials = []\ndatabase_url = "garbage"\n')
    env = dict(cli.env)
    del env["TRIALWATCH_DATABASE_URL"]
    cli.env = env
    r = cli("list")
    assert r.exit_code == 2
    assert f"{cli.config_path}, line 2: database_url: not a database URL" in r.stderr


def test_bad_environment_value_is_blamed_on_the_variable(cli) -> None:
    cli.write_config("[api]\nrequests_per_second = 2\n")
    cli.env = {**cli.env, "TRIALWATCH_API__REQUESTS_PER_SECOND": "abc"}
    r = cli("list")
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        "error: environment variable TRIALWATCH_API__REQUESTS_PER_SECOND: "
        "api.requests_per_second: Input should be a valid number, unable to parse string as a "
        "number"
    )
    assert str(cli.config_path) not in r.stderr
    # The same bad value in the file is the file's, with its line.
    del cli.env["TRIALWATCH_API__REQUESTS_PER_SECOND"]
    cli.write_config('[api]\nrequests_per_second = "abc"\n')
    r = cli("list")
    assert r.exit_code == 2 and f"{cli.config_path}, line 2: api.requests_per_second" in r.stderr


def _env(cli) -> dict[str, str]:
    return {**cli.env, "TRIALWATCH_API__MAX_ATTEMPTS": "3"}


def test_retries_say_what_when_which_attempt_and_why(cli, fake_ctgov) -> None:
    closed = "http://127.0.0.1:9/api/v2"  # the discard port: nothing listens there
    done = tw("sync", env={**_env(cli), "TRIALWATCH_API_URL": closed})
    assert done.returncode == 1
    retries = [line for line in done.stderr.splitlines() if "retrying" in line]
    assert len(retries) == 2, done.stderr
    assert re.search(
        r"WARNING sync\.registry\.client: retrying GET /version in \d+\.\d s \(attempt 2 of 3\): "
        r"cannot reach 127\.0\.0\.1$",
        retries[0],
    ), retries[0]
    assert "(attempt 3 of 3)" in retries[1]
    assert "stamina.retry_scheduled" not in done.stderr


def test_a_failed_watch_is_reported_once(cli, fake_ctgov) -> None:
    assert cli("watch", "add", "w", "--term", "CAR-NK", "--no-track").exit_code == 0
    fake_ctgov.add_fault("status", status=500, times=100, path="/api/v2/studies")
    for args in (("watch", "run", "w"), ("sync",)):
        done = tw(*args, env=_env(cli))
        assert done.returncode == 1
        both = done.stdout + done.stderr
        reports = [x for x in both.splitlines() if "HTTP 500" in x and "retrying" not in x]
        assert len(reports) == 1, both


def test_a_run_error_is_printed_once_and_short(cli, fake_ctgov) -> None:
    ids = [nct(i) for i in range(1, 31)]
    for i in ids:
        fake_ctgov.put(make_study(i))
    cli("add", *ids)
    fake_ctgov.add_fault("status", status=503, times=100, path="/api/v2/studies")
    done = tw("sync", env=_env(cli))
    assert done.returncode == 1
    both = done.stdout + done.stderr
    # An error wraps at 80 columns, its continuation indented under it: one error, joined.
    joined = re.sub(r"\n {4}(?=\S)", " ", both)
    errors = [line for line in joined.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, both
    assert errors[0].strip().startswith(f"error: batch of 30 trials ({ids[0]}…): HTTP 503 from ")
    assert "/api/v2/studies (30 IDs)" in errors[0]
    assert ids[-1] not in both  # the batch's IDs are counted, not listed
    assert len(errors[0]) < 200


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("garbage", "not a URL (no scheme://); fix it in notify.urls or TRIALWATCH_NOTIFY_URLS"),
        ("nosuch://host/x", "apprise knows no service nosuch://; fix it in notify.urls"),
        ("json://", "apprise cannot read this json:// URL"),
    ],
)
def test_notify_test_with_a_bad_url_says_what_and_what_to_do(cli, url: str, says: str) -> None:
    cli.env = {**cli.env, "TRIALWATCH_NOTIFY_URLS": url}
    r = cli("notify", "test")
    assert r.exit_code == 1
    # One message, wrapped to the width: its continuation lines are indented under it.
    lines = r.stdout.strip().splitlines()
    flat = " ".join(r.stdout.split())
    assert flat.startswith("failed: notification URL #1: ") and says in flat
    assert flat.count("apprise URL") <= 1  # said once, not as label and error both
    assert all(line.startswith("  ") for line in lines[1:])


@pytest.mark.parametrize("fmt", ["html", "md", "atom"])
def test_digest_json_with_another_format_is_a_usage_error(cli, fmt: str) -> None:
    r = cli("digest", "--json", "--format", fmt)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == (
        f"error: --json prints the JSON digest; --format {fmt} asks for another: give one of them"
    )
    # --json with --format json agrees, and either alone works.
    assert cli("digest", "--json", "--format", "json").exit_code == 0
    assert cli("digest", "--format", fmt).exit_code == 0
