"""HTML (history endpoints) and Markdown (API v2) of the same text: one comparable form."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sync.core import record
from sync.core.text import comparable, html_to_markdown, looks_like_html, markdown_record
from sync.testing.factory import load_sample, samples_dir
from tests.support.apitext import api_markdown
from tests.support.history_capture import CAPTURE


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


# -- exact conversion -------------------------------------------------------------------------

CRITERIA_HTML = (
    "<p>Inclusion Criteria:</p><ul><li>Adults aged &ge;18 years</li><li><p>Adequate organ "
    "function:</p><ol><li>ANC &gt;1.5 x 10<sup>9</sup>&#x2F;L</li><li>Platelets &gt;100 x "
    "10^9&#x2F;L</li></ol></li><li>Measurable disease per RECIST 1.1 [investigator&#x27;s "
    "review]</li></ul><p>Exclusion Criteria:</p><ul><li>Prior CAR-NK therapy\nor any cell "
    "therapy</li><li>1. numbered text that is not a list</li></ul>"
)
CRITERIA_MD = """Inclusion Criteria:

* Adults aged ≥18 years
* Adequate organ function:

  1. ANC \\>1.5 x 10\\^9/L
  2. Platelets \\>100 x 10\\^9/L
* Measurable disease per RECIST 1.1 \\[investigator's review\\]

Exclusion Criteria:

* Prior CAR-NK therapy
  or any cell therapy
* 1\\. numbered text that is not a list"""

# The same criteria as the API might lay them out: three-space nesting, one line per item.
CRITERIA_API = """Inclusion Criteria:

* Adults aged ≥18 years
* Adequate organ function:

   1. ANC \\>1.5 x 10\\^9/L
   2. Platelets \\>100 x 10\\^9/L
* Measurable disease per RECIST 1.1 \\[investigator's review\\]

Exclusion Criteria:

* Prior CAR-NK therapy or any cell therapy
* 1\\. numbered text that is not a list
"""


def test_block_html_becomes_the_apis_markdown() -> None:
    assert html_to_markdown(CRITERIA_HTML) == CRITERIA_MD


def test_plain_fields_lose_tags_and_references_but_gain_no_escapes() -> None:
    title = 'Study of A&amp;B in &lt;CRPC&gt; (<mark class="hl-term">CRPC</mark>) 1*2_3'
    assert html_to_markdown(title) == "Study of A&B in <CRPC> (CRPC) 1*2_3"
    assert html_to_markdown("and&#x2F;or Gilbert&#x27;s") == "and/or Gilbert's"
    assert html_to_markdown("no markup at all") == "no markup at all"


def test_links_and_breaks() -> None:
    doc = (
        '<p>See <a href="https://example.org/p">the protocol</a> or '
        '<a href="https://example.org/q">https://example.org/q</a><br>for details.</p><p>End</p>'
    )
    assert html_to_markdown(doc) == (
        "See [the protocol](https://example.org/p) or https://example.org/q\nfor details.\n\nEnd"
    )
    assert comparable(doc) == comparable(
        "See [the protocol](https://example.org/p) or https://example.org/q for details.\n\nEnd"
    )
    assert comparable(doc) == (
        "See the protocol (https://example.org/p) or https://example.org/q for details. End"
    )


def test_looks_like_html() -> None:
    assert looks_like_html("<p>x</p>") and looks_like_html("A &amp; B")
    assert looks_like_html('x <mark class="hl-term">y</mark>')
    for text in ("<=18 years", "PD-L1 in TAP (<1%)", "Merck Sharp & Dohme", "\\<p\\> escaped",
                 "typed as \\&gt; in Markdown"):
        assert not looks_like_html(text), text


# -- the comparable form ----------------------------------------------------------------------


def test_html_and_markdown_of_one_text_compare_equal() -> None:
    assert comparable(CRITERIA_HTML) == comparable(CRITERIA_MD) == comparable(CRITERIA_API)
    assert comparable(CRITERIA_API) == (
        "Inclusion Criteria: * Adults aged ≥18 years * Adequate organ function: "
        "1. ANC >1.5 x 10^9/L 2. Platelets >100 x 10^9/L * Measurable disease per RECIST 1.1 "
        "[investigator's review] Exclusion Criteria: * Prior CAR-NK therapy or any cell "
        "therapy * 1. numbered text that is not a list"
    )


@pytest.mark.parametrize(
    "changed",
    [
        CRITERIA_API.replace("\\>1.5", "\\>2.0"),  # a number
        CRITERIA_API.replace("* Adults", "* Adults and adolescents"),  # words
        CRITERIA_API.replace("cell therapy\n", "cell therapy\n* Pregnancy\n"),  # an item
        CRITERIA_API.replace("   2. Platelets", "   2. ANC twice\n   3. Platelets"),
    ],
)
def test_content_changes_still_differ(changed: str) -> None:
    assert comparable(changed) != comparable(CRITERIA_HTML)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("a \\> b \\[c\\] d\\_e \\& f", "a > b [c] d_e & f"),
        ("**Note:** text", "<p><strong>Note:</strong> text</p>"),
        ("*Note:* text and _more_", "Note: text and more"),
        ("- one\n- two", "* one\n* two"),
        ("+ one", "<ul><li>one</li></ul>"),
        ("1) first\n2) second", "<ol><li>first</li><li>second</li></ol>"),
        ("para one\n\npara two", "<p>para one</p><p>para two</p>"),
        ("  spaced   out\ttext \n", "spaced out text"),
        ("line one\\\nline two", "line one<br>line two"),
        ("`code` and <https://example.org>", "code and https://example.org"),
        ("A &amp; B", "A & B"),
    ],
)
def test_equivalent_spellings(a: str, b: str) -> None:
    assert comparable(a) == comparable(b)


def test_plain_strings_take_the_fast_path_unchanged() -> None:
    for text in ("NOT_YET_RECRUITING", "SJCARB7H3_41BBL infusion", "2018-10-12", "Detroit"):
        assert comparable(text) == text
    assert comparable(" padded ") == "padded"
    assert comparable("10\\*5 is not emphasis*") == "10*5 is not emphasis*"


# -- the real capture and real records --------------------------------------------------------


def test_every_text_of_the_history_capture_converts_faithfully() -> None:
    study = load_sample(CAPTURE)["study"]
    texts = [s for s in strings(study) if looks_like_html(s)]
    assert len(texts) == 11  # titles, conditions, descriptions, arms, outcomes, criteria
    for text in texts:
        converted = html_to_markdown(text)
        assert "<mark" not in converted and "&#x" not in converted
        assert comparable(text) == comparable(converted) == comparable(api_markdown(text)), text


def test_capture_criteria_as_markdown() -> None:
    study = load_sample(CAPTURE)["study"]
    md = html_to_markdown(study["protocolSection"]["eligibilityModule"]["eligibilityCriteria"])
    lines = md.split("\n")
    assert lines[:3] == ["Inclusion Criteria:", "", "* Men ≥18 years."]
    assert "* Estimated life expectancy \\>12 weeks." in lines
    # A nested numbered list under a bullet, a bullet list under a paragraph of an item.
    assert any(ln.startswith("  1. intranasal, inhaled") for ln in lines)
    assert "  * Bone disease" in lines
    assert "Exclusion Criteria:" in lines
    inclusion = md.split("Exclusion Criteria:")[0]
    assert sum(1 for ln in inclusion.split("\n") if ln.startswith("* ")) == 16


def test_real_api_records_are_left_as_they_are() -> None:
    records = sorted((samples_dir() / "records").glob("*.json"))
    assert len(records) >= 50
    for path in records:
        study = load_sample(f"records/{path.name}")
        # Markdown from the documented API is never mistaken for the history's HTML …
        assert markdown_record(study) == study, path.name
        # … and its canonical form (hashing) handles every string.
        assert len(record.content_hash(study)) == 64
        for text in strings(record.submitted_content(study)):
            assert "\n" not in comparable(text)
