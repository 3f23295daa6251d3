"""Web app latency: p95 of a large trial's page and diff, and of `/` with 10,000 tracked trials.

`python -m bench.web` (`--trials 1000` for a quicker run) builds a SQLite database through the
store (100 successive versions of NCT04267848, 1,148 sites, with their typed changes; then
N tracked trials from the real samples, 3% of them with a second version), and times requests
through the app in-process (FastAPI's TestClient: routing, queries, templates, no network).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report, storage, workload
from bench.report import Figure
from sync.testing.factory import SamplesMissing, samples_dir

P95_GOAL_MS = 150.0
CHANGED_SHARE = 0.03
BATCH = 500


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


def build(tmp: Path, trials: int) -> tuple[str, str]:
    """The database: the large trial's 100 versions and `trials` more tracked trials."""
    from models import Trial, db
    from models.db import session_scope
    from sync.core.diff import walk as diff
    from sync.store import snapshots as store

    url = f"sqlite:///{tmp / 'web-bench.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    big = storage.LARGE_RECORD
    with session_scope(engine) as s:
        t = Trial(nct_id=big, source="bench")
        s.add(t)
        s.flush()
        big_id = t.id or 0
    t0 = time.perf_counter()
    for study in storage.successive_versions(big, 100):
        _store(engine, big_id, study)
    _log(f"bench.web: 100 versions of {big} stored in {time.perf_counter() - t0:.0f} s")

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
    _log(f"bench.web: {trials:,} tracked trials stored in {time.perf_counter() - t0:.0f} s")
    engine.dispose()
    return url, big


def _time(client: Any, path: str, requests: int) -> dict[str, float]:
    t0 = time.perf_counter()
    first = client.get(path)
    cold = (time.perf_counter() - t0) * 1000
    assert first.status_code == 200, (path, first.status_code, first.text[:300])
    for _ in range(2):
        client.get(path)
    ms = []
    for _ in range(requests):
        t0 = time.perf_counter()
        r = client.get(path)
        ms.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
    ms.sort()
    return {
        "cold_ms": cold,
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[max(0, int(round(0.95 * len(ms))) - 1)],
        "max_ms": ms[-1],
        "bytes": len(first.content),
    }


def measure(tmp: Path, trials: int = 10_000, requests: int = 60) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from models import db
    from sync.config import Settings
    from sync.web.app import create_app

    url, big = build(tmp, trials)
    engine = db.make_engine(url)
    paths = {
        "trial": f"/trials/{big}",
        "diff": f"/trials/{big}/diff",
        "diff_far": f"/trials/{big}/diff?from=1&to=100",
        "overview": "/",
    }
    out: dict[str, Any] = {"trials": trials + 1, "requests": requests, "paths": paths}
    with TestClient(create_app(Settings(database_url=url), engine)) as client:
        for key, path in paths.items():
            out[key] = _time(client, path, requests)
            _log(f"bench.web: {path}: p95 {out[key]['p95_ms']:.1f} ms")
    engine.dispose()
    return out


def figures(m: dict[str, Any]) -> list[Figure]:
    n = f"{m['trials']:,} tracked trials"
    goal = f"< {P95_GOAL_MS:.0f} ms"
    rows = [
        ("trial", "web p95, /trials/NCT04267848 (100 versions, 1,148 sites)"),
        ("diff", "web p95, its diff (v99 -> v100)"),
        ("diff_far", "web p95, its diff v1 -> v100 (computed)"),
        ("overview", f"web p95, / ({n})"),
    ]
    figs = []
    for key, name in rows:
        r = m[key]
        figs.append(Figure(name, r["p95_ms"], "ms", goal, met=r["p95_ms"] < P95_GOAL_MS))
        figs.append(Figure(f"  p50 {r['p50_ms']:.1f} ms, first request (cold) {r['cold_ms']:.0f} "
                           f"ms, page {r['bytes'] / 1024:.0f} KB", r["p50_ms"], "ms"))  # fmt: skip
    return figs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--trials", type=int, default=10_000, help="tracked trials besides "
                        "the large one (default 10,000)")  # fmt: skip
    parser.add_argument("--requests", type=int, default=60, help="timed requests per page")
    parser.add_argument("--quick", action="store_true",
                        help="100 trials, 3 requests a page: proves it runs (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.requests = 100, 3
    try:
        samples_dir()
    except SamplesMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tw-web-bench-") as tmp:
        m = measure(Path(tmp), args.trials, args.requests)
    print(report.table_text(figures(m)))
    load = report.environment()["load_average"]
    print(f"\n{args.requests} timed requests per page after 3 warm-ups, in-process (TestClient); "
          f"load average {load[0]:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
