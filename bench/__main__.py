"""`python -m bench`: run every benchmark, print the table, write JSON to bench/results/."""

from __future__ import annotations

import argparse
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import difflat, report, scenario, storage
from bench import web as web_bench
from bench.report import Figure
from bench.server import FakeServer
from bench.syncproc import in_fresh_process
from sync.testing.factory import SamplesMissing, samples_dir

RSS_GOAL_MB = 300
# "Flat as N grows": the 50,000-study peak within 25% of the 1,000-study one.
RSS_FLAT_RATIO = 1.25
INGEST_GOAL = 1000.0
FLOOR_SHARE_GOAL = 0.70
RESYNC_WALL_GOAL_S = 10.0
RESYNC_SIZE = 10_000
DIFF_P95_GOAL_MS = 20.0
STORAGE_GOAL_RATIO = 2.0
PROFILE_SIZE = 1000
QUICK_SIZE = 200


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    except ValueError:
        msg = f"sizes are integers separated by commas: {text}"
        raise argparse.ArgumentTypeError(msg) from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def _size_figures(m: dict[str, Any], smallest_rss: float | None) -> list[Figure]:
    n = m["n"]
    tag = f"N={n:,}"
    ing, fl = m["ingest"], m["floor"]
    rate = ing["fetched"] / ing["cpu_s"]
    floor_rate = fl["studies"] / fl["cpu_s"]
    want = scenario.expected_requests(n)
    rc = m["resync_changed"]
    figs = [
        Figure(f"requests, re-sync, no upstream change ({tag})", m["resync_nochange"]["requests"],
               "requests", "1", n, "one per trial", m["resync_nochange"]["requests"] <= 1),
        Figure(f"requests, re-sync, {m['share']:.0%} changed ({tag})", rc["requests"], "requests",
               f"<= {want}", n, "one per trial", rc["requests"] <= want),
        Figure(f"requests, re-sync, new release, none changed ({tag})",
               m["resync_new_release"]["requests"], "requests", f"<= {want}", n,
               "one per trial", m["resync_new_release"]["requests"] <= want),
        Figure(f"ingest, studies per CPU-second, SQLite ({tag})", rate, "/s",
               f">= {INGEST_GOAL:,.0f}/s", floor_rate, "floor: parse + hash",
               rate >= INGEST_GOAL),
        Figure(f"  ingest as a share of the floor ({tag})", 100 * rate / floor_rate, "%",
               f">= {FLOOR_SHARE_GOAL:.0%}", met=rate >= FLOOR_SHARE_GOAL * floor_rate),
        Figure(f"ingest, wall time ({tag})", ing["wall_s"], "s", "-",
               None, f"fake server CPU {m['ingest']['server_cpu_s']:.1f} s"),
    ]
    peak = ing["peak_rss_mb"]
    flat_ok = smallest_rss is None or peak <= RSS_FLAT_RATIO * smallest_rss
    figs.append(
        Figure(f"peak RSS, ingest ({tag})", peak, "MB",
               f"< {RSS_GOAL_MB} MB" + (f", <= {RSS_FLAT_RATIO}x smallest N" if smallest_rss
                                        else ""),
               smallest_rss, "smallest N's peak" if smallest_rss else "", peak < RSS_GOAL_MB
               and flat_ok)
    )
    st = m["storage"]
    figs.append(
        Figure(f"storage per stored version ({tag})", st["body_bytes"] / st["versions"], "bytes",
               "-", st["raw_bytes"] / st["versions"], "raw JSON")
    )
    figs.append(
        Figure(f"  on disk per version, whole SQLite file ({tag})",
               st["file_bytes"] / st["versions"], "bytes", "-", st["raw_bytes"] / st["versions"],
               "raw JSON")
    )
    if n == RESYNC_SIZE:
        full = m.get("full_resync")
        figs.insert(
            3,
            Figure(f"re-sync wall time, {m['share']:.0%} changed ({tag})", rc["wall_s"], "s",
                   f"< {RESYNC_WALL_GOAL_S:.0f} s", full["wall_s"] if full else None,
                   "full re-sync" if full else "", rc["wall_s"] < RESYNC_WALL_GOAL_S),
        )
    return figs


