"""Outcome changes judged against people's ratings (Holst et al.): the four figures on the rated
pairs (all, tuned, kept apart), before (every primary edit high) and after, and the confusion.

Each pair becomes two versions of a real record, diffed and grouped into events by the same
pure code a sync runs (tests/integration/test_outcome_ratings.py runs them through real syncs):
`.venv/bin/python -m bench.outcomes` (`--quick`: the same, it takes about a second).
"""

from __future__ import annotations

import argparse
import sys

from sync.testing.factory import SamplesMissing
from sync.testing.outcome_ratings import (
    CLASSES,
    GOALS,
    confusion,
    figures,
    judged,
    load_pairs,
)


def _row(name: str, f: dict[str, float]) -> str:
    return (
        f"{name:<22} {int(f['n']):>4}  {f['major'] * 100:>6.0f}%  {f['minor'] * 100:>6.0f}%"
        f"  {f['none'] * 100:>6.0f}%  {f['exact'] * 100:>6.0f}%"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same run (it is quick)")
    parser.parse_args(argv)
    try:
        pairs = load_pairs()
    except SamplesMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    before, after = judged(pairs)
    print("rated primary-outcome changes: share meeting each goal")
    print("  major -> high, minor -> medium or high, none -> low or no event, exact class")
    print(f"{'':<22} {'n':>4}  {'major':>7}  {'minor':>7}  {'none':>7}  {'exact':>7}")
    goals = {k: v for k, v in GOALS.items()}
    print(f"{'goal (kept apart)':<22} {'':>4}  " + "  ".join(
        f"{goals[k] * 100:>6.0f}%" for k in ("major", "minor", "none", "exact")))  # fmt: skip
    for label, results in (("before", before), ("after", after)):
        for part, keep in (("all", None), ("tuned", True), ("kept apart", False)):
            sel = [r for r in results if keep is None or r[0].tuned == keep]
            print(_row(f"{label}, {part}", figures(sel)))
    print("\nconfusion (after): rated class -> importance")
    cols = ("high", "medium", "low", "no event")
    print(f"{'':<8}" + "".join(f"{c:>10}" for c in cols))
    for part, keep in (("all", None), ("tuned", True), ("kept apart", False)):
        table = confusion([r for r in after if keep is None or r[0].tuned == keep])
        print(f"[{part}]")
        for cls in CLASSES:
            print(f"{cls:<8}" + "".join(f"{table[cls][c]:>10}" for c in cols))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
