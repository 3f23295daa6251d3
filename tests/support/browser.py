"""The headless Chromium the browser tests drive (Debian's, through Playwright)."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("TRIALWATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
