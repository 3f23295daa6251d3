"""trialwatch's console entry point in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys


def tw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console entry point in a process of its own (main() maps errors to exit codes)."""
    full_env = {**os.environ, "COLUMNS": "80", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from sync.cli.app import main; main()", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )
