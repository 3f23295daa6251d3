"""`python -m bench.explain`: the plans PostgreSQL chooses for the read side's queries (digest,
history, show, diff, a mirror page's lookups) on a mirror of 500,000 studies, and their times.

The rows are made by the server (sync.testing.bulkfill); the queries are the real functions'
own, caught as they run, then run again under EXPLAIN ANALYZE. A sequential scan of a table
that grows with the scope is flagged."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime

import sqlalchemy as sa

PG_ADMIN = os.environ.get("TRIALWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/")
PG_DB = "trialwatch_bench_explain"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__)
    parser.add_argument("--studies", type=int, default=500_000)
    parser.add_argument("--plans", action="store_true", help="print every plan in full")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)

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
    # Statements of one shape (a per-trial query run for every trial) are one row.
    groups: dict[tuple[str, str], list[bulkfill.Plan]] = {}
    for p in plans:
        groups.setdefault((p.query, re.sub(r"%\(\w+\)s", "?", p.sql)), []).append(p)
    width = max(len(p.query) for p in plans)
    print(f"{'query':<{width}}  {'runs':>5}  {'max ms':>8}  {'sum ms':>8}  verdict    access paths")
    for (query, _sql), same in groups.items():
        worst = max(same, key=lambda p: p.ms)
        verdict = "SEQ SCAN" if worst.seq_scans else "ok"
        total = sum(p.ms for p in same)
        print(f"{query:<{width}}  {len(same):>5}  {worst.ms:8.2f}  {total:8.1f}  {verdict:<9}  "
              f"{worst.access}")
        if args.plans or worst.seq_scans:
            print("    " + " ".join(worst.sql.split())[:300])
            print("\n".join("    " + line for line in worst.lines))
    bad = [p for p in plans if p.seq_scans]
    print(f"\n{len(plans)} statements in {len(groups)} shapes, {len(bad)} with a sequential scan "
          f"of a big table, {args.studies:,} studies; slowest {max(p.ms for p in plans):.1f} ms")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
