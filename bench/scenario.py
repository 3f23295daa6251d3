"""One workload size end to end: ingest, floor, re-syncs (no change, new release, 1% changed)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

from bench.server import FakeServer
from bench.syncproc import db_files_bytes, in_fresh_process

BATCH = 200  # the engine's default filter.ids chunk


def expected_requests(n: int) -> int:
    """The goal for a re-sync with changes: /version plus one request per chunk of 200."""
    return 1 + math.ceil(n / BATCH)


def _sync(fake: FakeServer, db_url: str, **kwargs: Any) -> dict[str, Any]:
    cpu0 = fake.cpu()
    result = in_fresh_process("sync_once", db_url, fake.base_url, fake.history_url, **kwargs)
    result["server_cpu_s"] = fake.cpu() - cpu0
    if result["outcome"] != "ok":
        raise RuntimeError(f"sync ended {result['outcome']}: {result['errors']}")
    return result


def storage_of(db_path: Path) -> dict[str, int]:
    """Versions, stored body bytes, raw bytes and file bytes of a benchmark database."""
    con = sqlite3.connect(db_path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        versions, body, raw = con.execute(
            "SELECT count(*), coalesce(sum(length(body)), 0), coalesce(sum(raw_size), 0) "
            "FROM snapshot"
        ).fetchone()
    finally:
        con.close()
    return {"versions": versions, "body_bytes": body, "raw_bytes": raw,
            "file_bytes": db_files_bytes(db_path)}


def run_size(
    fake: FakeServer,
    n: int,
    tmp: Path,
    *,
    share: float = 0.01,
    floor_stride: int = 1,
    full_baseline: bool = False,
    round_: int = 1,
    log: Any = print,
) -> dict[str, Any]:
    """Every measurement of one size N: a new database tracking studies 1..n of the fake
    registry (populated with at least n studies)."""
    out: dict[str, Any] = {"n": n, "share": share}
    # Two days on: the records an earlier size changed fall outside this size's date window.
    fake.bump()
    fake.bump()
    db_path = tmp / f"bench-{n}.db"
    db_url = f"sqlite:///{db_path}"

    out["ingest"] = _sync(fake, db_url, n_setup=n)
    ing = out["ingest"]
    log(f"  N={n:,}: ingest {ing['fetched'] / ing['cpu_s']:,.0f} studies/CPU-s, "
        f"{ing['wall_s']:.1f} s wall, peak RSS {ing['peak_rss_mb']:.0f} MB")
    out["floor"] = in_fresh_process("floor", fake.base_url, n, stride=floor_stride)
    out["floor"]["stride"] = floor_stride
    out["storage"] = storage_of(db_path)

    out["resync_nochange"] = _sync(fake, db_url)
    fake.bump()
    out["resync_new_release"] = _sync(fake, db_url)
    out["changed"] = len(fake.change(n, share, round_))
    out["resync_changed"] = _sync(fake, db_url)
    rc = out["resync_changed"]
    log(f"  N={n:,}: re-syncs {out['resync_nochange']['requests']} / "
        f"{out['resync_new_release']['requests']} / {rc['requests']} requests; "
        f"{share:.0%} changed: {rc['wall_s']:.2f} s wall, {rc['new_versions']} new versions")
    if full_baseline:
        fake.bump()
        out["full_resync"] = _sync(fake, db_url, full=True)
        log(f"  N={n:,}: baseline full re-sync {out['full_resync']['wall_s']:.1f} s wall")
    db_path.unlink(missing_ok=True)
    for extra in ("-wal", "-shm"):
        Path(str(db_path) + extra).unlink(missing_ok=True)
    return out
