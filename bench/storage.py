"""Storage: what 100 successive versions of one large record cost, against its raw JSON."""

from __future__ import annotations

import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import zstandard

from bench import workload

# The largest real record: 1,148 sites, about 370 KB of JSON.
LARGE_RECORD = "NCT04267848"


def successive_versions(name: str = LARGE_RECORD, count: int = 100) -> list[dict[str, Any]]:
    """count versions of a real record, each the one before with one small sponsor update."""
    study = workload.sample(name)
    versions = [orjson.loads(orjson.dumps(study))]
    start = date(2026, 1, 5)
    for v in range(1, count):
        kind = workload.CHANGE_KINDS[v % len(workload.CHANGE_KINDS)]
        day = (start + timedelta(days=v)).isoformat()
        study = workload.change(orjson.loads(orjson.dumps(study)), kind, day, v)
        versions.append(study)
    return versions


def hundred_versions(tmp: Path, name: str = LARGE_RECORD, count: int = 100) -> dict[str, Any]:
    """Store `count` successive versions through store.store_version; bytes and timings."""
    from models import Trial, db
    from models.db import session_scope
    from sync.store import snapshots as store

    versions = successive_versions(name, count)
    engine = db.make_engine(f"sqlite:///{tmp}/storage.db")
    db.upgrade(engine)
    with session_scope(engine) as s:
        trial = Trial(nct_id=name, source="bench")
        s.add(trial)
        s.flush()
        trial_id = trial.id
    assert trial_id is not None
    write_ms = []
    for study in versions:
        with session_scope(engine) as s:
            current = s.get(Trial, trial_id)
            assert current is not None
            t0 = time.perf_counter()
            stored = store.store_version(s, current, study)
            s.flush()
            write_ms.append((time.perf_counter() - t0) * 1000)
            assert stored is not None, "every version differs from the one before"
    read_ms = []
    steps = []
    with session_scope(engine) as s:
        n, body, raw = store.storage_bytes(s, trial_id)
        for snap in store.snapshots(s, trial_id):
            t0 = time.perf_counter()
            doc = store.record_of(s, snap)
            read_ms.append((time.perf_counter() - t0) * 1000)
            steps.append(1 if snap.base_version is None else 2)
            assert doc == versions[snap.version - 1], f"v{snap.version} does not read back"
    engine.dispose()
    raws = [orjson.dumps(v) for v in versions]
    one_raw = len(raws[0])
    whole = zstandard.ZstdCompressor(level=3)
    return {
        "record": name,
        "versions": n,
        "stored_bytes": body,
        "raw_one_copy": one_raw,
        "raw_all_versions": raw,
        "zstd_each_whole": sum(len(whole.compress(r)) for r in raws),
        "ratio_to_one_raw": body / one_raw,
        "write_ms_p50": statistics.median(write_ms),
        "read_ms_p50": statistics.median(read_ms),
        "read_ms_max": max(read_ms),
        "max_decode_steps": max(steps),
    }
