"""The [database] settings reach every connection: PostgreSQL's timeouts and keepalives on both
ends (the sync lock's connection too), SQLite's busy timeout; the URL's own values win."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import ConfigError, load_settings
from sync.store import database as db
from sync.store import locks

SMALL = """
[database]
connect_timeout_seconds = 3
statement_timeout_seconds = 4
reply_timeout_seconds = 7
keepalive_idle_seconds = 5
keepalive_interval_seconds = 2
keepalive_count = 4
tcp_user_timeout_seconds = 6
busy_timeout_seconds = 1.5
"""


def _settings(tmp_path: Path, text: str) -> db.Timeouts:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    return db.timeouts(load_settings(config).database)


def _server_settings(conn: object) -> dict[str, str]:
    names = ["statement_timeout", "tcp_keepalives_idle", "tcp_keepalives_interval",
             "tcp_keepalives_count", "tcp_user_timeout"]  # fmt: skip
    return {n: conn.exec_driver_sql(f"SHOW {n}").scalar() for n in names}  # type: ignore[attr-defined]


def test_postgresql_connections_carry_the_timeouts(tmp_path: Path, pg_database: str) -> None:
    timeouts = _settings(tmp_path, SMALL)
    engine = db.make_engine(pg_database, timeouts=timeouts)
    try:
        with engine.connect() as conn:
            assert _server_settings(conn) == {
                "statement_timeout": "4s", "tcp_keepalives_idle": "5",
                "tcp_keepalives_interval": "2", "tcp_keepalives_count": "4",
                "tcp_user_timeout": "6000",
            }  # fmt: skip
            assert conn.connection.dbapi_connection.reply_timeout == 7  # type: ignore[union-attr]
        # The sync lock's own connection waits as the engine's do.
        with locks.acquire(engine, "sync") as held:
            assert held._conn is not None
            assert _server_settings(held._conn)["statement_timeout"] == "4s"
            dbapi = held._conn.connection.dbapi_connection
            assert dbapi.reply_timeout == 7  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_the_urls_own_values_win(tmp_path: Path, pg_database: str) -> None:
    timeouts = _settings(tmp_path, SMALL)
    url = f"{pg_database}?options=-c%20statement_timeout%3D9000"
    engine = db.make_engine(url, timeouts=timeouts)
    try:
        with engine.connect() as conn:
            settings = _server_settings(conn)
            assert settings["statement_timeout"] == "9s" and settings["tcp_user_timeout"] == "6000"
    finally:
        engine.dispose()


def test_the_environment_wins_and_sqlite_gets_its_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIALWATCH_DATABASE__BUSY_TIMEOUT_SECONDS", "2.5")
    timeouts = _settings(tmp_path, SMALL)
    assert timeouts.busy == 2.5 and timeouts.connect == 3
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}", timeouts=timeouts)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
    finally:
        engine.dispose()


def test_a_reply_timeout_under_the_statement_timeout_is_one_line(tmp_path: Path) -> None:
    text = "[database]\nstatement_timeout_seconds = 60\nreply_timeout_seconds = 30\n"
    with pytest.raises(ConfigError) as bad:
        _settings(tmp_path, text)
    assert str(bad.value).endswith(
        "database.reply_timeout_seconds (30) must be longer than "
        "database.statement_timeout_seconds (60), or 0"
    ), str(bad.value)


@pytest.mark.parametrize("value", ["inf", "1e999", "nan", "-inf"])
def test_an_infinite_timeout_is_refused_at_its_line(tmp_path: Path, value: str) -> None:
    """`1e999` is valid TOML (infinity): refused where it stands, not by a later comparison
    that cannot say the line (found by test_a_spoilt_config_says_file_line_and_what)."""
    text = f"[database]\nstatement_timeout_seconds = {value}\n"
    with pytest.raises(ConfigError) as bad:
        _settings(tmp_path, text)
    assert ", line 2" in str(bad.value) and "statement_timeout_seconds" in str(bad.value), str(
        bad.value
    )


def test_migrations_are_not_held_to_a_runs_statement_timeout(pg_database: str) -> None:
    from models import db as dbm
    from tests.support.fixtures import reset_pg

    reset_pg(pg_database)
    # A migration's statement may take longer than a run's may (here: 0.6 s against 0.3 s).
    timeouts = db.Timeouts(statement=0.3, reply=0.5)
    engine = db.make_engine(pg_database, timeouts=timeouts)
    try:
        with engine.begin() as conn, dbm._unhurried(conn):
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
            assert conn.connection.dbapi_connection.reply_timeout is None  # type: ignore[union-attr]
            conn.exec_driver_sql("SELECT pg_sleep(0.6)")
        db.upgrade(engine)
        assert db.current_revision(engine) == dbm.HEAD_REVISION
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "300ms"
            assert conn.connection.dbapi_connection.reply_timeout == 0.5  # type: ignore[union-attr]
    finally:
        engine.dispose()
