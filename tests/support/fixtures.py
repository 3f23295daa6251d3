"""The suite's pytest plugin: SQLite and PostgreSQL databases (PostgreSQL required on CI), the
fake registry and a client of it, the CLI in-process; missing samples skip (fail on CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import db
from sync.testing.factory import SamplesMissing
from sync.testing.fakectgov import FakeRegistry, serve
from tests.support.receivers import Smtp, Webhook, serve_smtp, serve_webhook

PG_URL = os.environ.get(
    "TRIALWATCH_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ON_CI = bool(os.environ.get("CI"))


def _pg_admin_url() -> sa.URL:
    return sa.make_url(PG_URL)


_pg_state: dict[str, object] = {}


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers; otherwise why not."""
    if "error" not in _pg_state:
        try:
            eng = sa.create_engine(_pg_admin_url(), connect_args={"connect_timeout": 3})
            with eng.connect() as conn:
                conn.execute(sa.text("select 1"))
            eng.dispose()
            _pg_state["error"] = None
        except Exception as exc:  # noqa: BLE001  (any failure means unreachable)
            _pg_state["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    err = _pg_state["error"]
    return None if err is None else str(err)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of our own on the PostgreSQL server, per test worker."""
    problem = _pg_reachable()
    if problem:
        msg = f"PostgreSQL not reachable at {PG_URL}: {problem}"
        if ON_CI:
            pytest.fail(msg + " (CI requires it)")
        pytest.skip(msg)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"trialwatch_test_{worker}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = _pg_admin_url().set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def reset_pg(url: str) -> None:
    eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: every database test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trialwatch.db'}"
    url = request.getfixturevalue("pg_database")
    reset_pg(url)
    return str(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def _samples_missing(exc: SamplesMissing) -> None:
    """Missing samples skip the test with the reason, but fail it under CI, which requires them."""
    if ON_CI:
        pytest.fail(str(exc))
    pytest.skip(str(exc))


# The factory (sync.testing) raises SamplesMissing without knowing pytest: from a fixture
# (setup) or the test body (call), it becomes a skip or a CI failure here.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    except SamplesMissing as exc:
        _samples_missing(exc)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    except SamplesMissing as exc:
        _samples_missing(exc)


@pytest.fixture
def fake_ctgov() -> Iterator[FakeRegistry]:
    with serve() as registry:
        yield registry


@pytest.fixture
def api_settings():  # type: ignore[no-untyped-def]
    from sync.config import ApiSettings

    return ApiSettings(
        requests_per_second=1000,
        timeout_seconds=5,
        max_attempts=4,
        max_retry_seconds=10,
        retry_wait_initial=0.01,
        retry_wait_max=0.05,
    )


@pytest.fixture
def client(fake_ctgov: FakeRegistry, api_settings):  # type: ignore[no-untyped-def]
    from sync.registry.client import CtgovClient

    c = CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, api_settings)
    yield c
    c.close()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):  # type: ignore[no-untyped-def]
        import orjson

        return orjson.loads(self.stdout)


class Cli:
    """Runs the real Typer app in-process against the fake registry and a test database."""

    def __init__(self, env: dict[str, str], config_path: Path) -> None:
        self.env = env
        self.config_path = config_path

    def write_config(self, text: str) -> None:
        self.config_path.write_text(text, encoding="utf-8")

    def __call__(self, *args: str, input: str | None = None) -> CliResult:  # noqa: A002
        from typer.testing import CliRunner

        from sync.cli.app import app

        runner = CliRunner()
        result = runner.invoke(app, list(args), input=input, env=self.env, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)


def registry_env(fake: FakeRegistry) -> dict[str, str]:
    """The environment that points trialwatch at the fake registry, without its polite delays."""
    return {
        "TRIALWATCH_API_URL": fake.base_url,
        "TRIALWATCH_HISTORY_URL": fake.history_url,
        "TRIALWATCH_API__REQUESTS_PER_SECOND": "1000",
        "TRIALWATCH_API__MAX_ATTEMPTS": "4",
        "TRIALWATCH_API__MAX_RETRY_SECONDS": "10",
        "TRIALWATCH_API__RETRY_WAIT_INITIAL": "0.01",
        "TRIALWATCH_API__RETRY_WAIT_MAX": "0.05",
        "TRIALWATCH_API__TIMEOUT_SECONDS": "5",
    }


@pytest.fixture
def cli(db_url: str, fake_ctgov: FakeRegistry, tmp_path: Path) -> Cli:
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    env = {
        "TRIALWATCH_CONFIG": str(config),
        "TRIALWATCH_DATABASE_URL": db_url,
        **registry_env(fake_ctgov),
    }
    return Cli(env, config)


# Local notification receivers (a webhook, an SMTP server) that the daemon and notify tests
# deliver to.
@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with serve_webhook() as hook:
        yield hook


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    with serve_smtp() as server:
        yield server
