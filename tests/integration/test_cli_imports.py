"""Each command imports only what it uses: a command that starts importing a library it does
not need fails here, so the start-up `python -m bench.cli` measures cannot rot unseen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models import db
from sync.store.snapshots import get_trial
from sync.testing.factory import nct, with_status
from sync.testing.scope import bulk_scope, small_study, store_update

# Libraries of one command or a few (export, serve, daemon, digest, sync, db upgrade), each a
# tenth of a second of CPU or more, or the tables of one.
HEAVY = (
    "alembic",
    "apprise",
    "apscheduler",
    "duckdb",
    "fastapi",
    "ftfy",
    "httpx",
    "jinja2",
    "pyarrow",
    "starlette",
    "uvicorn",
    "wcwidth",
)
# What reading the database costs: `--version` needs none of it, nor any command's module.
DATABASE = ("sqlalchemy", "sqlmodel", "pydantic", "pydantic_settings", "models", "sync.config")

# The command through the app in a fresh interpreter; the names of the modules it imported.
CHILD = """
import contextlib, io, json, sys
from sync.cli.app import app
out, args = sys.argv[1], sys.argv[2:]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = app(args, standalone_mode=False, prog_name="trialwatch")
    except SystemExit as exc:
        code = exc.code
with open(out, "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite database with three stored trials (the first with a version 2) and an
    empty config."""
    tmp = tmp_path_factory.mktemp("imports")
    url = f"sqlite:///{tmp / 'trialwatch.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    bulk_scope(engine, 3, watch="scope", first=1)
    with db.session_scope(engine) as session:
        trial = get_trial(session, nct(1))
        assert trial is not None
        assert store_update(session, trial, with_status(small_study(nct(1)), "COMPLETED")) > 0
    engine.dispose()
    (tmp / "config.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env.update(TRIALWATCH_CONFIG=str(tmp / "config.toml"), TRIALWATCH_DATABASE_URL=url)
    return env


def imported(env: dict[str, str], tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", CHILD, str(out), *args], env=env, check=True, timeout=120
    )
    done = json.loads(out.read_text())
    assert done["code"] in (0, None), (args, done["code"])
    return set(done["modules"])


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


def test_version_imports_no_database_and_no_command(home: dict[str, str], tmp_path: Path) -> None:
    modules = imported(home, tmp_path, "--version")
    assert _loaded(modules, HEAVY + DATABASE) == []
    commands = {f"sync.cli.{m}" for m in ("trials", "runs", "watch", "daemon", "backfill")}
    commands |= {"sync.cli.export", "sync.cli.web"}
    assert sorted(commands & modules) == []


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("list", "--json"),
        ("show", nct(1), "--json"),
        ("history", nct(1)),
        ("diff", nct(1), "--json"),
        ("watch", "list"),
        ("watch", "members", "scope", "--json"),
        ("watch", "events", "scope"),
        ("status",),
    ],
    ids=" ".join,
)
def test_a_read_command_imports_no_heavy_library(
    home: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    modules = imported(home, tmp_path, *args)
    allowed = ("apscheduler",) if args[0] == "status" else ()  # the schedule's next runs
    assert _loaded(modules, tuple(h for h in HEAVY if h not in allowed)) == []
    assert "sync.cli.trials" in modules or args[0] != "list"


def test_a_command_imports_what_it_uses(home: dict[str, str], tmp_path: Path) -> None:
    """The check sees an import: the digest renders with Jinja2, and only it of the heavy."""
    modules = imported(home, tmp_path, "digest", "--since", "30d")
    assert _loaded(modules, HEAVY) == ["jinja2"]