def _profile(fake: FakeServer, tmp: Path, n: int) -> str:
    """Where an ingest's time goes: cProfile of a separate N-study ingest (top functions)."""
    prof = tmp / "ingest.prof"
    in_fresh_process("sync_once", f"sqlite:///{tmp}/profile.db", fake.base_url,
                     fake.history_url, n_setup=n, profile=str(prof))
    buf = io.StringIO()
    stats = pstats.Stats(str(prof), stream=buf)
    stats.sort_stats("cumulative").print_stats(30)
    buf.write("\n")
    stats.sort_stats("tottime").print_stats(20)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=[1_000, 10_000, 50_000],
                        help="workload sizes, comma-separated (default 1000,10000,50000)")
    parser.add_argument("--share", type=float, default=0.01,
                        help="share of studies changed between rounds (default 0.01)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the profiled 1,000-study ingest")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, no profile, nothing written: proves it runs (CI)")
    args = parser.parse_args(argv)
    web_sizes: dict[str, int] = {}
    versions = 100
    if args.quick:
        args.sizes, args.no_profile = [QUICK_SIZE], True
        web_sizes, versions = {"trials": 100, "requests": 3, "seconds": 0.3, "versions": 10}, 10
    try:
        samples_dir()
    except SamplesMissing as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    env = report.environment()
    _log(f"bench: sizes {', '.join(f'{n:,}' for n in args.sizes)}; "
         f"load average {env['load_average'][0]:.2f}")
    sizes: list[dict[str, Any]] = []
    figures: list[Figure] = []
    profile_text = ""
    with tempfile.TemporaryDirectory(prefix="trialwatch-bench-") as tmpname, FakeServer() as fake:
        tmp = Path(tmpname)
        populate_s = fake.populate(max(args.sizes))
        _log(f"bench: fake registry populated with {max(args.sizes):,} studies "
             f"in {populate_s:.0f} s")
        smallest_rss: float | None = None
        for round_, n in enumerate(args.sizes, start=1):
            m = scenario.run_size(
                fake, n, tmp, share=args.share,
                floor_stride=max(1, n // 10_000),
                full_baseline=n == RESYNC_SIZE, round_=round_, log=_log,
            )
            sizes.append(m)
            figures += _size_figures(m, smallest_rss)
            if smallest_rss is None:
                smallest_rss = m["ingest"]["peak_rss_mb"]
        _log("bench: diff latency")
        diffs = difflat.measure(repeat=1 if args.quick else 5)
        figures.append(Figure(f"diff latency p50 ({diffs['pairs']} real record pairs)",
                              diffs["p50_ms"], "ms", "-"))
        figures.append(Figure(f"diff latency p95 ({diffs['pairs']} real record pairs)",
                              diffs["p95_ms"], "ms", f"< {DIFF_P95_GOAL_MS:.0f} ms",
                              met=diffs["p95_ms"] < DIFF_P95_GOAL_MS))
        _log(f"bench: storage of {versions} versions")
        hundred = storage.hundred_versions(tmp, count=versions)
        figures.append(Figure(
            f"storage, {hundred['versions']} versions of {hundred['record']}",
            hundred["stored_bytes"], "bytes", f"< {STORAGE_GOAL_RATIO:.0f}x one raw copy",
            hundred["raw_one_copy"], "one raw copy",
            hundred["stored_bytes"] < STORAGE_GOAL_RATIO * hundred["raw_one_copy"]))
        figures.append(Figure(
            "  the same, every version compressed whole", hundred["zstd_each_whole"], "bytes",
            "-", hundred["raw_one_copy"], "one raw copy"))
        _log("bench: web app latency")
        webm = web_bench.measure(tmp, **web_sizes)
        figures += web_bench.figures(webm)
        if not args.no_profile:
            size = min(PROFILE_SIZE, max(args.sizes))
            _log(f"bench: profiled {size:,}-study ingest")
            profile_text = _profile(fake, tmp, size)

    env["load_average_end"] = report.environment()["load_average"]
    elapsed = time.perf_counter() - started
    payload = {"environment": env, "elapsed_s": elapsed, "sizes": sizes, "diff": diffs,
               "hundred_versions": hundred, "web": webm}
    print(report.table_text(figures))
    print()
    met = [f for f in figures if f.met is not None]
    print(f"goals met: {sum(1 for f in met if f.met)} of {len(met)}; "
          f"took {elapsed / 60:.1f} min; load average {env['load_average'][0]:.2f} -> "
          f"{env['load_average_end'][0]:.2f} on {env['cpus']} CPUs")
    if args.quick:
        return 0  # small sizes: figures to read, not to record
    path = report.write_json(payload, figures)
    if profile_text:
        (report.RESULTS_DIR / "ingest-profile.txt").write_text(profile_text)
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
