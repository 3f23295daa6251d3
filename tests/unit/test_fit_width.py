"""Fitting free text to the width: wrapped at spaces with continuation lines indented, a place
kept when a name is cut, Markdown wrapped without changing what it renders to."""

from __future__ import annotations

import io
import re

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from sync.cli.table import cut_middle, fit_markdown, print_parts, print_wrapped


def _console(width: int) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=False, soft_wrap=True), buf


def test_wrapped_text_hangs_under_its_head_and_folds_long_words() -> None:
    console, buf = _console(40)
    title = "A Phase 2 Clinical Trial Evaluating the Efficacy and Safety of Dual Checkpoint"
    print_wrapped(console, title, "  title  ")
    path = "/tmp/" + "x" * 60 + "/trialwatch.db"
    print_wrapped(console, f"database at 0004: sqlite:///{path}", hang=2)
    lines = buf.getvalue().splitlines()
    assert all(len(line) <= 40 for line in lines), lines
    assert lines[0].startswith("  title  A Phase") and re.match(r" {9}\S", lines[1])
    assert " ".join(buf.getvalue().split()).startswith(" ".join(f"title {title}".split()))
    assert "".join(line.strip() for line in lines).count("x") == 60  # folded, not cut


def test_parts_break_between_parts() -> None:
    console, buf = _console(60)
    print_parts(console, ["v2  fetched 2026-12-07T01:49:56", "last update posted 2018-10-16  "
                          "history (registry v1)"])
    assert buf.getvalue().splitlines() == [
        "v2  fetched 2026-12-07T01:49:56",
        "    last update posted 2018-10-16  history (registry v1)",
    ]


def test_cut_middle_keeps_the_place_or_gives_up() -> None:
    summary = "site added: Oncology and Hematology Associates of Southwest Virginia, Inc., " \
        "Blacksburg, United States"
    cut = cut_middle(summary, 60)
    assert cut is not None and cut.cell_len == 60
    assert cut.plain.startswith("site added: Oncology") and cut.plain.endswith(
        "…, Blacksburg, United States")
    assert cut_middle("short, a, b", 60) is not None
    assert cut_middle("status verified: " + "2025-08 -> 2026-02 " * 5, 30) is None


DIGEST = """# trialwatch digest: 115 changes in 11 trials (3 high), 1 watch event

Runs covered: #1 sync ok (2026-12-07 01:38 UTC), #2 sync ok (2026-12-07 01:38 UTC), #3 sync ok - 4 + 5

## NCT06754501: A Phase 2 Clinical Trial Evaluating the Efficacy and Safety of Dual Immune Checkpoint Inhibition

- **medium** · site status changed (RECRUITING -> (none) 1): The University of Texas M. D. Anderson Cancer Center, Houston, United States - 1. # > x
  - inclusion criterion changed: Patients ~~diagnosed~~ with ~~Pancreatic ductal~~ **a pathological diagnosis of pancreatic cancer (ductal** adenocarcinoma
- and 5 routine updates

```
a code line that is much longer than the width and must stay exactly as it is, unwrapped
```
"""  # noqa: E501


def _html(md: str) -> str:
    html = MarkdownIt("commonmark").enable("strikethrough").render(md)
    return re.sub(r"\s+", " ", html)


@pytest.mark.parametrize("width", [40, 50, 60])
def test_markdown_wraps_to_the_width_and_renders_the_same(width: int) -> None:
    fitted = fit_markdown(DIGEST, width)
    lines = fitted.splitlines()
    code = next(line for line in lines if line.startswith("a code line"))
    assert all(len(line) <= width for line in lines if line is not code), fitted
    # Headings stay on one line, ellipsized; the rest renders to the same HTML.
    headings = [line for line in lines if re.match(r"#{1,6} ", line)]
    assert len(headings) == 2 and all(h.endswith("…") and len(h) == width for h in headings)
    originals = [line for line in DIGEST.splitlines() if re.match(r"#{1,6} ", line)]
    whole = DIGEST
    for old, cut in zip(originals, headings, strict=True):
        whole = whole.replace(old, cut)
    assert _html(fitted) == _html(whole)
    assert len(lines) > len(DIGEST.splitlines()) + 3  # wrapped, not cut
    assert fit_markdown(DIGEST, 200) == DIGEST
