"""Concurrency attacks: syncs and CLI commands in several processes on one database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from sync.testing.factory import nct
from tests.chaos import harness, procs
from tests.chaos.harness import ChaosRegistry, Scenario

BUSY = "another sync is running"
SLOW_ANSWERS = 0.03  # drip delay: each answer takes ~0.3 s, so runs overlap for seconds


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _check_sound(engine: Engine) -> None:
    problems = harness.integrity_problems(engine)
    assert problems == [], problems


def simultaneous_syncs(engine: Engine, tmp: Path, n: int = 2) -> dict[str, Any]:
    """n `trialwatch sync` at once: each finishes or says another sync is running."""
    _a1, after2, served, _ = harness.control()
    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        sc = Scenario(fake)
        sc.stage1(engine)
        assert sc.sync(engine, client).outcome == "ok"
        sc.stage2(engine)
        fake.add_fault("drip", times=10_000, delay=SLOW_ANSWERS)
        env = procs.cli_env(fake, _url(engine), tmp)
        started = [procs.spawn(["sync"], env) for _ in range(n)]
        done = [procs.finish(p) for p in started]
        fake.clear_faults()
        for d in done:
            assert not d.forbidden(), d.stderr[-3000:]
            assert d.code == 0 or (d.code == 1 and BUSY in d.stderr), (d.code, d.stderr[-2000:])
        ran = sum(d.code == 0 for d in done)
        refused = sum(d.code == 1 for d in done)
        assert ran >= 1
        _check_sound(engine)
        assert not {h for h in harness.stored_hashes(engine).values() if h not in served}
        assert harness.fingerprint(engine) == after2
        assert sc.sync(engine, client).outcome == "ok"
        assert harness.fingerprint(engine) == after2
    return {
        "table": "concurrency",
        "what": f"{n} x `trialwatch sync` at once",
        "db": engine.dialect.name,
        "result": f"{ran} ran, {refused} said another sync is running",
        "locked errors": 0,
        "versions lost": 0,
        "duplicates": 0,
    }


def _invoke(runner: CliRunner, env: dict[str, str], *args: str) -> tuple[int, str]:
    from sync.cli.app import app

    result = runner.invoke(app, list(args), env=env, catch_exceptions=True)
    text = result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text += f"\nTraceback: {type(result.exception).__name__}: {result.exception}"
    return result.exit_code, text


def cli_while_syncing(engine: Engine, tmp: Path, rounds: int = 6) -> dict[str, Any]:
    """A sync in another process; meanwhile this one adds, removes, syncs and reads."""
    _a1, _after2, served, _ = harness.control()
    runner = CliRunner()
    commands = 0
    syncs = {"ran": 0, "busy": 0}
    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        sc = Scenario(fake)
        sc.stage1(engine)
        assert sc.sync(engine, client).outcome == "ok"
        sc.stage2(engine)
        fake.add_fault("drip", times=10_000, delay=SLOW_ANSWERS)
        env = procs.cli_env(fake, _url(engine), tmp)
        background = procs.spawn(["sync"], env)
        extra = [nct(60 + i) for i in range(rounds)]
        i = 0
        # At least `rounds` rounds, and on until the background sync has finished.
        while i < rounds or background.poll() is None:
            mine = extra[i % rounds]
            steps: list[tuple[tuple[str, ...], tuple[int, ...]]] = [
                (("add", mine, "--json"), (0,)),
                (("list", "--json"), (0,)),
                (("show", nct(2), "--json"), (0,)),
                (("history", nct(5), "--json"), (0,)),
                (("diff", nct(2), "--json"), (0, 2)),  # 2: no second version yet
                (("status", "--json"), (0,)),
                (("remove", mine, "--json"), (0,)),
            ]
            if i % 2 == 1:
                steps.append((("sync", "--json"), (0, 1)))
            for args, codes in steps:
                code, text = _invoke(runner, env, *args)
                commands += 1
                bad = [w for w in procs.FORBIDDEN if w in text]
                assert not bad, f"`trialwatch {' '.join(args)}`: {text[-2000:]}"
                assert code in codes, f"`trialwatch {' '.join(args)}` exited {code}: {text[-2000:]}"
                if args[0] == "sync":
                    if code == 1:
                        assert BUSY in text, text[-2000:]
                    syncs["busy" if code == 1 else "ran"] += 1
            i += 1
            if i > 200:
                break
        done = procs.finish(background)
        fake.clear_faults()
        assert not done.forbidden(), done.stderr[-3000:]
        assert done.code in (0, 1), (done.code, done.stderr[-2000:])
        _check_sound(engine)
        assert not {h for h in harness.stored_hashes(engine).values() if h not in served}
        # Whatever ran in which order, a clean run ends where a quiet one would.
        final = sc.sync(engine, client)
        assert final.outcome == "ok", final.errors
        _check_sound(engine)
    return {
        "table": "concurrency",
        "what": "CLI add/remove/list/show/history/diff/status/sync during a sync",
        "db": engine.dialect.name,
        "result": f"{commands} commands; CLI syncs: {syncs['ran']} ran, {syncs['busy']} busy",
        "locked errors": 0,
        "versions lost": 0,
        "duplicates": 0,
    }


def wait_until(predicate: Any, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _history_moves_on(fake: Any, served: set[str]) -> None:
    """Every history trial gets registry version 3 (a status change), posted today."""
    from sync.core import record
    from sync.testing.factory import with_last_update, with_status

    for n in harness.HISTORY_TRIALS:
        current = with_last_update(with_status(fake.get(n), "ACTIVE_NOT_RECRUITING"), "2026-11-21")
        fake.put(current)
        served.add(record.content_hash(current))
        changes, versions = fake._history[n]  # the fake's own store: append, keep the rest
        versions = {**versions, 3: current}
        changes = [
            *changes,
            {
                "version": 3,
                "date": current["protocolSection"]["statusModule"]["lastUpdateSubmitDate"],
                "status": "ACTIVE_NOT_RECRUITING",
                "moduleLabels": ["Study Status"],
            },
        ]
        fake.set_history(n, changes, versions)
    fake.set_data_timestamp("2026-11-21T09:00:03")


def _backfill_then_sync_state(tmp: Path) -> dict[str, Any]:
    """The control: the same, one after the other, on a database of its own."""
    from models import db as dbm

    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        engine = dbm.make_engine(f"sqlite:///{tmp / 'control.db'}")
        dbm.upgrade(engine)
        hs = harness.HistoryScenario(fake)
        hs.prepare(engine, client)
        _history_moves_on(fake, hs.served)
        assert hs.op(engine, client).outcome == "ok"
        from sync.ingest.run import run_sync

        assert run_sync(engine, client, batch_size=4).outcome == "ok"
        state = harness.fingerprint(engine)
        engine.dispose()
        return state


def backfill_during_sync(engine: Engine, tmp: Path) -> dict[str, Any]:
    """`trialwatch backfill --all` and `trialwatch sync` at once, on the same trials: the
    backfill inserts versions before the polled ones while the sync appends after them."""
    control_dir = tmp / "control"
    control_dir.mkdir()
    expected = _backfill_then_sync_state(control_dir)
    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        hs = harness.HistoryScenario(fake)
        hs.prepare(engine, client)
        _history_moves_on(fake, hs.served)
        fake.add_fault("drip", times=10_000, delay=SLOW_ANSWERS)
        (tmp / "config.toml").write_text("", encoding="utf-8")
        env = procs.cli_env(fake, _url(engine), tmp)
        both = [procs.spawn(["backfill", "--all"], env), procs.spawn(["sync"], env)]
        done = [procs.finish(p) for p in both]
        fake.clear_faults()
        for d in done:
            assert not d.forbidden(), d.stderr[-3000:]
            assert d.code in (0, 1), (d.code, d.stderr[-2000:])
        _check_sound(engine)
        assert not {h for h in harness.stored_hashes(engine).values() if h not in hs.served}
        # A run that met the other one's writes says so (partial) and the next one completes.
        assert hs.op(engine, client).outcome == "ok"
        from sync.ingest.run import run_sync

        assert run_sync(engine, client, batch_size=4).outcome == "ok"
        _check_sound(engine)
        assert harness.fingerprint(engine) == expected
    return {
        "table": "concurrency",
        "what": "`backfill --all` and `sync` at once",
        "db": engine.dialect.name,
        "result": f"backfill exit {done[0].code}, sync exit {done[1].code}",
        "locked errors": 0,
        "versions lost": 0,
        "duplicates": 0,
    }


def sync_meets_open_backfill(engine: Engine, hold: float = 0.8) -> dict[str, Any]:
    """A backfill transaction that has just renumbered a trial's versions stays open; a sync
    that must store a new version of the same trial runs meanwhile. It must wait for it and
    number after it, never fail on the unique (trial, version) constraint."""
    import threading

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from models import Snapshot
    from sync.ingest import backfill as history
    from sync.ingest.run import run_sync

    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        hs = harness.HistoryScenario(fake)
        hs.prepare(engine, client)
        _history_moves_on(fake, hs.served)
        wrote = threading.Event()
        backfiller: dict[str, Any] = {}

        def hold_open(session: Session, _context: Any) -> None:
            if threading.get_ident() != backfiller.get("ident") or wrote.is_set():
                return
            if any(isinstance(o, Snapshot) for o in session.new):
                wrote.set()
                time.sleep(hold)  # the versions are renumbered, not committed yet

        def backfill() -> None:
            backfiller["ident"] = threading.get_ident()
            with harness.make_client(fake) as own:
                backfiller["summary"] = history.backfill(engine, own, [harness.HISTORY_TRIALS[0]])

        event.listen(Session, "after_flush", hold_open)
        try:
            thread = threading.Thread(target=backfill)
            thread.start()
            assert wrote.wait(30), "the backfill wrote nothing"
            summary = run_sync(engine, client, batch_size=4)
            thread.join(60)
        finally:
            event.remove(Session, "after_flush", hold_open)
        assert summary.outcome == "ok", summary.errors
        assert backfiller["summary"].outcome == "ok", backfiller["summary"].errors
        _check_sound(engine)
        assert not {h for h in harness.stored_hashes(engine).values() if h not in hs.served}
    return {
        "table": "concurrency",
        "what": "sync storing a trial a backfill transaction holds",
        "db": engine.dialect.name,
        "result": f"sync {summary.outcome}, backfill {backfiller['summary'].outcome}",
        "locked errors": 0,
        "versions lost": 0,
        "duplicates": 0,
    }


def daemon_with_cli(engine: Engine, tmp: Path, rounds: int = 8) -> dict[str, Any]:
    """The daemon syncing every 0.6 s while the registry changes and the CLI adds, removes,
    syncs and reads on the same database."""
    import signal

    from sync.testing.factory import with_enrollment, with_last_update
    from tests.chaos.crash import DAEMON_SCHEDULE
    from tests.chaos.faults import contents

    runner = CliRunner()
    commands = 0
    syncs = {"ran": 0, "busy": 0}
    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        sc = Scenario(fake)
        sc.stage1(engine)
        assert sc.sync(engine, client).outcome == "ok"
        sc.stage2(engine)
        (tmp / "config.toml").write_text(procs.CONFIG + DAEMON_SCHEDULE, encoding="utf-8")
        env = procs.cli_env(fake, _url(engine), tmp)
        fake.add_fault("drip", times=10_000, delay=SLOW_ANSWERS / 3)
        daemon = procs.spawn(["daemon"], env)
        try:
            for i in range(rounds):
                # The registry moves on: a new data release with one more enrollment change.
                changed = with_enrollment(fake.get(nct(7)), 100 + i, "ESTIMATED")
                fake.put(with_last_update(changed, "2026-11-21"))
                fake.bump()
                mine = nct(70 + i)
                for args, codes in [
                    (("add", mine, "--json"), (0,)),
                    (("list", "--json"), (0,)),
                    (("show", nct(7), "--json"), (0,)),
                    (("history", nct(7), "--json"), (0,)),
                    (("status", "--json"), (0,)),
                    (("sync", "--json"), (0, 1)),
                    (("remove", mine, "--json"), (0,)),
                ]:
                    code, text = _invoke(runner, env, *args)
                    commands += 1
                    bad = [w for w in procs.FORBIDDEN if w in text]
                    assert not bad, f"`trialwatch {' '.join(args)}`: {text[-2000:]}"
                    assert code in codes, f"`trialwatch {' '.join(args)}` exited {code}: {text}"
                    if args[0] == "sync":
                        if code == 1:
                            assert BUSY in text or '"outcome"' in text, text[-2000:]
                        syncs["busy" if BUSY in text else "ran"] += 1
                time.sleep(0.3)
        finally:
            daemon.send_signal(signal.SIGTERM)
            done = procs.finish(daemon)
            fake.clear_faults()
        assert not done.forbidden(), done.stderr[-3000:]
        assert done.code == 0, (done.code, done.stderr[-2000:])
        _check_sound(engine)
        final = sc.sync(engine, client)
        assert final.outcome == "ok", final.errors
        _check_sound(engine)
        repeats = sum(
            1
            for hs in contents(engine).values()
            for a, b in zip(hs, hs[1:], strict=False)
            if a == b
        )
        assert repeats == 0
        with harness.session_scope(engine) as s:
            from sqlmodel import select

            from models import SyncRun

            daemon_runs = len(s.exec(select(SyncRun).where(SyncRun.trigger == "daemon")).all())
        assert daemon_runs >= 1
    return {
        "table": "concurrency",
        "what": "daemon syncing; CLI add/remove/list/show/history/status/sync meanwhile",
        "db": engine.dialect.name,
        "result": f"{commands} commands, {daemon_runs} daemon runs; CLI syncs: "
        f"{syncs['ran']} ran, {syncs['busy']} busy",
        "locked errors": 0,
        "versions lost": 0,
        "duplicates": 0,
    }
