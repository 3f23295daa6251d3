"""Requests made to sync N tracked trials: first sync, unchanged re-sync, re-sync after k changed."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from factory import make_study, nct, with_enrollment, with_last_update  # noqa: E402
from fakectgov import serve  # noqa: E402

from models import db  # noqa: E402
from models.db import session_scope  # noqa: E402
from sync.config import ApiSettings  # noqa: E402
from sync.ctgov import CtgovClient  # noqa: E402
from sync.engine import run_sync, track  # noqa: E402


def measure(n: int = 500, changed: int = 3) -> dict[str, int]:
    """Request counts of three successive syncs of n trials against the fake registry."""
    settings = ApiSettings(requests_per_second=10_000)
    with tempfile.TemporaryDirectory() as tmp, serve() as fake:
        engine = db.make_engine(f"sqlite:///{tmp}/bench.db")
        db.upgrade(engine)
        ids = [nct(i) for i in range(1, n + 1)]
        for i in ids:
            fake.put(make_study(i, last_update="2026-10-01"))
        with session_scope(engine) as s:
            track(s, ids)
        out: dict[str, int] = {}
        with CtgovClient(fake.base_url, fake.history_url, settings) as c:
            out["first sync"] = run_sync(engine, c).requests
            out["re-sync, no change"] = run_sync(engine, c).requests
            for i in ids[:: max(1, n // changed)][:changed]:
                study = with_enrollment(fake.get(i), 99, "ACTUAL")
                fake.put(with_last_update(study, "2026-11-21"))
            fake.bump()
            summary = run_sync(engine, c)
            out[f"re-sync, {changed} changed"] = summary.requests
            out[f"  new versions stored ({changed} changed)"] = summary.new_versions
        engine.dispose()
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    for label, value in measure(n).items():
        print(f"{label:<36} {value}")


if __name__ == "__main__":
    main()
