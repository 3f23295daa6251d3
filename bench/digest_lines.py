"""Digest size: Markdown lines (and HTML rows) for the largest real update (1,148 sites), and
with `--scope N` for a mirror of N studies of which 1% were updated today, with build time.

Runs on any checkout (it uses only the store, diff and digest APIs and sync.testing), so the
figure can be taken before and after a change: `.venv/bin/python -m bench.digest_lines`, or
`.venv/bin/python -m bench.digest_lines --scope 50000`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models import db
from models.db import session_scope
from sync.report import digest as dg
from sync.report.render import render
from sync.testing.big_update import BIG, largest_update, store_pair
from sync.testing.scope import mirror_day


def _window() -> dg.Selection:
    now = datetime.now(UTC) + timedelta(seconds=1)
    return dg.Selection(since=now - timedelta(days=1), until=now)


def largest(show: bool) -> None:
    old, new = largest_update()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'lines.db'}")
        db.upgrade(engine)
        changes = store_pair(engine, BIG, old, new)
        with session_scope(engine) as s:
            data = dg.build_digest(s, _window())
        engine.dispose()
    md = render(data, "md")
    html = render(data, "html")
    print(f"{BIG}: {changes} changes")
    print(f"markdown digest: {len(md.splitlines())} lines")
    print(f"html digest: {html.count('<tr')} table rows, {html.count('<li')} list items")
    if show:
        print(md)


def scope(n: int, share: float, url: str | None, show: bool) -> None:
    """A daily digest of a registry-scale mirror: its Markdown lines and the time to build it
    (select, rank, render), as `trialwatch digest` does it (no timelines in Markdown)."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(url or f"sqlite:///{Path(tmp) / 'scope.db'}")
        db.upgrade(engine)
        t0 = time.perf_counter()
        day = mirror_day(engine, n, share=share)
        made = time.perf_counter() - t0
        t0 = time.perf_counter()
        with session_scope(engine) as s:
            data = dg.build_digest(s, _window(), with_timeline=False)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        md = render(data, "md")
        rendered = time.perf_counter() - t0
        engine.dispose()
    c = data["counts"]
    print(f"scope: {n:,} studies on {engine.dialect.name}, made in {made:.1f} s; "
          f"{len(day.updates):,} updated ({len(day.high)} high-importance), "
          f"{c['changes']:,} changes, {c['watch_events']:,} watch events")  # fmt: skip
    print(f"markdown digest: {len(md.splitlines()):,} lines, {len(md):,} characters")
    print(f"build: {built + rendered:.2f} s (select and rank {built:.2f} s, "
          f"render {rendered:.2f} s)")  # fmt: skip
    if show:
        print(md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scope", type=int, metavar="N", help="a mirror of N studies")
    parser.add_argument("--share", type=float, default=0.01, help="share updated (0.01)")
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--print", action="store_true", help="print the Markdown digest")
    parser.add_argument("--quick", action="store_true",
                        help="the largest update and a scope of 300: proves both run (CI)")
    args = parser.parse_args()
    if args.quick:
        largest(args.print)
        scope(300, args.share, args.url, args.print)
        return
    if args.scope:
        scope(args.scope, args.share, args.url, args.print)
    else:
        largest(args.print)


if __name__ == "__main__":
    main()
