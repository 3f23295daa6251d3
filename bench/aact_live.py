"""`python -m bench.aact_live`: the refresh of the live AACT tables (PostgreSQL) after a 1%
daily delta of an N-study mirror (goal at 100,000 studies: under 10 s), and the first fill.

Set-up (not measured): N studies of one version (bench.export's real records, compressed as
the store does), the AACT tables filled by a first refresh; then 1% of the studies get a second
version and the refresh that a sync runs after it is timed (wall, and this process's CPU)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

import sqlalchemy as sa

from bench.export import _series, build
from sync.testing.factory import SamplesMissing, samples_dir

PG_ADMIN = os.environ.get("TRIALWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/")
PG_DB = os.environ.get("TRIALWATCH_BENCH_PG_DB", "trialwatch_bench_aact_live")
GOAL_S = 10.0
GOAL_STUDIES = 100_000
DELTA = 0.01


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _delta(url: str, studies: int, distinct: int) -> int:
    """A second version of every 100th study (the same series as its first), as a sync stores."""
    from models import Snapshot, db

    engine = db.make_engine(url)
    series = [_series(k + 1, 2)[1][0] for k in range(min(distinct, studies))]
    step = round(1 / DELTA)
    picked = list(range(1, studies + 1, step))
    with engine.begin() as conn:
        snaps = [{**series[(i - 1) % len(series)], "trial_id": i} for i in picked]
        conn.execute(sa.insert(Snapshot), snaps)
        conn.execute(
            sa.text("UPDATE trial SET latest_version = 2 WHERE id = ANY(:ids)"), {"ids": picked}
        )
    engine.dispose()
    return len(picked)


def _refresh(url: str) -> dict[str, Any]:
    from models import db
    from sync.aact import live

    engine = db.make_engine(url)
    cpu, wall = time.process_time(), time.perf_counter()
    done = live.refresh(engine)
    out = {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "studies": done.studies,
        "versions": done.versions,
        "rows": sum(done.rows.values()),
    }
    engine.dispose()
    return out


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aact_live", description=__doc__)
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--distinct", type=int, default=100, help="distinct records built")
    parser.add_argument("--quick", action="store_true", help="500 studies: proves it runs (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.studies, args.distinct = 500, 20
    try:
        samples_dir()
    except SamplesMissing as exc:
        print(f"bench.aact_live: {exc}", file=sys.stderr)
        return 2
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {PG_DB}"))
        url = sa.make_url(PG_ADMIN).set(database=PG_DB).render_as_string(hide_password=False)
        n = args.studies
        _log(f"bench.aact_live: set-up of {n:,} studies")
        setup = build(url, n, 1, args.distinct)
        first = _refresh(url)
        changed = _delta(url, n, args.distinct)
        load = _uptime()
        delta = _refresh(url)
        scale = GOAL_STUDIES / n
        print(f"bench.aact_live: {n:,} studies ({setup['setup_s']:.0f} s of set-up); {load}")
        print(
            f"  first fill: {first['studies']:,} studies, {first['rows']:,} rows in "
            f"{first['wall_s']:.1f} s wall ({first['cpu_s']:.1f} s own CPU)"
        )
        print(
            f"  refresh after a 1% delta: {delta['studies']:,} studies ({changed:,} changed), "
            f"{delta['versions']:,} versions, {delta['rows']:,} rows in {delta['wall_s']:.2f} s "
            f"wall ({delta['cpu_s']:.2f} s own CPU)"
        )
        if scale != 1:
            # The work is the changed studies' (1% of the mirror: their versions walked, their
            # rows deleted and copied) plus a fixed part (the lock, one join of every trial
            # against the refreshed state, a DELETE per table and round). Counting the fixed
            # part per study makes this an upper bound; two sizes give the slope.
            each = delta["wall_s"] / max(changed, 1)
            est = each * GOAL_STUDIES * DELTA
            verdict = "met" if est < GOAL_S else "not shown met"
            print(
                f"  at {GOAL_STUDIES:,} studies ({GOAL_STUDIES * DELTA:,.0f} changed, at most "
                f"{each * 1000:.0f} ms each as here): <= {est:.1f} s "
                f"(goal < {GOAL_S:.0f} s: {verdict})"
            )
        else:
            verdict = "met" if delta["wall_s"] < GOAL_S else "MISSED"
            print(f"  goal < {GOAL_S:.0f} s: {verdict}")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
