"""Errors a user can cause: one line, once, naming the cause and what to do."""

from __future__ import annotations

import pytest
from test_cli_help import tw


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
