"""Sync runs measured in a fresh process each: trialwatch's own CPU time, wall time, peak RSS."""

from __future__ import annotations

import cProfile
import multiprocessing as mp
import resource
import time
from pathlib import Path
from typing import Any

# The fake is on loopback: no politeness delay (at the default 1 request/s a re-sync of 10,000
# trials would spend 50 s waiting on purpose), and quick retries.
BENCH_RATE = 100_000.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def children_cpu() -> float:
    """CPU seconds of this process's children that have ended (a run's worker pool, shut
    down at the end of the run): counted with the run's own, or a pool would look free."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def workers_peak() -> dict[str, float]:
    """The largest peak RSS among ended children, and how many workers the last pool had
    (0 before the pool existed): the run's memory is its own peak plus that many of those."""
    try:
        from sync.ingest import pool
    except ImportError:
        workers = 0
    else:
        workers = int(getattr(pool, "LAST_WORKERS", 0))
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"workers": workers, "worker_peak_rss_mb": child if workers else 0.0}


def _settings() -> Any:
    from sync.config import ApiSettings

    return ApiSettings(
        requests_per_second=BENCH_RATE, retry_wait_initial=0.05, retry_wait_max=0.2
    )


def setup_db(db_url: str, n: int) -> None:
    """A migrated database tracking studies 1..n (bulk insert: setup, not measured)."""
    import sqlalchemy as sa

    from bench.workload import nct
    from models import Trial, db

    engine = db.make_engine(db_url)
    db.upgrade(engine)
    rows = [{"nct_id": nct(i), "source": "bench"} for i in range(1, n + 1)]
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(sa.insert(Trial), rows[start : start + 5000])
    engine.dispose()


def sync_once(
    db_url: str,
    base_url: str,
    history_url: str,
    *,
    n_setup: int = 0,
    full: bool = False,
    profile: str | None = None,
) -> dict[str, Any]:
    """One run_sync against the fake, measured; with n_setup, first a new database tracking n.

    With `profile`, cProfile's statistics are written there (and the figures are inflated).
    """
    if n_setup:
        setup_db(db_url, n_setup)
    from models import db
    from sync.ingest.run import run_sync
    from sync.registry.client import CtgovClient

    engine = db.make_engine(db_url)
    rss_before = _rss_mb()
    profiler = cProfile.Profile() if profile else None
    with CtgovClient(base_url, history_url, _settings()) as client:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        kids0 = children_cpu()
        if profiler:
            profiler.enable()
        summary = run_sync(engine, client, full=full)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        workers_cpu = children_cpu() - kids0
    engine.dispose()
    if profiler and profile:
        profiler.dump_stats(profile)
    return {
        "cpu_s": cpu + workers_cpu,
        "workers_cpu_s": workers_cpu,
        **workers_peak(),
        "wall_s": wall,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _peak_rss_mb(),
        "requests": summary.requests,
        "fetched": summary.fetched,
        "new_versions": summary.new_versions,
        "changes": summary.changes,
        "outcome": summary.outcome,
        "mode": summary.mode,
        "errors": summary.errors[:5],
    }


def floor(base_url: str, n: int, *, batch_size: int = 200, stride: int = 1) -> dict[str, Any]:
    """Parse + hash of the same responses an ingest gets, nothing stored: `cpu_s` with the
    hash a first version is stored with (the received form), `canonical_cpu_s` with the
    canonical hash (what a changed record costs, and every record did before RECEIVED_FORM).

    Every `stride`-th chunk is fetched (the workload cycles through the same samples, so a
    strided subset has the same mix); only the parse and hash are timed.
    """
    import httpx
    import orjson

    from bench.workload import nct
    from sync.core import record

    ids = [nct(i) for i in range(1, n + 1)]
    cpu = canonical_cpu = 0.0
    studies = 0
    raw_bytes = 0
    with httpx.Client(timeout=120) as http:
        for start in range(0, n, batch_size * stride):
            chunk = ids[start : start + batch_size]
            params = {"format": "json", "pageSize": "1000", "filter.ids": "|".join(chunk)}
            body = http.get(f"{base_url}/studies", params=params).content
            t0 = time.process_time()
            page = orjson.loads(body)
            for study in page["studies"]:
                record.received_hash(study)
            t1 = time.process_time()
            page = orjson.loads(body)
            for study in page["studies"]:
                record.content_hash(study)
            cpu += t1 - t0
            canonical_cpu += time.process_time() - t1
            studies += len(page["studies"])
            raw_bytes += len(body)
    return {"cpu_s": cpu, "canonical_cpu_s": canonical_cpu, "studies": studies,
            "bytes": raw_bytes}


def _child(conn: Any, fn: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        if ":" in fn:  # "package.module:function", another benchmark's
            import importlib

            module, _, name = fn.partition(":")
            target = getattr(importlib.import_module(module), name)
        else:
            target = globals()[fn]
        conn.send(target(*args, **kwargs))
    except BaseException as exc:
        conn.send(RuntimeError(f"{fn} failed: {type(exc).__name__}: {exc}"))
        raise


def in_fresh_process(fn: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run one of this module's functions in a new process (its own peak RSS) and return its
    result."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, fn, args, kwargs))
    proc.start()
    result = parent.recv()
    proc.join()
    if isinstance(result, Exception):
        raise result
    assert isinstance(result, dict)
    return result


def db_files_bytes(db_path: Path) -> int:
    """The SQLite database's size on disk, with its WAL."""
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))
