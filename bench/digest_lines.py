"""Digest size for the largest real update (1,148 sites): Markdown lines, HTML rows, per format.

Runs on any checkout (it uses only the store, diff and digest APIs), so the figure can be taken
before and after a change: `.venv/bin/python -m bench.digest_lines`.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models import db
from models.db import session_scope
from sync.report import digest as dg
from sync.report.render import render
from sync.testing.big_update import BIG, largest_update, store_pair


def main() -> None:
    old, new = largest_update()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'lines.db'}")
        db.upgrade(engine)
        changes = store_pair(engine, BIG, old, new)
        now = datetime.now(UTC) + timedelta(seconds=1)
        with session_scope(engine) as s:
            data = dg.build_digest(s, dg.Selection(since=now - timedelta(days=1), until=now))
        engine.dispose()
    md = render(data, "md")
    html = render(data, "html")
    print(f"{BIG}: {changes} changes")
    print(f"markdown digest: {len(md.splitlines())} lines")
    print(f"html digest: {html.count('<tr')} table rows, {html.count('<li')} list items")
    if "--print" in sys.argv:
        print(md)


if __name__ == "__main__":
    main()
