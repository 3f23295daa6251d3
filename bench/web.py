"""Web app speed: the overview, the trials list, a large trial's page, its diffs and the
changes feed, served by `trialwatch serve` on loopback, with 10,000 tracked trials on SQLite and
on PostgreSQL.

`python -m bench.web` (`--trials 1000` for a quicker run) builds each database through the
store (100 successive versions of NCT04267848, 1,148 sites, with their typed changes; then
N tracked trials from the real samples, 3% of them with a second version), starts the server
in its own process and measures every page twice: sequentially on one connection (p50/p95/p99,
the first request apart), then under 8 concurrent keep-alive connections for a few seconds
(requests a second, p50/p95/p99). The server's CPU time per request is printed beside them
(the machine may be shared: it is the figure the load does not move), and the load average.
PostgreSQL is 127.0.0.1:5432 (TRIALWATCH_BENCH_PG), database trialwatch_bench_web
(TRIALWATCH_BENCH_PG_DB), dropped and made again; without one, SQLite alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import httpload, report, storage, workload
from bench.report import Figure
from sync.testing.factory import SamplesMissing, samples_dir

P95_GOAL_MS = 150.0
RPS_GOAL = 200.0
P99_GOAL_MS = 250.0
CONNECTIONS = 8
CHANGED_SHARE = 0.03
BATCH = 500
PG_ADMIN = os.environ.get("TRIALWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/")
PG_DB = os.environ.get("TRIALWATCH_BENCH_PG_DB", "trialwatch_bench_web")  # as bench.explain


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _store(engine: Any, trial_id: int, study: dict[str, Any]) -> None:
    from models import Trial
    from models.db import session_scope
    from sync.core.diff import walk as diff
    from sync.store import snapshots as store

    with session_scope(engine) as s:
        trial = s.get(Trial, trial_id)
        assert trial is not None
        stored = store.store_version(s, trial, study)
        assert stored is not None
        s.flush()
        if stored.previous is not None:
            v = stored.snapshot.version
            store.add_changes(s, trial, v - 1, v, diff.diff_records(stored.previous, study))


def build(url: str, trials: int, versions: int = 100) -> tuple[str, str]:
    """The database at url: the large trial's versions and `trials` more tracked trials."""
    from models import Trial, db
    from models.db import session_scope
    from sync.core.diff import walk as diff
    from sync.store import snapshots as store

    engine = db.make_engine(url)
    db.upgrade(engine)
    big = storage.LARGE_RECORD
    with session_scope(engine) as s:
        t = Trial(nct_id=big, source="bench")
        s.add(t)
        s.flush()
        big_id = t.id or 0
    t0 = time.perf_counter()
    for study in storage.successive_versions(big, versions):
        _store(engine, big_id, study)
    name = engine.dialect.name
    took = time.perf_counter() - t0
    _log(f"bench.web: {name}: {versions} versions of {big} stored in {took:.0f} s")

    t0 = time.perf_counter()
    changed = set(workload.changed_indices(trials, CHANGED_SHARE))
    for start in range(1, trials + 1, BATCH):
        with session_scope(engine) as s:
            for i in range(start, min(start + BATCH, trials + 1)):
                study = workload.make_record(i)
                trial = Trial(nct_id=study["protocolSection"]["identificationModule"]["nctId"],
                              source="bench")  # fmt: skip
                s.add(trial)
                s.flush()
                store.store_version(s, trial, study)
                if i in changed:
                    s.flush()
                    kind = workload.CHANGE_KINDS[i % len(workload.CHANGE_KINDS)]
                    new = workload.change(workload.make_record(i), kind, "2026-11-20")
                    stored = store.store_version(s, trial, new)
                    if stored is not None and stored.previous is not None:
                        store.add_changes(s, trial, 1, 2, diff.diff_records(stored.previous, new))
    _log(f"bench.web: {name}: {trials:,} tracked trials stored in {time.perf_counter() - t0:.0f} s")
    engine.dispose()
    return url, big


PAGES = {
    "overview": "/",
    "trials": "/trials",
    "trial": "/trials/{big}",
    "diff": "/trials/{big}/diff",
    "diff_far": "/trials/{big}/diff?from=1&to={versions}",
    "feed": "/feeds/changes.atom",
}
NAMES = {
    "overview": "/ (overview)",
    "trials": "/trials",
    "trial": "/trials/{big} ({versions} versions, 1,148 sites)",
    "diff": "its diff (latest two versions)",
    "diff_far": "its diff v1 -> v{versions}",
    "feed": "/feeds/changes.atom",
}


def _pg_url() -> str | None:
    """A fresh benchmark database on the local PostgreSQL, or None when there is none."""
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {PG_DB}"))
        admin.dispose()
    except Exception as exc:  # noqa: BLE001  (no PostgreSQL: SQLite figures only)
        _log(f"bench.web: PostgreSQL unavailable ({type(exc).__name__}); SQLite only")
        return None
    return str(sa.make_url(PG_ADMIN).set(database=PG_DB).render_as_string(hide_password=False))


def _drop_pg() -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
    admin.dispose()


def measure_url(
    url: str, big: str, tmp: Path, *, requests: int, seconds: float, connections: int,
    versions: int,
) -> dict[str, Any]:
    """Every page served by `trialwatch serve` over url: sequential, then concurrent."""
    out: dict[str, Any] = {"load_start": os.getloadavg()}
    with httpload.serving(url, tmp) as server:
        for key, path in PAGES.items():
            path = path.format(big=big, versions=versions)
            seq = httpload.sequential(server, path, requests)
            conc = httpload.concurrent(server, path, connections, seconds, min_requests=connections)
            out[key] = {"path": path, "sequential": seq, "concurrent": conc}
            _log(f"bench.web: {path}: sequential p95 {seq['p95_ms']:.1f} ms; "
                 f"{connections} connections {conc['rps']:.0f}/s, p99 {conc['p99_ms']:.0f} ms "
                 f"(load {conc['load']:.2f})")  # fmt: skip
    out["load_end"] = os.getloadavg()
    return out


