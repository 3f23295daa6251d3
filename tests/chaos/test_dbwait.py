"""A database that goes silent or cuts under a sync: the run ends failed within the configured
bound, with the reason in words, stores nothing half, and the next run completes it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models import db as dbm
from sync.ingest.run import run_sync
from sync.testing.dbproxy import DbProxy
from tests.chaos import dbwait as dw
from tests.chaos.harness import make_client
from tests.chaos.procs import cli_env, run
from tests.support.fixtures import reset_pg

pytestmark = pytest.mark.slow

# Where a run ends under a silent database: the reply timeout (2 s) on the statement, a
# connect timeout (2 s) when its end cannot be written, 2 s for the lock's last word, start-up.
BOUND = 30.0


def _row(what: str, kind: str, **values: Any) -> dict[str, Any]:
    return {"table": "database", "database": kind, "fault": what, **values}


@pytest.fixture
def pg(pg_database: str) -> Iterator[str]:
    reset_pg(pg_database)
    direct = dbm.make_engine(pg_database)
    dbm.upgrade(direct)
    direct.dispose()
    yield pg_database


@pytest.fixture
def proxy() -> Iterator[DbProxy]:
    with DbProxy() as p:
        yield p


@pytest.fixture
def fake() -> Iterator[dw.HookedRegistry]:
    with dw.HookedRegistry() as registry:
        yield registry


def _env(fake: Any, url: str, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    return cli_env(fake, url, tmp_path, XDG_STATE_HOME=str(tmp_path / "state"), **dw.small_env())


def test_silent_database_under_the_cli_sync(
    pg: str, proxy: DbProxy, fake: dw.HookedRegistry, tmp_path: Path, record_property: Any
) -> None:
    direct = dbm.make_engine(pg)
    dw.stage1(fake, direct)
    env = _env(fake, proxy.url_for(pg), tmp_path)
    first = run(["sync"], env)
    assert first.code == 0, first.stderr
    dw.stage2(fake)
    # The second page of new versions is fetched with the database already silent.
    fake.arm(2, proxy.silent)
    start = time.monotonic()
    lost = run(["sync"], env, timeout=BOUND + 30)
    took = time.monotonic() - start
    lines = lost.stderr.strip().splitlines()
    assert lost.code == 1 and len(lines) == 1, lost.stderr
    assert "database was lost mid-run" in lines[0] and "no answer" in lines[0], lines[0]
    assert not lost.forbidden(), lost.stderr
    assert took < BOUND, took
    half = dw.stored(direct, fake)
    assert half.problems == []
    assert [r.outcome for r in dw.runs(direct)] == ["ok", "running"]  # it could not say so

    proxy.resume()
    dw.wait_for_lock_free(direct)
    again = run(["sync"], env)
    assert again.code == 0, again.stderr
    after = dw.stored(direct, fake)
    runs = dw.runs(direct)
    assert [r.outcome for r in runs] == ["ok", "failed", "ok"]
    # Recorded by the next run as the database error it was, not as a killed process.
    assert runs[1].errors and runs[1].errors[-1].startswith("database error: no answer"), runs[1]
    assert after.problems == [] and after.current == len(dw.TRIALS)
    assert after.lost(2) == 0 and after.duplicated(2) == 0, after.versions
    direct.dispose()
    record_property(
        "chaos",
        _row("silent mid-run (cli sync)", "postgresql", **{
            "ended": f"failed in {took:.1f}s, exit 1",
            "reason": "one line; stored by the next run",
            "next run": "ok", "versions lost": after.lost(2),
            "duplicates": after.duplicated(2),
        }),
    )  # fmt: skip


def _at_nth_snapshot(engine: Engine, n: int, act: Any) -> None:
    """act() right after the n-th INSERT of snapshot rows, its transaction still open."""
    seen = 0

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal seen
        if statement.lstrip().upper().startswith("INSERT INTO SNAPSHOT"):
            seen += 1
            if seen == n:
                act()


@pytest.mark.parametrize("fault", ["silent", "cut"])
def test_database_fault_mid_transaction(
    pg: str,
    proxy: DbProxy,
    fake: dw.HookedRegistry,
    fault: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Any,
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    direct = dbm.make_engine(pg)
    dw.stage1(fake, direct)
    engine = dbm.make_engine(proxy.url_for(pg), timeouts=dw.small_timeouts())
    with make_client(fake) as client:
        assert run_sync(engine, client, batch_size=4).outcome == "ok"
        dw.stage2(fake)
        # The second page of new versions is being written when the database goes.
        _at_nth_snapshot(engine, 2, getattr(proxy, fault))
        start = time.monotonic()
        with pytest.raises(sa.exc.OperationalError) as lost:
            run_sync(engine, client, batch_size=4)
        took = time.monotonic() - start
        assert took < BOUND
        notes = getattr(lost.value, "__notes__", [])
        assert notes and "failed; the next sync fetches what was missed" in notes[-1]
        half = dw.stored(direct, fake)
        assert half.problems == []
        # A cut database answers again at once: the run wrote its own end. A silent one
        # does not: the next run writes it from the note the run left.
        expect = "failed" if fault == "cut" else "running"
        assert [r.outcome for r in dw.runs(direct)] == ["ok", expect]
        proxy.resume()
        dw.wait_for_lock_free(direct)
        assert run_sync(engine, client, batch_size=4).outcome == "ok"
    runs = dw.runs(direct)
    assert [r.outcome for r in runs] == ["ok", "failed", "ok"]
    assert runs[1].errors and runs[1].errors[-1].startswith("database error: "), runs[1].errors
    assert "ended mid-run" not in " ".join(runs[1].errors)
    after = dw.stored(direct, fake)
    assert after.problems == [] and after.current == len(dw.TRIALS)
    assert after.lost(2) == 0 and after.duplicated(2) == 0, after.versions
    engine.dispose()
    direct.dispose()
    record_property(
        "chaos",
        _row(f"{fault} mid-transaction (sync)", "postgresql", **{
            "ended": f"failed in {took:.1f}s",
            "reason": runs[1].errors[-1][:40],
            "next run": "ok", "versions lost": after.lost(2),
            "duplicates": after.duplicated(2),
        }),
    )  # fmt: skip


def test_sqlite_locked_longer_than_the_busy_timeout(
    fake: dw.HookedRegistry, tmp_path: Path, record_property: Any
) -> None:
    path = tmp_path / "trialwatch.db"
    url = f"sqlite:///{path}"
    engine = dbm.make_engine(url)
    dbm.upgrade(engine)
    dw.stage1(fake, engine)
    engine.dispose()
    env = _env(fake, url, tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding its lock
    try:
        start = time.monotonic()
        locked = run(["sync"], env, timeout=60)
        took = time.monotonic() - start
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    lines = locked.stderr.strip().splitlines()
    assert locked.code == 1 and len(lines) == 1, locked.stderr
    assert "busy" in lines[0] and "busy_timeout_seconds" in lines[0], lines[0]
    assert not locked.forbidden(), locked.stderr
    assert took < BOUND
    later = run(["sync"], env)
    assert later.code == 0, later.stderr
    record_property(
        "chaos",
        _row("locked by another writer", "sqlite", **{
            "ended": f"failed in {took:.1f}s, exit 1", "reason": "one line",
            "next run": "ok", "versions lost": 0, "duplicates": 0,
        }),
    )  # fmt: skip


DAEMON_SCHEDULE = """
[schedule]
check_minutes = 0.01          # every 0.6 s
full_sync_cron = "0 0 1 1 *"  # not during the test
digest_cron = "0 0 1 1 *"
"""


def test_silent_database_under_the_daemon(
    pg: str, proxy: DbProxy, fake: dw.HookedRegistry, tmp_path: Path, record_property: Any
) -> None:
    direct = dbm.make_engine(pg)
    dw.stage1(fake, direct)
    env = _env(fake, proxy.url_for(pg), tmp_path)
    assert run(["sync"], env).code == 0
    (tmp_path / "config.toml").write_text(DAEMON_SCHEDULE, encoding="utf-8")
    dw.stage2(fake)
    fake.arm(2, proxy.silent)
    start = time.monotonic()
    daemon = run(["daemon"], env, timeout=BOUND + 30)
    took = time.monotonic() - start
    # Its sync fails; then its leader lock's connection does not answer either: it stops
    # rather than lead without knowing whether it still holds the lock (a supervisor restarts it).
    assert daemon.code == 1, daemon.stderr[-3000:]
    assert "lost the single-leader lock" in daemon.stderr, daemon.stderr[-3000:]
    assert "Traceback" not in daemon.stderr, daemon.stderr[-3000:]
    # Each line of its log says what happened, the driver's words first (not the ORM's).
    failed_lines = [line for line in daemon.stderr.splitlines() if " failed: " in line]
    assert failed_lines and all("failed: database error: no answer" in x for x in failed_lines)
    assert "sqlalche.me" not in daemon.stderr, daemon.stderr[-3000:]
    assert took < BOUND, took
    assert dw.stored(direct, fake).problems == []

    proxy.resume()
    dw.wait_for_lock_free(direct)
    again = run(["sync"], env)
    assert again.code == 0, again.stderr
    runs = dw.runs(direct)
    assert [r.outcome for r in runs][-1] == "ok" and "running" not in [r.outcome for r in runs]
    failed = [r for r in runs if r.outcome == "failed"]
    assert failed and all(r.errors[-1].startswith("database error: ") for r in failed), [
        r.errors for r in failed
    ]
    after = dw.stored(direct, fake)
    assert after.problems == [] and after.current == len(dw.TRIALS)
    assert after.lost(2) == 0 and after.duplicated(2) == 0, after.versions
    direct.dispose()
    record_property(
        "chaos",
        _row("silent mid-run (daemon)", "postgresql", **{
            "ended": f"stopped in {took:.1f}s, exit 1",
            "reason": f"{len(failed)} failed runs stored",
            "next run": "ok", "versions lost": after.lost(2),
            "duplicates": after.duplicated(2),
        }),
    )  # fmt: skip


def test_cut_between_pages_under_the_cli_sync(
    pg: str, proxy: DbProxy, fake: dw.HookedRegistry, tmp_path: Path, record_property: Any
) -> None:
    direct = dbm.make_engine(pg)
    dw.stage1(fake, direct)
    env = _env(fake, proxy.url_for(pg), tmp_path)
    assert run(["sync"], env).code == 0
    dw.stage2(fake)
    fake.arm(2, proxy.cut)
    start = time.monotonic()
    cut = run(["sync"], env, timeout=BOUND + 30)
    took = time.monotonic() - start
    # Between two pages no transaction is open: the pool's next checkout finds the connection
    # gone and makes a new one, and the run goes on to the end.
    assert cut.code == 0 and not cut.forbidden(), cut.stderr
    after = dw.stored(direct, fake)
    assert [r.outcome for r in dw.runs(direct)] == ["ok", "ok"]
    assert after.problems == [] and after.current == len(dw.TRIALS)
    assert after.lost(2) == 0 and after.duplicated(2) == 0, after.versions
    direct.dispose()
    record_property(
        "chaos",
        _row("cut between pages (cli sync)", "postgresql", **{
            "ended": f"ok in {took:.1f}s, exit 0", "reason": "reconnected",
            "next run": "-", "versions lost": after.lost(2),
            "duplicates": after.duplicated(2),
        }),
    )  # fmt: skip
