"""`python -m bench.mirror`: a whole-registry mirror over the fake registry, its goals side by
side (requests, ingest rate per CPU-second vs the parse+hash floor, peak RSS, storage and its
projection to the registry's size, daily delta), on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report, syncproc, workload
from bench.report import Figure
from bench.server import FakeServer
from sync.testing.archive import write_archive
from sync.testing.factory import SamplesMissing, samples_dir

INGEST_GOAL = 1000.0
ARCHIVE_GOAL = 1500.0  # studies per wall-second: the whole registry in under 7 minutes
ARCHIVE_RSS_GOAL_MB = 500.0
RSS_GOAL_MB = 300.0
STORAGE_GOAL = 0.20
DELTA_WALL_GOAL_S = 10.0
# "Flat in N": the largest N's peak within 25% of the smallest N's.
RSS_FLAT_RATIO = 1.25
PAGE_SIZE = 250  # the first load's (api.mirror_page_size); deltas use api.page_size, 1000
REGISTRY_STUDIES = 590_000
ARCHIVE_ENTRIES = 597_913  # the registry's archive, measured 2026-08-10 (DESIGN.md)
TRACKED_FLOOR_SHARE = 0.5
# The projection's assumption (not measured here): records the registry updates per day.
UPDATES_PER_DAY = 2_000
REGISTRY_RECORD_BYTES = 70_000
PG_ADMIN = os.environ.get("TRIALWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/")
PG_DB = os.environ.get("TRIALWATCH_BENCH_PG_DB", "trialwatch_bench_mirror")  # as bench.explain
MIRROR = "everything"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def mirror_once(
    db_url: str,
    base_url: str,
    history_url: str,
    *,
    create: bool = False,
    full: bool = False,
    profile: str | None = None,
    page_size: int = PAGE_SIZE,
    archive: str | None = None,
) -> dict[str, Any]:
    """One `trialwatch sync` of a database whose only watch is a whole-registry mirror, in
    this (fresh) process: its CPU, wall time, peak RSS, requests and what it stored."""
    from models import db
    from models.db import session_scope
    from sync.config import ApiSettings, Settings
    from sync.ingest.run import run_sync
    from sync.registry.client import CtgovClient
    from sync.store import snapshots as store
    from sync.watches import definitions as watches
    from sync.watches import runner as discover

    engine = db.make_engine(db_url)
    if create:
        db.upgrade(engine)
        with session_scope(engine) as s:
            params: dict[str, Any] = {"mirror": True}
            if archive:
                params["from_archive"] = archive  # the first load from a local archive
            watches.add_watch(s, watches.check(MIRROR, params), set())
    api = ApiSettings(
        requests_per_second=syncproc.BENCH_RATE,
        retry_wait_initial=0.05,
        retry_wait_max=0.2,
        mirror_page_size=page_size,
    )
    profiler = cProfile.Profile() if profile else None
    with CtgovClient(base_url, history_url, api) as client:
        hook = discover.sync_hook(engine, Settings(watches=[]), client)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        kids0 = syncproc.children_cpu()
        if profiler:
            profiler.enable()
        summary = run_sync(engine, client, full=full, before_fetch=hook)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        workers_cpu = syncproc.children_cpu() - kids0
    if profiler and profile:
        profiler.dump_stats(profile)
    with session_scope(engine) as s:
        versions, body, raw = store.storage_bytes(s)
    engine.dispose()
    w = summary.watches[0] if summary.watches else {}
    return {
        # The run's worker processes (ended with the run) count with the run's own CPU.
        "cpu_s": cpu + workers_cpu,
        "workers_cpu_s": workers_cpu,
        **syncproc.workers_peak(),
        "wall_s": wall,
        "peak_rss_mb": syncproc._peak_rss_mb(),
        "requests": summary.requests,
        "outcome": summary.outcome,
        "errors": summary.errors[:3],
        "fetched": w.get("fetched", 0),
        "new_versions": w.get("new_versions", 0),
        "versions": versions,
        "body_bytes": body,
        "raw_bytes": raw,
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
        _log(f"bench.mirror: PostgreSQL unavailable ({type(exc).__name__}); SQLite only")
        return None
    return str(sa.make_url(PG_ADMIN).set(database=PG_DB).render_as_string(hide_password=False))


def _run(fake: FakeServer, db_url: str, n: int, label: str, page: int) -> dict[str, Any]:
    _log(f"bench.mirror: {label}: first load of {n:,}")
    load = syncproc.in_fresh_process(
        "bench.mirror:mirror_once", db_url, fake.base_url, fake.history_url, create=True,
        page_size=page,
    )
    changed = fake.change(n, 0.01)
    _log(f"bench.mirror: {label}: daily delta, {len(changed):,} updated")
    delta = syncproc.in_fresh_process(
        "bench.mirror:mirror_once", db_url, fake.base_url, fake.history_url, page_size=page
    )
    return {"load": load, "delta": delta, "changed": len(changed)}


def make_archive(path: str, n: int) -> dict[str, Any]:
    """The registry's n studies (as FakeServer.populate makes them) as a local archive."""
    write_archive(workload.records(n), Path(path))
    return {"bytes": Path(path).stat().st_size}


def _archive_run(
    fake: FakeServer, db_url: str, n: int, label: str, page: int, archive: Path
) -> dict[str, Any]:
    """A first load from the local archive of the registry's n studies (made before the
    delta that _run posted, so the closing API delta has those 1% to catch)."""
    _log(f"bench.mirror: {label}: first load of {n:,} from a local archive")
    return syncproc.in_fresh_process(
        "bench.mirror:mirror_once", db_url, fake.base_url, fake.history_url, create=True,
        page_size=page, archive=str(archive),
    )


def _total_rss(run: dict[str, Any]) -> float:
    """A run's memory: its own peak and, when it had a worker pool, each worker's (the
    largest worker's peak for every worker: an upper bound, their peaks need not meet)."""
    return float(run["peak_rss_mb"] + run.get("workers", 0) * run.get("worker_peak_rss_mb", 0.0))


def _archive_figures(
    n: int, label: str, load: dict[str, Any], smallest_rss: float | None
) -> list[Figure]:
    tag = f"{label}, N={n:,}"
    rate = load["new_versions"] / load["wall_s"] if load["wall_s"] else 0.0
    cpu_rate = load["new_versions"] / load["cpu_s"] if load["cpu_s"] else 0.0
    peak = _total_rss(load)
    flat = smallest_rss is None or peak <= RSS_FLAT_RATIO * smallest_rss
    workers = load.get("workers", 0)
    return [
        Figure(f"archive first load, studies per wall-s ({tag})", rate, "/s",
               f">= {ARCHIVE_GOAL:,.0f}/s", met=rate >= ARCHIVE_GOAL),
        Figure(f"archive first load, studies per CPU-s, workers' CPU included ({tag}, "
               f"{workers} workers)", cpu_rate, "/s", "-"),
        Figure(f"  projected wall time for {ARCHIVE_ENTRIES:,} ({tag})",
               ARCHIVE_ENTRIES / rate / 60 if rate else 0.0, "min", "< 7 min",
               met=bool(rate) and ARCHIVE_ENTRIES / rate < 7 * 60),
        Figure(f"  projected CPU time for {ARCHIVE_ENTRIES:,} ({tag})",
               ARCHIVE_ENTRIES / cpu_rate / 60 if cpu_rate else 0.0, "CPU-min",
               "-"),
        Figure(f"archive first load, requests ({tag})", load["requests"], "requests",
               "archive + <= 3 (local archive: <= 3)", met=load["requests"] <= 3),
        Figure(f"peak RSS, archive first load, workers included ({tag})", peak, "MB",
               f"< {ARCHIVE_RSS_GOAL_MB:.0f} MB, flat", smallest_rss,
               "smallest N's peak" if smallest_rss else "", peak < ARCHIVE_RSS_GOAL_MB and flat),
    ]


