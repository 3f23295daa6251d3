"""`python -m bench.cli`: the command line's start-up, as CPU time (user + system) of the child
process, median of several runs, and the slowest imports of `trialwatch list`.

A person types `trialwatch --version` or `trialwatch list` and waits for the interpreter, the
imports and the command: the goals are under 0.3 s of CPU for `--version` and under 0.7 s for
`list` of 100 trials (SQLite). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import report
from bench.report import Figure

VERSION_GOAL_S = 0.3
LIST_GOAL_S = 0.7
TRIALS = 100
RUNS = 7
QUICK_RUNS = 2
TOP_IMPORTS = 10


def _trialwatch() -> list[str]:
    """The installed console script beside this interpreter, else `python -m sync`."""
    script = Path(sys.executable).with_name("trialwatch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sync"]


def _setup(tmp: Path, trials: int) -> dict[str, str]:
    """A migrated SQLite database with `trials` studies (version 1 each, members of a mirror)
    and an empty config file: the environment the commands run in."""
    from models import db
    from sync.testing.scope import bulk_scope

    url = f"sqlite:///{tmp / 'trialwatch.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    bulk_scope(engine, trials, watch="bench")
    engine.dispose()
    config = tmp / "config.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env.update(TRIALWATCH_CONFIG=str(config), TRIALWATCH_DATABASE_URL=url)
    # Bytecode as an installed package has it (pip compiles on install): a checkout run with
    # PYTHONDONTWRITEBYTECODE would compile trialwatch's own modules on every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def child_cpu_s(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    """CPU seconds (user + system) of one run of argv, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        msg = f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}"
        raise RuntimeError(msg)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_cpu_s(argv: Sequence[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    child_cpu_s(argv, env, cwd)  # warm the file cache and the bytecode
    return statistics.median(child_cpu_s(argv, env, cwd) for _ in range(runs))


def slowest_imports(
    argv: Sequence[str], env: dict[str, str], cwd: Path
) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) of every import of a command, slowest first by self
    time, from -X importtime."""
    cmd = [sys.executable, "-X", "importtime", "-m", "sync", *argv]
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append((int(self_us), int(cumulative_us), name.strip()))
    return sorted(rows, reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per command (default {RUNS})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_RUNS} runs each, no JSON written (the CI check that it runs)")
    args = parser.parse_args(argv)
    runs = QUICK_RUNS if args.quick else args.runs
    tw = _trialwatch()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="trialwatch-bench-cli-") as tmpname:
        tmp = Path(tmpname)
        env = _setup(tmp, TRIALS)
        goals = {"--version": VERSION_GOAL_S, "list": LIST_GOAL_S}
        for command in (["--version"], ["list"], ["list", "--json"], ["status"]):
            cpu = median_cpu_s([*tw, *command], env, tmp, runs)
            name = " ".join(command)
            goal = goals.get(name)
            label = f"CPU, trialwatch {name}" + (f" ({TRIALS} trials)" if "list" in command else "")
            figures.append(Figure(label, cpu, "s", "-" if goal is None else f"< {goal} s",
                                  met=None if goal is None else cpu < goal))
        python_cpu = median_cpu_s([sys.executable, "-c", "pass"], env, tmp, runs)
        for f in figures:
            f.baseline, f.baseline_note = python_cpu, "bare interpreter"
        imports = slowest_imports(["list"], env, tmp)
    print(report.table_text(figures))
    print()
    print(f"slowest imports of `trialwatch list` (-X importtime, top {TOP_IMPORTS} by self time; "
          f"{len(imports)} modules, {sum(r[0] for r in imports) / 1e6:.2f} s in all):")
    for self_us, cumulative_us, name in imports[:TOP_IMPORTS]:
        print(f"  {self_us / 1000:7.1f} ms  (cumulative {cumulative_us / 1000:7.1f} ms)  {name}")
    met = [f for f in figures if f.met is not None]
    print(f"goals met: {sum(1 for f in met if f.met)} of {len(met)}; median of {runs} runs; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if not args.quick:
        payload = {"environment": report.environment(), "runs": runs,
                   "figures": [{"name": f.name, "cpu_s": f.value, "met": f.met} for f in figures],
                   "imports": [{"self_us": s, "cumulative_us": c, "module": n}
                               for s, c, n in imports[:TOP_IMPORTS]]}
        report.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = report.RESULTS_DIR / "cli-latest.json"
        path.write_text(json.dumps(payload, indent=2, default=str))
        print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
