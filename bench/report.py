"""The benchmark's table (terminal and Markdown) and its JSON record."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    """One row: a measured value, its goal, the baseline measured in the same run, and whether
    the goal is met (None when the figure has no goal)."""

    name: str
    value: float
    unit: str
    goal: str = "-"
    baseline: float | None = None
    baseline_note: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        assert self.baseline is not None
        return self.value / self.baseline


def _num(value: float, unit: str) -> str:
    if unit in ("requests", "versions", "studies"):
        return f"{value:,.0f}"
    if unit == "bytes":
        return _bytes(value)
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def _cells(f: Figure) -> list[str]:
    value = _num(f.value, f.unit)
    if f.unit == "requests":
        value += " requests"
    baseline = "-" if f.baseline is None else _num(f.baseline, f.unit)
    if f.baseline is not None and f.unit == "requests":
        baseline += " requests"
    if f.baseline_note:
        baseline = f"{baseline} ({f.baseline_note})" if f.baseline is not None else f.baseline_note
    ratio = "-" if f.ratio is None else f"{f.ratio:.2f}x"
    met = {True: "yes", False: "NO", None: "-"}[f.met]
    return [f.name, value, f.goal, baseline, ratio, met]


HEADER = ["figure", "value", "goal", "baseline (same run)", "ratio", "met?"]


def table_text(figures: list[Figure]) -> str:
    rows = [HEADER] + [_cells(f) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def table_markdown(figures: list[Figure]) -> str:
    rows = [HEADER] + [_cells(f) for f in figures]
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def environment() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "commit": commit,
    }


def write_json(payload: dict[str, Any], figures: list[Figure]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    doc = {
        **payload,
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
    }
    path = RESULTS_DIR / f"bench-{stamp}.json"
    text = json.dumps(doc, indent=2, default=str)
    path.write_text(text)
    (RESULTS_DIR / "latest.json").write_text(text)
    (RESULTS_DIR / "latest.md").write_text(table_markdown(figures) + "\n")
    return path
