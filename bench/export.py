"""`python -m bench.export`: export time (own CPU) and peak RSS for N studies of V versions each,
of the export's own tables (`--format duckdb`/`parquet`) and of the AACT tables (`--format
aact`, a DuckDB file and a Parquet folder). Goals are for 10,000 x 10; a smaller run's figures
are also given extrapolated to that size (linearly in versions: the export reads each once)."""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import report, workload
from bench.report import Figure
from sync.testing.factory import SamplesMissing, samples_dir

CPU_GOAL_S = 60.0
RSS_GOAL_MB = 300
AACT_CPU_GOAL_S = 120.0
AACT_RSS_GOAL_MB = 400
GOAL_VERSIONS = 10_000 * 10  # the size the goals are for
INSERT_CHUNK = 2_000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _series(i: int, versions: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Study i's versions, each with its encoded snapshot columns and the changes from the one
    before: a real record (cycled) and the workload's sponsor updates, one a week."""
    import orjson

    from sync.core.diff import walk as diff
    from sync.store import codec

    first_day = date.fromisoformat(workload.BASE_LAST_UPDATE_MAX)
    out: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    study = workload.make_record(i)
    keyframe: bytes | None = None
    previous: dict[str, Any] | None = None
    for v in range(1, versions + 1):
        day = (first_day + timedelta(days=7 * v + i % 7)).isoformat()
        if previous is not None:
            kind = workload.CHANGE_KINDS[(i + v) % len(workload.CHANGE_KINDS)]
            study = workload.change(orjson.loads(orjson.dumps(previous)), kind, day, v)
        raw = orjson.dumps(study)
        # Versions 2..V are compressed against version 1, as the store does (KEYFRAME_EVERY > V).
        encoding, body = codec.encode(raw, keyframe)
        keyframe = keyframe or raw
        fetched = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
        snap = {
            "version": v,
            "fetched_at": fetched,
            # Any unique digest will do: the export never reads it.
            "content_hash": hashlib.sha256(raw).hexdigest(),
            "origin": "poll",
            "last_update_posted": day,
            "encoding": encoding,
            "base_version": 1 if encoding == "zstd-dict" else None,
            "raw_size": len(raw),
            "body": body,
        }
        changes = []
        if previous is not None:
            for ch in diff.diff_records(previous, study):
                d = ch.to_dict()
                changes.append(
                    {
                        "from_version": v - 1,
                        "to_version": v,
                        "category": d["category"],
                        "path": d["path"],
                        "old": d.get("old"),
                        "new": d.get("new"),
                        "summary": d["summary"],
                        "severity": d["severity"],
                        "detail": d.get("detail"),
                        "detected_at": fetched,
                    }
                )
        out.append((snap, changes))
        previous = study
    return out


def build(db_url: str, studies: int, versions: int, distinct: int) -> dict[str, Any]:
    """A database of `studies` trials with `versions` versions each, stored compressed as the
    store does, with the typed changes between them. Set-up, not measured: `distinct` series
    are built (each a real record with its updates) and study i stores series i % distinct, so
    that every study's bodies are decoded and parsed as in a real mirror without building
    100,000 records."""
    import sqlalchemy as sa

    from models import Change, Snapshot, Trial, db

    engine = db.make_engine(db_url)
    db.upgrade(engine)
    started = time.perf_counter()
    built = [_series(k + 1, versions) for k in range(min(distinct, studies))]
    counts = {"versions": 0, "changes": 0}
    snaps: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for i in range(1, studies + 1):
            series = built[(i - 1) % len(built)]
            trial_id = conn.execute(
                sa.insert(Trial).values(
                    nct_id=workload.nct(i),
                    source="bench",
                    registry_state="found",
                    latest_version=versions,
                )
            ).inserted_primary_key[0]
            for snap, steps in series:
                snaps.append({**snap, "trial_id": trial_id})
                changes.extend({**ch, "trial_id": trial_id} for ch in steps)
            if len(snaps) >= INSERT_CHUNK or i == studies:
                conn.execute(sa.insert(Snapshot), snaps)
                if changes:
                    conn.execute(sa.insert(Change), changes)
                counts["versions"] += len(snaps)
                counts["changes"] += len(changes)
                snaps, changes = [], []
    engine.dispose()
    return {**counts, "distinct": len(built), "setup_s": time.perf_counter() - started}


def measure(db_url: str, target: str, aact: bool = False) -> dict[str, Any]:
    """One export in this (fresh) process: own CPU time (all threads, DuckDB's included, and
    any worker process's), wall time and the process's peak RSS (a worker's counted too)."""
    from models import db
    from sync.aact import export as aact_export
    from sync.report import export

    engine = db.make_engine(db_url)
    wall0, cpu0 = time.perf_counter(), _cpu()
    if aact:
        summary = aact_export.export_aact(engine, Path(target))
    else:
        summary = export.export(engine, Path(target))
    cpu, wall = _cpu() - cpu0, time.perf_counter() - wall0
    engine.dispose()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_peak_rss_mb": children,
        "tables": summary.tables,
        "bytes": sum(p.stat().st_size for p in Path(target).glob("**/*") if p.is_file())
        if Path(target).is_dir()
        else Path(target).stat().st_size,
    }


