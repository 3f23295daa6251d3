"""Terminal rendering of changes: word diffs styled on a terminal, marked in a pipe."""

from __future__ import annotations

import io

from rich.console import Console

from sync.cli.render import print_diff, word_diff_text

SEGMENTS = [["equal", "ECOG"], ["delete", "0 or 1"], ["insert", "0 to 2"]]


def test_word_diff_marks_in_plain_text() -> None:
    text = word_diff_text(SEGMENTS, styled=False)
    assert text is not None
    assert text.plain.strip() == "ECOG [-0 or 1-] {+0 to 2+}"


def test_word_diff_styles_on_a_terminal() -> None:
    text = word_diff_text(SEGMENTS, styled=True)
    assert text is not None
    assert "[-" not in text.plain
    styles = {str(span.style) for span in text.spans}
    assert "red strike" in styles and "green" in styles


def test_print_diff_groups_most_severe_first_and_shows_old_and_new() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=160, force_terminal=False)
    change = {"path": "p", "detail": None}
    data = {
        "nct_id": "NCT90000001",
        "from": 1,
        "to": 2,
        "changes": [
            {**change, "category": "sites", "summary": "site added: X, Y, Z", "severity": "medium",
             "old": None, "new": {"facility": "X"}},
            {**change, "category": "status", "summary": "status: RECRUITING -> SUSPENDED",
             "severity": "high", "old": "RECRUITING", "new": "SUSPENDED"},
        ],
    }
    print_diff(console, data)
    out = buf.getvalue()
    assert "2 changes" in out
    assert out.index("status (1)") < out.index("sites (1)")
    assert "RECRUITING" in out and "SUSPENDED" in out
