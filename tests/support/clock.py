"""trialwatch in a process whose clock is off: libfaketime (Debian's `faketime`, which
`make prereqs` installs) shifts the wall clock of the command it starts.

The monotonic clocks are left true (FAKETIME_DONT_FAKE_MONOTONIC): a wall clock set wrong, or
one that jumps, leaves them alone too, and that is the fault these tests reproduce.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

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


def spawn_at(
    offset: str, args: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """A long-running command with its clock shifted, in a process group of its own: faketime
    runs it as a child, so signals go to the group (stop), never to faketime alone."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command(offset, args), env=env_of(env), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the command and faketime (its process group), then wait for them."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
