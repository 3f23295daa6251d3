"""A database that cannot be used as it is: one line on stderr, exit 2, never a traceback. The
URLs people type (postgresql://) simply work; a file that is not a database, a schema newer
than this trialwatch and a database this user may only read say so (reads still work)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.db import head_revision
from tests.support.cli import tw
from tests.support.fixtures import reset_pg


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    return {"TRIALWATCH_CONFIG": str(config), "TRIALWATCH_DATABASE_URL": url}


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_urls_as_people_type_them_are_served_by_psycopg(
    tmp_path: Path, pg_database: str, scheme: str
) -> None:
    reset_pg(pg_database)  # the session's database: other tests leave it as they please
    plain = sa.make_url(pg_database).set(drivername=scheme).render_as_string(hide_password=False)
    assert plain.startswith(f"{scheme}://")
    env = _env(tmp_path, plain)
    upgraded = tw("db", "upgrade", "--json", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert '"database": "postgresql+psycopg://' in upgraded.stdout
    assert tw("add", "NCT00000102", env=env).returncode == 0
    listed = tw("list", env=env)
    assert listed.returncode == 0 and "NCT00000102" in listed.stdout, listed.stderr


def test_a_backend_trialwatch_does_not_support_says_so(tmp_path: Path) -> None:
    line = _one_line(tw("list", env=_env(tmp_path, "mysql://user@localhost/tw")))
    assert line == (
        "error: environment variable TRIALWATCH_DATABASE_URL: database_url: trialwatch keeps its "
        "data in SQLite (sqlite:///path/to/trialwatch.db) or PostgreSQL "
        "(postgresql://user@host/dbname); mysql:// is not supported"
    )


def test_a_missing_driver_says_which_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(ImportError):  # the premise: psycopg2 is not a dependency
        __import__("psycopg2")
    line = _one_line(tw("list", env=_env(tmp_path, "postgresql+psycopg2://u@127.0.0.1/x")))
    assert line == (
        "error: the database driver psycopg2 (postgresql+psycopg2://) is not installed: pip "
        "install psycopg2-binary, or use postgresql:// (psycopg 3, installed with trialwatch)"
    )


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping: milk, eggs\n" * 50, encoding="utf-8")
    env = _env(tmp_path, f"sqlite:///{notes}")
    for args in (("list",), ("db", "upgrade")):
        line = _one_line(tw(*args, env=env))
        assert line.startswith(f"error: {notes} is not a SQLite database (file is not a database)")
    assert notes.read_text(encoding="utf-8").startswith("shopping")  # left as it was


def test_a_database_newer_than_this_trialwatch(tmp_path: Path, db_url: str) -> None:
    env = _env(tmp_path, db_url)
    assert tw("db", "upgrade", env=env).returncode == 0
    head = (head_revision() or "")[:4]
    # One number past this trialwatch's head, whatever the head is now.
    future = f"{int(head) + 1:04d}"
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE alembic_version SET version_num = :v"),
            {"v": f"{future}_from_the_future"},
        )
    engine.dispose()
    for args in (("list",), ("db", "upgrade"), ("status", "--json")):
        line = _one_line(tw(*args, env=env))
        assert line == (
            f"error: database schema {future} is newer than this trialwatch ({head}): "
            "upgrade trialwatch"
        )


def _as_a_user(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """trialwatch under file permissions: root (as in a container) gives up the capabilities
    that let it write anything, so a read-only file is read-only to it too."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "running as root: setpriv (util-linux) drops the override capabilities"
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
    return subprocess.run(
        [*prefix, sys.executable, "-c", "from sync.cli.app import main; main()", *args],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "80", **env}, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_database_reads_and_refuses_writes_in_one_line(
    tmp_path: Path, what: str
) -> None:
    path = tmp_path / "data" / "trialwatch.db"
    env = _env(tmp_path, f"sqlite:///{path}")
    assert tw("add", "NCT00000102", env=env).returncode == 0
    assert not Path(f"{path}-wal").exists()  # closed cleanly: the folder case reads the file
    locked = path if what == "file" else path.parent
    mode = locked.stat().st_mode
    locked.chmod(0o444 if what == "file" else 0o555)
    try:
        listed = _as_a_user("list", env=env)
        assert listed.returncode == 0, listed.stderr
        assert "NCT00000102" in listed.stdout and listed.stderr == ""
        shown = _as_a_user("status", "--json", env=env)
        assert shown.returncode == 0, shown.stderr
        line = _one_line(_as_a_user("add", "NCT00000103", env=env))
        assert line == (
            "error: this command writes to the database, which is read-only for this user "
            "(attempt to write a readonly database); commands that only read still work"
        )
    finally:
        locked.chmod(mode)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM trial").fetchone() == (1,)


def test_a_read_only_database_that_needs_an_upgrade_says_so(tmp_path: Path) -> None:
    path = tmp_path / "trialwatch.db"
    env = _env(tmp_path, f"sqlite:///{path}")
    assert tw("db", "upgrade", env=env).returncode == 0
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    path.chmod(0o444)
    line = _one_line(_as_a_user("list", env=env))
    assert line.startswith(
        f"error: the database needs upgrading (schema 0001, this trialwatch is at "
        f"{(head_revision() or '')[:4]}) but {path} is read-only for this user: run trialwatch "
        "db upgrade as a user who may write it"
    ), line


def test_a_read_only_postgresql_database_reads_and_refuses_writes(
    tmp_path: Path, pg_database: str
) -> None:
    reset_pg(pg_database)
    env = _env(tmp_path, pg_database)
    assert tw("add", "NCT00000102", env=env).returncode == 0
    # A standby, or a role whose transactions are read-only: what the server says is kept.
    read_only = {**env, "PGOPTIONS": "-c default_transaction_read_only=on"}
    listed = tw("list", env=read_only)
    assert listed.returncode == 0 and "NCT00000102" in listed.stdout, listed.stderr
    line = _one_line(tw("add", "NCT00000103", env=read_only))
    assert line == (
        "error: this command writes to the database, which is read-only for this user "
        "(cannot execute INSERT in a read-only transaction); commands that only read still work"
    )


@pytest.mark.parametrize("url", ["postgresql+asyncpg://u@127.0.0.1/x", "sqlite+aiosqlite:///x.db"])
def test_an_asyncio_driver_says_to_use_the_plain_url(tmp_path: Path, url: str) -> None:
    line = _one_line(tw("list", env=_env(tmp_path, url)))
    assert line == (
        f"error: {url.split('://')[0]}:// is an asyncio driver and trialwatch needs a synchronous "
        "one: use sqlite:///path/to/trialwatch.db or postgresql://user@host/dbname"
    )
