"""Diff latency on pairs of real full records: real successive captures and realistic edits."""

from __future__ import annotations

import statistics
import time
from typing import Any

import orjson

from bench import workload


def pairs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(label, old, new): every real capture pair, and every real record with each kind of
    realistic sponsor update (status, enrollment, a criterion, a site)."""
    out = workload.real_version_pairs()
    for raw in workload.sample_bytes():
        old = orjson.loads(raw)
        name = old["protocolSection"]["identificationModule"]["nctId"]
        for r, kind in enumerate(workload.CHANGE_KINDS, start=1):
            new = workload.change(orjson.loads(raw), kind, "2026-11-21", r)
            out.append((f"{name} {kind}", old, new))
    return out


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(repeat: int = 5) -> dict[str, Any]:
    """Milliseconds per diff_records call: the best of `repeat` runs for each pair."""
    from sync.core.diff import walk as diff

    per_pair: list[tuple[float, str, int]] = []
    for label, old, new in pairs():
        best = float("inf")
        changes = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            changes = len(diff.diff_records(old, new))
            best = min(best, time.perf_counter() - t0)
        per_pair.append((best * 1000, label, changes))
    ms = [p[0] for p in per_pair]
    slowest = max(per_pair)
    return {
        "pairs": len(per_pair),
        "real_capture_pairs": len(workload.real_version_pairs()),
        "p50_ms": statistics.median(ms),
        "p95_ms": _percentile(ms, 0.95),
        "max_ms": slowest[0],
        "slowest_pair": slowest[1],
        "pairs_without_changes": sum(1 for p in per_pair if p[2] == 0),
    }
