"""Terminal rendering of changes: word diffs styled on a terminal, marked in a pipe."""

from __future__ import annotations

import io

from rich.console import Console

from sync.cli.render import print_diff, word_diff_text
from sync.core.diff.walk import FieldChange
from sync.store.results import DiffItem, DiffResult

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
    changes = [
        FieldChange("sites", "p", None, {"facility": "X"}, "site added: X, Y, Z", "medium"),
        FieldChange("status", "p", "RECRUITING", "SUSPENDED", "status: RECRUITING -> SUSPENDED",
                    "high"),
    ]
    data = DiffResult("NCT90000001", 1, 2, [DiffItem(None, c, None) for c in changes], [])
    print_diff(console, data, by_event=False)
    out = buf.getvalue()
    assert "2 changes" in out
    assert out.index("status (1)") < out.index("sites (1)")
    assert "RECRUITING" in out and "SUSPENDED" in out
