"""`python -m bench.explain`: the plans PostgreSQL chooses for the read side's queries (digest,
history, show, diff, list, a watch's members, the web pages and feeds, a mirror page's lookups)
on a mirror of 500,000 studies, and their times.

The rows are made by the server (sync.testing.bulkfill); the queries are the real functions'
own, caught as they run, then run again under EXPLAIN (ANALYZE, BUFFERS). A sequential scan of
a table that grows with the scope is flagged unless the query reads that table whole by design
(a list or count of every trial or member), or the table is small and an index could serve.
Exit status 1 when one is flagged."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime

import sqlalchemy as sa

PG_ADMIN = os.environ.get("TRIALWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/")
# Its own database, dropped and made again; TRIALWATCH_BENCH_PG_DB names another (a test run
# beside a benchmark, or two checkouts on one server).
PG_DB = os.environ.get("TRIALWATCH_BENCH_PG_DB", "trialwatch_bench_explain")
# A plan's first lines: enough to see its access paths, short enough to read 70 of them.
TOP_LINES = 14
LINE_CHARS = 150
# Bound parameters, single or an expanded IN list: one shape whatever their number.
_PARAMS = re.compile(r"%\(\w+\)s(?:::\w+)?(?:, %\(\w+\)s(?:::\w+)?)*")


def _short(text: str, n: int = LINE_CHARS) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__)
    parser.add_argument("--studies", type=int, default=500_000)
    parser.add_argument("--plans", action="store_true", help="print every plan in full")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 studies; a sequential scan is printed, not a failure: at "
                        "that size the planner may rightly choose one (CI: proves it runs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.studies = 2_000

    from models import db
    from sync.testing import bulkfill

    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {PG_DB}"))
    except sa.exc.OperationalError as exc:
        print(f"bench.explain: PostgreSQL is needed ({exc.orig})", file=sys.stderr)
        return 2
    url = sa.make_url(PG_ADMIN).set(database=PG_DB).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        counts = bulkfill.fill(engine, args.studies, now)
        print(f"filled in {time.perf_counter() - t0:.0f} s: "
              + ", ".join(f"{t} {n:,}" for t, n in counts.items()), file=sys.stderr)
        plans = bulkfill.read_side(engine, now)
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        admin.dispose()

    # Statements of one shape (a per-trial query run for every trial) are one row: its
    # slowest run stands for it.
    groups: dict[tuple[str, str], list[bulkfill.Plan]] = {}
    for p in plans:
        groups.setdefault((p.query, _PARAMS.sub("?", p.sql)), []).append(p)
    rows = []
    for (query, _sql), same in groups.items():
        worst = max(same, key=lambda p: (bool(p.seq_scans), p.ms))
        total = sum(p.ms for p in same)
        rows.append((query, len(same), worst, total))
        runs = f", {len(same)} runs ({total:.1f} ms in all)" if len(same) > 1 else ""
        scans = ", ".join(worst.seq_scans)
        print(f"== {query}: {worst.ms:.2f} ms{runs}; "
              + (f"SEQ SCAN on {scans}" if scans else worst.verdict))
        print("   " + _short(" ".join(worst.sql.split()), 240))
        shown = worst.lines if args.plans else worst.lines[:TOP_LINES]
        print("\n".join("   | " + (line if args.plans else _short(line)) for line in shown))

    print(f"\n{args.studies:,} studies: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    header = ("query", "runs", "max ms", "sum ms", "verdict", "access path")
    cells = [
        (q, str(n), f"{w.ms:.2f}", f"{total:.1f}", w.verdict, w.access)
        for q, n, w, total in rows
    ]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header) - 1)]
    for n, row in enumerate([header, *cells]):
        print("  ".join(c.rjust(w) if 0 < i < 4 else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=False)))
              + "  " + row[-1])  # fmt: skip
        if n == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 11)
    bad = [p for p in plans if p.seq_scans]
    print(f"\n{len(plans)} statements in {len(groups)} shapes, {len(bad)} with a sequential scan "
          f"of a big table; slowest {max(p.ms for p in plans):.1f} ms")
    return 1 if bad and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
