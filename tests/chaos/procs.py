"""trialwatch in other processes: the CLI (with its kill switch) against the fake registry."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sync.testing.fakectgov import FakeRegistry
from tests.chaos.harness import WATCH, api_env, chaos_api
from tests.support import PROJECT_ROOT

CONFIG = f"""
[[watches]]
name = "{WATCH.name}"
titles = "{WATCH.titles}"
"""

# What the user must never see from a concurrent or interrupted trialwatch.
FORBIDDEN = ("Traceback", "database is locked", "IntegrityError", "UniqueViolation", "deadlock")


def cli_env(fake: FakeRegistry, db_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    config = tmp / "config.toml"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIALWATCH_", "TW_KILL"))}
    env.update(
        {
            "TRIALWATCH_CONFIG": str(config),
            "TRIALWATCH_DATABASE_URL": db_url,
            "TRIALWATCH_API_URL": fake.base_url,
            "TRIALWATCH_HISTORY_URL": fake.history_url,
            "COLUMNS": "200",
            **api_env(chaos_api()),
        }
    )
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """`trialwatch ARGS` in a new process (with the kill switch of chaos.killhook)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.chaos.killhook", *args],
        env=env,
        cwd=PROJECT_ROOT,  # -m finds the tests package here
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str

    def forbidden(self) -> list[str]:
        return [w for w in FORBIDDEN if w in self.stdout or w in self.stderr]


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> Finished:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"trialwatch did not finish within {timeout}s: {err[-2000:]}"
        ) from None
    return Finished(proc.returncode, out, err)


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> Finished:
    return finish(spawn(args, env), timeout)
