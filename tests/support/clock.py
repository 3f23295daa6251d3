"""trialwatch in a process whose clock is off: libfaketime (Debian's `faketime`, which
`make prereqs` installs) shifts the wall clock of the command it starts.

The monotonic clocks are left true (FAKETIME_DONT_FAKE_MONOTONIC): a wall clock set wrong, or
one that jumps, leaves them alone too, and that is the fault these tests reproduce.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# TRIALWATCH_FAKETIME names another faketime binary.
FAKETIME = os.environ.get("TRIALWATCH_FAKETIME", "faketime")


def faketime() -> str:
    found = shutil.which(FAKETIME)
    if found is None:
        raise AssertionError(
            f"{FAKETIME} is not installed: run 'make prereqs' as root (apt-get install faketime)"
        )
    return found


def command(offset: str, args: list[str]) -> list[str]:
    """args run with the wall clock shifted by offset ("-3d", "+400d")."""
    return [faketime(), "-f", offset, *args]


def env_of(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "80", "FAKETIME_DONT_FAKE_MONOTONIC": "1", **(extra or {})}


def tw_at(offset: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`trialwatch ARGS` with its clock shifted by offset."""
    return subprocess.run(
        command(offset, [sys.executable, "-c", "from sync.cli.app import main; main()", *args]),
        capture_output=True,
        text=True,
        env=env_of(env),
        timeout=120,
    )