def _cpu() -> float:
    """This process's CPU time and that of its ended children (a worker pool's)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _fresh(fn: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(fn, *args).result()
    return result


# (label, target name in the scratch folder, AACT tables?)
EXPORTS = (
    ("DuckDB file", "out.duckdb", False),
    ("Parquet", "pq", False),
    ("AACT DuckDB file", "aact.duckdb", True),
    ("AACT Parquet", "aact-pq", True),
)


def _figures(label: str, m: dict[str, Any], tag: str, size: int, aact: bool) -> list[Figure]:
    cpu_goal, rss_goal = (AACT_CPU_GOAL_S, AACT_RSS_GOAL_MB) if aact else (CPU_GOAL_S, RSS_GOAL_MB)
    rss = m["peak_rss_mb"] + m["children_peak_rss_mb"]
    out = [
        Figure(f"export to {label}, own CPU ({tag})", m["cpu_s"], "s"),
        Figure(f"  wall time ({label})", m["wall_s"], "s"),
        Figure(f"  peak RSS ({label}, + a worker's)", rss, "MB"),
        Figure(f"  output size ({label})", m["bytes"], "bytes"),
    ]
    scale = GOAL_VERSIONS / size
    if scale == 1:
        out[0].goal, out[0].met = f"< {cpu_goal:.0f} s", m["cpu_s"] < cpu_goal
        out[2].goal, out[2].met = f"< {rss_goal} MB", rss < rss_goal
    else:
        cpu = m["cpu_s"] * scale
        out.insert(1, Figure(f"  own CPU at 10,000 x 10 (x{scale:g}, extrapolated)", cpu, "s",
                             f"< {cpu_goal:.0f} s", None, "", cpu < cpu_goal))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument(
        "--distinct",
        type=int,
        default=200,
        help="distinct version series built; study i stores series i %% this",
    )
    parser.add_argument("--only", choices=("report", "aact"),
                        help="only the export's own tables (report) or only the AACT tables")
    parser.add_argument("--quick", action="store_true",
                        help="200 studies of 3 versions, nothing written: proves it runs (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.studies, args.versions, args.distinct = 200, 3, 20
    try:
        samples_dir()
    except SamplesMissing as exc:
        print(f"bench.export: {exc}", file=sys.stderr)
        return 2
    env = report.environment()
    n, v = args.studies, args.versions
    tag = f"{n:,} studies x {v} versions"
    figures: list[Figure] = []
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="trialwatch-bench-export-") as tmpname:
        tmp = Path(tmpname)
        url = f"sqlite:///{tmp}/export.db"
        _log(f"bench.export: set-up of {tag}")
        results["setup"] = _fresh(build, url, n, v, args.distinct)
        _log(f"bench.export: set-up took {results['setup']['setup_s']:.0f} s")
        runs = [
            (label, target, aact)
            for label, target, aact in EXPORTS
            if args.only is None or args.only == ("aact" if aact else "report")
        ]
        for label, name, aact in runs:
            _log(f"bench.export: export to {label}")
            m = _fresh(measure, url, str(tmp / name), aact)
            results[label] = m
            figures.extend(_figures(label, m, tag, n * v, aact))
        if "DuckDB file" in results:
            rows = results["DuckDB file"]["tables"]
            figures.append(Figure("rows: versions / changes / sites", rows["versions"], "versions",
                                  baseline_note=f"{rows['changes']:,} changes, "
                                                f"{rows['sites']:,} site spans"))  # fmt: skip
        if "AACT DuckDB file" in results:
            rows = results["AACT DuckDB file"]["tables"]
            figures.append(Figure("AACT rows (all tables)", sum(rows.values()), "versions",
                                  baseline_note=f"{len(rows)} tables, {rows['studies']:,} "
                                                "studies rows"))  # fmt: skip
    env["load_average_end"] = report.environment()["load_average"]
    print(report.table_text(figures))
    print(f"load average {env['load_average'][0]:.2f} -> {env['load_average_end'][0]:.2f} "
          f"on {env['cpus']} CPUs")  # fmt: skip
    if args.quick:
        return 0
    report.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (report.RESULTS_DIR / "export.md").write_text(report.table_markdown(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
