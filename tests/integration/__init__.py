"""Tests against real things: SQLite and PostgreSQL, the fake registry on loopback, the CLI in
and out of process, the daemon, headless Chromium, the web app."""
