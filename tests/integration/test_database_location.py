"""Where the database is when no URL is given, told by `db upgrade` and `status`: data_dir (the
checkout's config.toml says `data`, relative to the config file's folder), else the user's XDG data
folder, $XDG_DATA_HOME/trialwatch or ~/.local/share/trialwatch."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.fixtures import Cli, registry_env


@pytest.fixture
def no_url(cli, tmp_path: Path):  # type: ignore[no-untyped-def]
    cli.env.update(TRIALWATCH_DATABASE_URL="", HOME=str(tmp_path / "home"), XDG_DATA_HOME="")
    cli.env.pop("TRIALWATCH_DATA_DIR", None)
    return cli


def _unfolded(text: str) -> str:
    return "".join(text.split())


def _told(cli, path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{path}"
    upgraded = cli("db", "upgrade")
    # A long path is folded to the terminal's width: read it with the folds undone.
    assert upgraded.exit_code == 0 and _unfolded(upgraded.stdout).endswith(url), upgraded.stdout
    assert path.is_file()
    assert f"database:{url}" in _unfolded(cli("status").stdout)
    assert cli("status", "--json").json()["database"] == url


def test_no_config_means_the_home_data_folder(no_url, tmp_path: Path) -> None:
    _told(no_url, tmp_path / "home" / ".local" / "share" / "trialwatch" / "trialwatch.db")


def test_xdg_data_home_wins_over_home(no_url, tmp_path: Path) -> None:
    no_url.env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    _told(no_url, tmp_path / "xdg" / "trialwatch" / "trialwatch.db")


def test_data_dir_is_relative_to_the_config_file(no_url, tmp_path: Path) -> None:
    no_url.write_config('data_dir = "data"\n')  # as the checkout's config.toml says
    _told(no_url, tmp_path / "data" / "trialwatch.db")


def test_the_environment_wins_over_the_config_file(no_url, tmp_path: Path) -> None:
    no_url.write_config('data_dir = "data"\n')
    no_url.env["TRIALWATCH_DATA_DIR"] = str(tmp_path / "elsewhere")
    _told(no_url, tmp_path / "elsewhere" / "trialwatch.db")


def test_a_url_is_told_without_its_password(pg_database: str, fake_ctgov, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    url = sa.make_url(pg_database).set(password="s3cret-pw")  # trust: any password does
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    env = {"TRIALWATCH_CONFIG": str(config), **registry_env(fake_ctgov)}
    env["TRIALWATCH_DATABASE_URL"] = url.render_as_string(hide_password=False)
    cli = Cli(env, config)
    upgraded, status = cli("db", "upgrade"), cli("status", "--json")
    assert upgraded.exit_code == 0 and status.exit_code == 0
    told = url.render_as_string(hide_password=True)
    assert "***" in told and status.json()["database"] == told
    assert told in _unfolded(upgraded.stdout)
    assert "s3cret-pw" not in upgraded.stdout + status.stdout + cli("status").stdout