def measure(
    tmp: Path,
    trials: int = 10_000,
    requests: int = 60,
    seconds: float = 5.0,
    connections: int = CONNECTIONS,
    postgres: bool = False,
    versions: int = 100,
) -> dict[str, Any]:
    """The database(s) built, then every page measured over HTTP (SQLite; PostgreSQL too
    when asked and reachable)."""
    out: dict[str, Any] = {"trials": trials + 1, "requests": requests, "seconds": seconds,
                           "connections": connections, "versions": versions,
                           "databases": {}}  # fmt: skip
    url, big = build(f"sqlite:///{tmp / 'web-bench.db'}", trials, versions)
    out["big"] = big
    out["databases"]["SQLite"] = measure_url(
        url, big, tmp, requests=requests, seconds=seconds, connections=connections,
        versions=versions,
    )
    pg = _pg_url() if postgres else None
    if pg:
        try:
            build(pg, trials, versions)
            out["databases"]["PostgreSQL"] = measure_url(
                pg, big, tmp, requests=requests, seconds=seconds, connections=connections,
                versions=versions,
            )
        finally:
            _drop_pg()
    return out


def figures(m: dict[str, Any]) -> list[Figure]:
    """Per database and page: the concurrent rate and p99 against their goals, the sequential
    p95 against its own."""
    figs = []
    n = f"{m['trials']:,} trials"
    for dbname, d in m["databases"].items():
        for key, name in NAMES.items():
            r = d[key]
            seq, conc = r["sequential"], r["concurrent"]
            label = f"web {dbname}, {name.format(big=m['big'], versions=m['versions'])}"
            if key == "overview":
                label += f" ({n})"
            rps, p99 = conc["rps"], conc["p99_ms"]
            figs.append(Figure(f"{label}: req/s, {m['connections']} connections", rps, "/s",
                               f">= {RPS_GOAL:.0f}/s", met=rps >= RPS_GOAL))  # fmt: skip
            figs.append(Figure(f"  p99 under load (p50 {conc['p50_ms']:.1f}, p95 "
                               f"{conc['p95_ms']:.1f})", p99, "ms", f"< {P99_GOAL_MS:.0f} ms",
                               met=p99 < P99_GOAL_MS))  # fmt: skip
            figs.append(Figure(f"  sequential p95 (p50 {seq['p50_ms']:.1f}, first "
                               f"{seq['cold_ms']:.0f} ms, {seq['bytes'] / 1024:.0f} KB)",
                               seq["p95_ms"], "ms", f"< {P95_GOAL_MS:.0f} ms",
                               met=seq["p95_ms"] < P95_GOAL_MS))  # fmt: skip
    return figs


def _cpu(r: dict[str, Any]) -> str:
    return "-" if r.get("cpu_ms") is None else f"{r['cpu_ms']:.2f}"


def concurrency_table(m: dict[str, Any]) -> str:
    """The table of the issue: per database and page, requests a second and p50/p95/p99 under
    concurrency beside the sequential figures, the server's CPU per request and the load."""
    head = ["database", "page", "req/s", "p50", "p95", "p99", "CPU ms/req", "load",
            "seq req/s", "seq p50", "seq p95", "seq p99", "seq CPU ms/req", "first ms",
            "KB"]  # fmt: skip
    rows = [head]
    for dbname, d in m["databases"].items():
        for key in NAMES:
            r = d[key]
            s, c = r["sequential"], r["concurrent"]
            rows.append([dbname, r["path"], f"{c['rps']:.0f}", f"{c['p50_ms']:.1f}",
                         f"{c['p95_ms']:.1f}", f"{c['p99_ms']:.1f}", _cpu(c), f"{c['load']:.2f}",
                         f"{s['rps']:.0f}", f"{s['p50_ms']:.1f}", f"{s['p95_ms']:.1f}",
                         f"{s['p99_ms']:.1f}", _cpu(s), f"{s['cold_ms']:.0f}",
                         f"{s['bytes'] / 1024:.0f}"])  # fmt: skip
    out = ["| " + " | ".join(r) + " |" for r in rows]
    out.insert(1, "|" + "---|" * len(head))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--trials", type=int, default=10_000, help="tracked trials besides "
                        "the large one (default 10,000)")  # fmt: skip
    parser.add_argument("--requests", type=int, default=60,
                        help="sequential requests per page (default 60)")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="seconds of concurrent load per page (default 5)")
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--versions", type=int, default=100,
                        help="versions of the large trial (default 100)")
    parser.add_argument("--sqlite-only", action="store_true", help="no PostgreSQL run")
    parser.add_argument("--quick", action="store_true",
                        help="100 trials, 10 versions, 3 requests and 0.3 s a page: proves it "
                        "runs (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.requests, args.seconds, args.versions = 100, 3, 0.3, 10
    try:
        samples_dir()
    except SamplesMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tw-web-bench-") as tmp:
        m = measure(Path(tmp), args.trials, args.requests, args.seconds, args.connections,
                    postgres=not args.sqlite_only, versions=args.versions)  # fmt: skip
    print(report.table_text(figures(m)))
    print()
    print(concurrency_table(m))
    end = os.getloadavg()
    print(f"\n{args.connections} connections for {args.seconds:g} s a page; {args.requests} "
          f"sequential requests a page after 3 warm-ups; `trialwatch serve` on loopback, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} -> {end[0]:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
