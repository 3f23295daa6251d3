"""Input at scale: 10,000 IDs in one argument, in a file and on standard input; a first sync of
10,000 IDs the registry does not know (progress in a pipe); a watch with a 100 KB query; more
watches than max_watches. The CLI in its own process, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from models import Trial, Watch
from models.db import session_scope
from sync.testing.factory import nct
from sync.testing.fakectgov import FakeRegistry, serve
from tests.chaos import procs
from tests.support import PROJECT_ROOT

N = 10_000
IDS = [nct(i) for i in range(1, N + 1)]
# The 100 KB query.
HUGE = "cancer OR " * 10_000 + "x"
# An error line a user can read: far from the 120,078 characters once echoed.
MOST_CHARS = 300

pytestmark = pytest.mark.slow
KINDS = ("sqlite", "postgresql")


def _env(fake: FakeRegistry, engine: sa.Engine, tmp: Path, config: str = "", **extra: str) -> Any:
    path = tmp / "config.toml"
    path.write_text(config, encoding="utf-8")  # before cli_env, which keeps an existing one
    url = engine.url.render_as_string(hide_password=False)
    return procs.cli_env(fake, url, tmp, **extra)


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> procs.Finished:
    done = subprocess.run(
        [sys.executable, "-m", "tests.chaos.killhook", *args],
        env=env,
        cwd=PROJECT_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return procs.Finished(done.returncode, done.stdout, done.stderr)


def _tracked(engine: sa.Engine) -> int:
    with session_scope(engine) as s:
        return int(s.exec(select(func.count()).select_from(Trial)).one())


def _one_line(done: procs.Finished, code: int = 2) -> str:
    assert done.code == code, (done.code, done.stdout[-500:], done.stderr[-2000:])
    assert not done.forbidden(), done.stderr[-2000:]
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, lines[:5]
    assert len(lines[0]) <= MOST_CHARS, lines[0][:500]
    return lines[0]


def _row(attack: str, engine: sa.Engine, done: procs.Finished, held: str) -> dict[str, Any]:
    return {
        "table": "scale",
        "attack": attack,
        "database": engine.dialect.name,
        "exit": done.code,
        "stderr chars": len(done.stderr.strip()),
        "what held": held,
    }


# -- 10,000 IDs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind_engine", KINDS, indirect=True)
@pytest.mark.parametrize(
    "shape", ["one argument", "one argument, 40 bad", "one argument, | between", "file", "stdin"]
)
def test_add_10000_ids(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any, shape: str
) -> None:
    ids = list(IDS)
    if "bad" in shape:
        for i in range(249, N, 250):
            ids[i] = f"NCT{i:07d}"  # 7 digits: 40 of them, the first at position 250
    stdin = None
    if shape == "file":
        ids_file = tmp_path / "ids.txt"
        ids_file.write_text("# exported from the registry\n" + "\n".join(ids) + "\n")
        args = ["add", "--from", str(ids_file)]
    elif shape == "stdin":
        stdin = " ".join(ids)
        args = ["add", "--from", "-"]
    else:
        args = ["add", ("|" if "|" in shape else ",").join(ids)]
    with serve() as fake:
        done = _run([*args, "--no-backfill"], _env(fake, kind_engine, tmp_path), stdin)
    if "bad" in shape:
        line = _one_line(done)
        assert "40 of 10,000 IDs are not NCT IDs" in line and "'NCT0000249'" in line, line
        held = "exit 2, first bad ID and the count, nothing added"
        assert _tracked(kind_engine) == 0
    elif "|" in shape:
        line = _one_line(done)
        assert f"invalid NCT ID '{IDS[0]}|{IDS[1]}|" in line and "…'" in line, line
        held = "exit 2, the argument cut short, nothing added"
        assert _tracked(kind_engine) == 0
    else:
        assert done.code == 0, done.stderr[-2000:]
        assert len(done.stdout.splitlines()) < 40, "past 20 IDs the output counts the rest"
        assert _tracked(kind_engine) == N
        held = "10,000 tracked, a short summary"
    record_property("chaos", _row(f"add 10,000 IDs: {shape}", kind_engine, done, held))


@pytest.mark.parametrize("kind_engine", ["sqlite"], indirect=True)
def test_first_sync_of_10000_unknown_ids_shows_progress_in_a_pipe(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any
) -> None:
    with serve() as fake:
        env = _env(fake, kind_engine, tmp_path)
        assert _run(["add", "--from", "-", "--no-backfill"], env, " ".join(IDS)).code == 0
        # 10,050 requests (each unknown ID is asked for alone after its batch): a pipe hears of
        # them every progress_seconds.
        env.update(
            TRIALWATCH_PROGRESS_SECONDS="1",
            TRIALWATCH_API__BATCH_SIZE="200",
            TRIALWATCH_API__PAGE_SIZE="200",
        )
        proc = procs.spawn(["sync"], env)
        started = time.monotonic()
        seen: list[tuple[float, str]] = []

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                if " IDs asked" in line:
                    seen.append((time.monotonic() - started, line.strip()))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # Four lines at progress_seconds 1 take about 5 s; a silent sync is given 60.
        while len(seen) < 4 and proc.poll() is None and time.monotonic() - started < 60:
            time.sleep(0.1)
        proc.terminate()
        proc.wait(timeout=60)
        reader.join(timeout=10)
    assert len(seen) >= 4, seen
    counts = [int(text.split()[1].replace(",", "")) for _, text in seen]
    assert counts == sorted(counts) and counts[-1] > counts[0], seen
    assert all(f"of {N:,} IDs asked" in text and "ETA " in text for _, text in seen), seen
    gaps = [b - a for (a, _), (b, _) in zip(seen, seen[1:], strict=False)]
    row = {
        "table": "scale",
        "attack": "first sync of 10,000 unknown IDs, stderr a pipe",
        "database": "sqlite",
        "exit": "stopped after 4 lines",
        "stderr chars": sum(len(t) for _, t in seen),
        "what held": f"first line at {seen[0][0]:.1f} s, then every {max(gaps):.1f} s at most "
        f"(progress_seconds 1): {seen[-1][1]}",
    }
    record_property("chaos", row)


# -- watches ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind_engine", KINDS, indirect=True)
@pytest.mark.parametrize("command", [["watch", "run"], ["sync"], ["watch", "list"]])
def test_a_100_kb_query_in_the_config(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any, command: list[str]
) -> None:
    config = f'[[watches]]\nname = "big"\nterm = "{HUGE}"\n'
    with serve() as fake:
        done = _run(command, _env(fake, kind_engine, tmp_path, config))
        asked = fake.count()
    line = _one_line(done)
    assert "watch 'big': its query is 100,001 characters long" in line, line
    assert "cancer OR" not in line and asked == 0
    held = "exit 2 at load, its length not its text, no request"
    record_property("chaos", _row(f"100 KB query, {' '.join(command)}", kind_engine, done, held))


@pytest.mark.parametrize("kind_engine", KINDS, indirect=True)
def test_a_stored_100_kb_watch_fails_alone(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any
) -> None:
    with session_scope(kind_engine) as s:
        s.add(Watch(name="big", params={"term": HUGE}, track=True, source="cli"))
        s.add(Watch(name="small", params={"term": "lymphoma"}, track=True, source="cli"))
    with serve() as fake:
        done = _run(["watch", "run"], _env(fake, kind_engine, tmp_path))
    assert done.code == 1, (done.code, done.stderr[-2000:])
    assert not done.forbidden() and len(done.stderr) < MOST_CHARS, done.stderr[-2000:]
    big = [x for x in done.stdout.splitlines() if x.startswith("watch big")]
    assert len(big) == 1 and "100,001 characters" in big[0] and "cancer OR" not in big[0], big
    assert "watch small: ok" in done.stdout, done.stdout
    held = "that watch failed in one line, the other ran"
    record_property("chaos", _row("100 KB query stored before the limit", kind_engine, done, held))


@pytest.mark.parametrize("kind_engine", KINDS, indirect=True)
@pytest.mark.parametrize("how", ["config", "watch add"])
def test_too_many_watches(
    kind_engine: sa.Engine, tmp_path: Path, record_property: Any, how: str
) -> None:
    many = 101 if how == "config" else 100
    config = "".join(f'[[watches]]\nname = "w{i}"\nterm = "t{i}"\n' for i in range(many))
    with serve() as fake:
        env = _env(fake, kind_engine, tmp_path, config)
        if how == "config":
            done = _run(["watch", "list"], env)
            line = _one_line(done)
            assert "101 watches declared, more than max_watches (100)" in line, line
        else:
            done = _run(["watch", "add", "one-more", "--term", "x"], env)
            line = _one_line(done)
            assert "already 100 watches" in line and "max_watches" in line, line
        asked = fake.count()
    assert asked == 0
    with session_scope(kind_engine) as s:
        assert s.exec(select(Watch).where(Watch.name == "one-more")).first() is None
    held = "exit 2, one line saying the bound"
    attack = f"{many if how == 'config' else many + 1} watches ({how})"
    record_property("chaos", _row(attack, kind_engine, done, held))
