"""Requests made to sync N tracked trials: first sync, unchanged re-sync, re-syncs after a new
data release with nothing and with a share of the studies changed (`python -m
bench.requests_count [N]`; `python -m bench` reports the same figures for every size)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import scenario
from bench.server import FakeServer


def measure(n: int = 500, share: float = 0.01) -> dict[str, int]:
    """Request counts of the benchmark's sync rounds for n trials."""
    with tempfile.TemporaryDirectory() as tmp, FakeServer() as fake:
        fake.populate(n)
        m = scenario.run_size(fake, n, Path(tmp), share=share, log=lambda *_: None)
    return {
        "first sync": m["ingest"]["requests"],
        "re-sync, no change": m["resync_nochange"]["requests"],
        "re-sync, new release, none changed": m["resync_new_release"]["requests"],
        f"re-sync, {m['changed']} changed": m["resync_changed"]["requests"],
        f"  new versions stored ({m['changed']} changed)": m["resync_changed"]["new_versions"],
        "  goal for a re-sync with changes": scenario.expected_requests(n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.requests_count", description=__doc__)
    parser.add_argument("n", type=int, nargs="?", default=500, help="tracked trials (500)")
    parser.add_argument("--quick", action="store_true", help="50 trials (CI: proves it runs)")
    args = parser.parse_args()
    n = 50 if args.quick else args.n
    for label, value in measure(n).items():
        print(f"{label:<40} {value}")


if __name__ == "__main__":
    main()