def tiny_archive(path: str, entries: int) -> dict[str, Any]:
    """An archive with the registry's number of entries, each a tiny record: what its
    central directory costs to hold, without 10 GB of records."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(1, entries + 1):
            nct = f"NCT{i:08d}"
            body = b'{"protocolSection":{"identificationModule":{"nctId":"' + nct.encode() + b'"}}}'
            zf.writestr(f"{nct[-2:]}/{nct}.json", body)
    return {"bytes": Path(path).stat().st_size}


def directory_rss(path: str) -> dict[str, Any]:
    """RSS of a fresh process before and after opening the archive (its central directory
    read and checked), and its peak."""
    from sync.ingest.archive import ArchiveReader

    before = syncproc._rss_mb()
    t0 = time.process_time()
    with ArchiveReader(Path(path)) as reader:
        after = syncproc._rss_mb()
        entries = len(reader)
    return {"before_mb": before, "after_mb": after, "peak_rss_mb": syncproc._peak_rss_mb(),
            "entries": entries, "cpu_s": time.process_time() - t0}


def _directory_figures(d: dict[str, Any]) -> list[Figure]:
    held = d["after_mb"] - d["before_mb"]
    return [
        Figure(f"central directory of {d['entries']:,} entries, RSS held by the open reader",
               held, "MB", "-"),
        Figure(f"  peak RSS of a process that opened it ({d['entries']:,} entries)",
               d["peak_rss_mb"], "MB", f"< {ARCHIVE_RSS_GOAL_MB:.0f} MB",
               met=d["peak_rss_mb"] < ARCHIVE_RSS_GOAL_MB),
    ]


def _tracked_figures(n: int, label: str, t: dict[str, Any], fl: dict[str, Any]) -> list[Figure]:
    tag = f"{label}, N={n:,}"
    rate = t["fetched"] / t["cpu_s"] if t["cpu_s"] else 0.0
    floor_rate = fl["studies"] / fl["cpu_s"] if fl["cpu_s"] else 0.0
    share = rate / floor_rate if floor_rate else 0.0
    return [
        Figure(f"tracked first sync, studies per CPU-s, workers' CPU included ({tag}, "
               f"{t.get('workers', 0)} workers)", rate, "/s", f">= {INGEST_GOAL:,.0f}/s",
               floor_rate, "floor: parse + received-form hash", rate >= INGEST_GOAL),
        Figure(f"  tracked first sync as a share of the floor ({tag})", share * 100, "%",
               f">= {TRACKED_FLOOR_SHARE:.0%}", met=share >= TRACKED_FLOOR_SHARE),
        Figure(f"  tracked first sync, studies per wall-s ({tag})",
               t["fetched"] / t["wall_s"] if t["wall_s"] else 0.0, "/s", "-"),
        Figure(f"  peak RSS, tracked first sync, workers included ({tag})", _total_rss(t),
               "MB", "-"),
    ]


def _figures(
    n: int, label: str, m: dict[str, Any], fl: dict[str, Any], page: int,
    smallest_rss: float | None,
) -> list[Figure]:
    load, delta = m["load"], m["delta"]
    tag = f"{label}, N={n:,}, pages of {page}"
    want_load = 2 + math.ceil(n / page)
    rate = load["fetched"] / load["cpu_s"] if load["cpu_s"] else 0.0
    floor_rate = fl["studies"] / fl["cpu_s"]
    canonical_rate = fl["studies"] / fl["canonical_cpu_s"]
    peak = load["peak_rss_mb"]
    flat = smallest_rss is None or peak <= RSS_FLAT_RATIO * smallest_rss
    timed = label == "sqlite" and n >= 100_000  # the goal's case
    figs = [
        Figure(f"requests, first load ({tag})", load["requests"], "requests",
               f"<= {want_load}", met=load["requests"] <= want_load),
        Figure(f"requests, daily delta, {m['changed']:,} updated ({tag})", delta["requests"],
               "requests", "<= 3", met=delta["requests"] <= 3),
        Figure(f"ingest, studies per CPU-s of trialwatch ({tag})", rate, "/s",
               f">= {INGEST_GOAL:,.0f}/s", floor_rate, "floor: parse + received-form hash",
               rate >= INGEST_GOAL),
        Figure(f"  floor with the canonical hash instead ({tag})", canonical_rate, "/s", "-",
               floor_rate, "floor: parse + received-form hash"),
        Figure(f"peak RSS, first load ({tag})", peak, "MB",
               f"< {RSS_GOAL_MB:.0f} MB" + (f", <= {RSS_FLAT_RATIO}x smallest N"
                                             if smallest_rss else ""),
               smallest_rss, "smallest N's peak" if smallest_rss else "",
               peak < RSS_GOAL_MB and flat),
        Figure(f"daily delta wall time ({tag})", delta["wall_s"], "s",
               f"< {DELTA_WALL_GOAL_S:.0f} s" if timed else "-",
               met=delta["wall_s"] < DELTA_WALL_GOAL_S if timed else None),
    ]
    if load["raw_bytes"]:
        share = load["body_bytes"] / load["raw_bytes"]
        figs.append(Figure(f"  storage, first versions / raw JSON, in this run ({tag})",
                           share * 100, "%", "-", None,
                           "copies of the samples: the dictionary saw them"))
    return figs


def _projection(m: dict[str, Any], held: dict[str, float]) -> list[Figure]:
    """Snapshot bodies for the whole registry and a year of updates: first versions at the
    held-out share (this run's copies flatter the dictionary), later versions as measured."""
    load, delta = m["load"], m["delta"]
    sample_record = load["raw_bytes"] / max(1, load["versions"])
    later_versions = delta["versions"] - load["versions"]
    later = (delta["body_bytes"] - load["body_bytes"]) / max(1, later_versions)
    year = 365 * UPDATES_PER_DAY * later
    figs = [Figure("  stored bytes per later version (measured, 1% delta)", later, "bytes")]
    for size, note in ((sample_record, "the samples' average"),
                       (REGISTRY_RECORD_BYTES, "the registry's average, DESIGN.md")):
        first = size * held["trained"]
        figs.append(Figure(
            f"projection: {REGISTRY_STUDIES:,} studies of {size / 1000:.0f} KB ({note}) + a "
            f"year of {UPDATES_PER_DAY:,} updates/day", REGISTRY_STUDIES * first + year, "bytes",
        ))
    return figs


def held_out_storage(folds: int = 5) -> dict[str, float]:
    """First versions' share of their JSON on records the dictionary never saw: the samples in
    `folds` parts, each compressed with a dictionary trained on the others (as a mirror trains
    on its first page), against each compressed alone."""
    import orjson
    import zstandard

    from sync.store import codec

    files = sorted((samples_dir() / "records").glob("NCT*.json"))
    raws = [orjson.dumps(orjson.loads(f.read_bytes())) for f in files]
    total = sum(len(r) for r in raws)
    trained = alone = 0
    for fold in range(folds):
        train: list[bytes | bytearray | memoryview] = [
            r for i, r in enumerate(raws) if i % folds != fold
        ]
        test = [r for i, r in enumerate(raws) if i % folds == fold]
        zdict = zstandard.train_dictionary(codec.DICT_SIZE, train, level=codec.WHOLE_LEVEL)
        with_dict = zstandard.ZstdCompressor(level=codec.WHOLE_LEVEL, dict_data=zdict)
        trained += sum(len(with_dict.compress(r)) for r in test)
        alone += sum(len(codec.encode(r)[1]) for r in test)
    return {"trained": trained / total, "alone": alone / total, "records": len(raws)}


def _storage_figure(held: dict[str, float]) -> Figure:
    return Figure(
        f"storage, first versions / raw JSON (held out: {held['records']:.0f} real records, "
        "5-fold)", held["trained"] * 100, "%", f"<= {STORAGE_GOAL:.0%}", held["alone"] * 100,
        "each compressed alone", held["trained"] <= STORAGE_GOAL,
    )


def _profile(fake: FakeServer, tmp: Path, n: int) -> str:
    prof = tmp / "mirror.prof"
    syncproc.in_fresh_process("bench.mirror:mirror_once", f"sqlite:///{tmp}/profile.db",
                              fake.base_url, fake.history_url, create=True, profile=str(prof))
    buf = io.StringIO()
    stats = pstats.Stats(str(prof), stream=buf)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(35)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mirror", description=__doc__)
    parser.add_argument("--sizes", default="10000,50000,100000",
                        help="mirror sizes, comma-separated")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE,
                        help="full records per page of the first load (api.mirror_page_size)")
    parser.add_argument("--profile", type=int, default=2000,
                        help="studies in the profiled SQLite load (0: none)")
    parser.add_argument("--tracked", default="5000,50000",
                        help="tracked-trial first syncs, comma-separated sizes ('' for none)")
    parser.add_argument("--directory-entries", type=int, default=ARCHIVE_ENTRIES,
                        help="entries of the archive whose central directory is measured (0: "
                        "none)")
    parser.add_argument("--quick", action="store_true",
                        help="a mirror of 300, no profile, nothing written: proves it runs (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.profile, args.tracked, args.directory_entries = "300", 0, "300", 2000
    try:
        samples_dir()
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
        tracked = sorted({int(s.replace("_", "")) for s in args.tracked.split(",") if s.strip()})
    except SamplesMissing as exc:
        print(f"bench.mirror: {exc}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"bench.mirror: sizes are integers separated by commas: {args.sizes}",
              file=sys.stderr)
        return 2
    env = report.environment()
    started = time.perf_counter()
    figures: list[Figure] = []
    results: dict[str, Any] = {}
    profile_text = ""
    smallest_rss: dict[str, float] = {}
    held = held_out_storage()
    figures.append(_storage_figure(held))
    with tempfile.TemporaryDirectory(prefix="trialwatch-mirror-") as tmpname, \
            FakeServer() as fake:
        tmp = Path(tmpname)
        for n in sizes:
            _log(f"bench.mirror: populating the fake registry with {n:,} studies")
            fake.populate(n)
            fl = syncproc.in_fresh_process("floor", fake.base_url, n,
                                           stride=max(1, n // 5_000))
            dbs = {"sqlite": f"sqlite:///{tmp}/mirror-{n}.db"}
            if not args.no_postgres and (pg := _pg_url()):
                dbs["postgresql"] = pg
            archive = tmp / f"archive-{n}.zip"
            # In its own process: a child's peak RSS starts from its parent's (fork, exec).
            syncproc.in_fresh_process("bench.mirror:make_archive", str(archive), n)
            for label, url in dbs.items():
                if label == "postgresql":
                    fake.populate(n)  # the same registry as SQLite got, before its delta
                m = _run(fake, url, n, label, args.page_size)
                # The archive before the delta, the registry after it; on a fresh database.
                fresh = f"sqlite:///{tmp}/archive-{n}.db" if label == "sqlite" else _pg_url()
                if fresh:
                    a = _archive_run(fake, fresh, n, label, args.page_size, archive)
                    results[f"{label}-{n}-archive"] = a
                    figures += _archive_figures(n, label, a, smallest_rss.get(f"a-{label}"))
                    smallest_rss.setdefault(f"a-{label}", _total_rss(a))
                results[f"{label}-{n}"] = {**m, "floor": fl}
                figures += _figures(n, label, m, fl, args.page_size, smallest_rss.get(label))
                smallest_rss.setdefault(label, m["load"]["peak_rss_mb"])
                if label == "sqlite":
                    figures += _projection(m, held)
        for n in tracked:
            _log(f"bench.mirror: tracked-trial first sync of {n:,}")
            fake.populate(n)
            fl = syncproc.in_fresh_process("floor", fake.base_url, n,
                                           stride=max(1, n // 5_000))
            dbs = {"sqlite": f"sqlite:///{tmp}/tracked-{n}.db"}
            if not args.no_postgres and (pg := _pg_url()):
                dbs["postgresql"] = pg
            for label, url in dbs.items():
                t = syncproc.in_fresh_process("sync_once", url, fake.base_url, fake.history_url,
                                              n_setup=n)
                results[f"tracked-{label}-{n}"] = {**t, "floor": fl}
                figures += _tracked_figures(n, label, t, fl)
        if args.directory_entries:
            _log(f"bench.mirror: central directory of {args.directory_entries:,} entries")
            tiny = tmp / "directory.zip"
            syncproc.in_fresh_process("bench.mirror:tiny_archive", str(tiny),
                                      args.directory_entries)
            d = syncproc.in_fresh_process("bench.mirror:directory_rss", str(tiny))
            results["directory"] = d
            figures += _directory_figures(d)
        if args.profile:
            fake.populate(args.profile)
            _log(f"bench.mirror: profiled load of {args.profile:,}")
            profile_text = _profile(fake, tmp, args.profile)
    env["load_average_end"] = report.environment()["load_average"]
    elapsed = time.perf_counter() - started
    print(report.table_text(figures))
    print()
    met = [f for f in figures if f.met is not None]
    print(f"goals met: {sum(1 for f in met if f.met)} of {len(met)}; took {elapsed / 60:.1f} min; "
          f"load average {env['load_average'][0]:.2f} -> {env['load_average_end'][0]:.2f} "
          f"on {env['cpus']} CPUs (a shared machine: CPU-time figures are noisy)")
    if args.quick:
        return 0
    report.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if profile_text:
        path = report.RESULTS_DIR / "mirror-profile.txt"
        path.write_text(profile_text)
        print(f"profile: {path}")
    (report.RESULTS_DIR / "mirror-latest.md").write_text(report.table_markdown(figures) + "\n")
    (report.RESULTS_DIR / "mirror-latest.json").write_text(
        json.dumps({"environment": env, "held_out_storage": held, "runs": results}, indent=1,
                   default=str)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
