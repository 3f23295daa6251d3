"""Eligibility criteria: parsing into sections and items, and item-by-item diffs."""

from __future__ import annotations

import json
from typing import Any

from sync.core.criteria import Criteria, diff_criteria, parse_criteria
from sync.testing.factory import load_sample, samples_dir

BASE = """Inclusion Criteria:

* Age 18 or above.
* ECOG performance status 0-1.
* Adequate organ function:

  1. ANC \\>= 1.5 x 10\\^9/L
  2. Platelets \\>= 100 x 10\\^9/L
* Signed informed consent \\[ICF\\].

Exclusion Criteria:

* Active CNS metastases.
* Prior CAR-NK cell therapy.
* Pregnancy or lactation.
"""


def texts(criteria: Criteria, section: str) -> list[str]:
    return [item.text for item in criteria.flat(section)]


def criteria_of(relpath: str) -> str:
    text = load_sample(relpath)["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    assert isinstance(text, str)
    return text


# --- parsing ---------------------------------------------------------------------------------


def test_sections_items_nesting_and_escapes() -> None:
    parsed = parse_criteria(BASE)
    assert texts(parsed, "inclusion") == [
        "Age 18 or above.",
        "ECOG performance status 0-1.",
        "Adequate organ function:",
        "ANC >= 1.5 x 10^9/L",
        "Platelets >= 100 x 10^9/L",
        "Signed informed consent [ICF].",
    ]
    organ = parsed.inclusion[2]
    assert [c.text for c in organ.children] == ["ANC >= 1.5 x 10^9/L", "Platelets >= 100 x 10^9/L"]
    assert [c.level for c in organ.children] == [1, 1]
    assert texts(parsed, "exclusion") == [
        "Active CNS metastases.",
        "Prior CAR-NK cell therapy.",
        "Pregnancy or lactation.",
    ]
    assert parsed.other == []


def test_every_bullet_and_numbering_style_is_stripped() -> None:
    text = "\n".join(
        [
            "INCLUSION CRITERIA",
            "* star",
            "- dash",
            "+ plus",
            "• dot",
            "1. number dot",
            "2) number paren",
            "a. letter dot",
            "iv. roman",
            "(b) letter in parens",
            "1\\. escaped number",
            "Key Exclusion Criteria:",
            "--double dash",
        ]
    )
    parsed = parse_criteria(text)
    assert texts(parsed, "inclusion") == [
        "star", "dash", "plus", "dot", "number dot", "number paren", "letter dot", "roman",
        "letter in parens", "escaped number",
    ]  # fmt: skip
    assert texts(parsed, "exclusion") == ["double dash"]


def test_numbers_that_are_content_are_kept() -> None:
    parsed = parse_criteria("Inclusion Criteria:\n\n* 18 years or older\n* 1.5 x ULN or less")
    assert texts(parsed, "inclusion") == ["18 years or older", "1.5 x ULN or less"]


def test_preamble_and_notes_go_to_other() -> None:
    text = (
        "Participants must meet all of the following.\n\n"
        "Inclusion Criteria:\n\n* Adults\n\n"
        "Exclusion Criteria:\n\n* Children\n\n"
        "Note: Other protocol-defined Inclusion/Exclusion criteria may apply."
    )
    parsed = parse_criteria(text)
    assert texts(parsed, "other") == [
        "Participants must meet all of the following.",
        "Note: Other protocol-defined Inclusion/Exclusion criteria may apply.",
    ]
    assert texts(parsed, "inclusion") == ["Adults"]
    assert texts(parsed, "exclusion") == ["Children"]


def test_wrapped_lines_join_their_item() -> None:
    parsed = parse_criteria("Inclusion Criteria:\n\n* Adequate renal\n  function\n* Next")
    assert texts(parsed, "inclusion") == ["Adequate renal function", "Next"]


def test_real_key_criteria_headings() -> None:
    samples_dir()
    relpath = "versions/NCT04736173/NCT04736173_2026-02-03_91d8d988.json"
    assert criteria_of(relpath).startswith("Key Inclusion Criteria:")
    parsed = parse_criteria(criteria_of(relpath))
    assert parsed.inclusion and parsed.exclusion
    assert texts(parsed, "other") == [
        "Note: Other protocol defined Inclusion/Exclusion criteria may apply."
    ]
    assert not any("Criteria" in t for t in texts(parsed, "inclusion") + texts(parsed, "exclusion"))


def test_real_upper_case_headings() -> None:
    parsed = parse_criteria(criteria_of("records/NCT05366179.json"))
    assert len(parsed.inclusion) >= 3 and len(parsed.exclusion) >= 3
    assert parsed.other == []


def test_every_real_record_parses_into_sections() -> None:
    root = samples_dir()
    for path in sorted((root / "records").glob("*.json")):
        study = json.loads(path.read_text(encoding="utf-8"))
        text = study["protocolSection"]["eligibilityModule"].get("eligibilityCriteria")
        parsed = parse_criteria(text)
        assert parsed.inclusion, path.name
        for section in ("inclusion", "exclusion", "other"):
            for item in parsed.flat(section):
                assert item.text and item.text == " ".join(item.text.split()), path.name
                assert not item.text.startswith(("* ", "- ", "\\")), (path.name, item.text)


def test_html_from_the_history_endpoint() -> None:
    history: dict[str, Any] = json.loads(
        (samples_dir() / "history" / "NCT03690141.history-true.json").read_text(encoding="utf-8")
    )
    html = history["study"]["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    parsed = parse_criteria(html)
    inclusion = texts(parsed, "inclusion")
    assert inclusion[0] == "Men ≥18 years."
    assert "Serum testosterone ≤1.73 nmol/L (50 ng/dL) at screening." in inclusion
    nested = next(i for i in parsed.inclusion if i.text.startswith("PSA progression on"))
    assert [c.text for c in nested.children] == [
        "Soft tissue disease progression defined by iRECIST/RECIST 1.1",
        "Bone disease",
    ]
    assert parsed.exclusion


def test_html_and_markdown_of_one_text_are_equal() -> None:
    html = (
        "<p>Inclusion Criteria:</p><ul><li>Age &gt;= 18</li><li><p>Organ function:</p>"
        "<ul><li>ANC &gt;= 1.5</li></ul></li></ul><p>Exclusion Criteria:</p>"
        "<ul><li>Pregnancy [any trimester]</li></ul>"
    )
    markdown = (
        "Inclusion Criteria:\n\n* Age \\>= 18\n* Organ function:\n\n  * ANC \\>= 1.5\n\n"
        "Exclusion Criteria:\n\n* Pregnancy \\[any trimester\\]"
    )
    assert parse_criteria(html) == parse_criteria(markdown)
    assert diff_criteria(html, markdown) == []


def test_empty_and_none() -> None:
    assert parse_criteria(None) == Criteria()
    assert parse_criteria("") == Criteria()
    assert diff_criteria(None, None) == []


# --- diffing ---------------------------------------------------------------------------------


def test_added_bullet() -> None:
    new = BASE.replace("* Pregnancy", "* Known HIV infection.\n* Pregnancy")
    changes = diff_criteria(BASE, new)
    assert len(changes) == 1
    (change,) = changes
    assert (change.section, change.kind, change.old, change.new) == (
        "exclusion", "added", None, "Known HIV infection.",
    )  # fmt: skip
    assert change.index == 2 and change.new_index == 2 and change.old_index is None
    assert change.word_diff == (("insert", "Known HIV infection."),)


def test_removed_bullet() -> None:
    new = BASE.replace("* Prior CAR-NK cell therapy.\n", "")
    (change,) = diff_criteria(BASE, new)
    assert (change.section, change.kind, change.old, change.new) == (
        "exclusion", "removed", "Prior CAR-NK cell therapy.", None,
    )  # fmt: skip
    assert change.old_index == 1


def test_reworded_bullet_is_one_modified_item_with_a_word_diff() -> None:
    new = BASE.replace("ECOG performance status 0-1.", "ECOG performance status 0-2.")
    (change,) = diff_criteria(BASE, new)
    assert (change.section, change.kind) == ("inclusion", "modified")
    assert (change.old, change.new) == (
        "ECOG performance status 0-1.",
        "ECOG performance status 0-2.",
    )
    assert change.similarity is not None and change.similarity >= 0.6
    assert change.word_diff == (
        ("equal", "ECOG performance status"),
        ("delete", "0-1."),
        ("insert", "0-2."),
    )
    assert change.to_dict()["word_diff"] == [
        ["equal", "ECOG performance status"], ["delete", "0-1."], ["insert", "0-2."],
    ]  # fmt: skip


def test_unrelated_replacement_is_removed_plus_added() -> None:
    new = BASE.replace("Pregnancy or lactation.", "Uncontrolled hypertension despite therapy.")
    kinds = sorted(c.kind for c in diff_criteria(BASE, new))
    assert kinds == ["added", "removed"]


def test_renumbering_only_is_no_change() -> None:
    old = "Inclusion Criteria:\n\n1. Adults\n2. Consent\n\nExclusion Criteria:\n\n1. Children"
    new = "Inclusion Criteria:\n\na) Adults\nb) Consent\n\nExclusion Criteria:\n\n7. Children"
    assert diff_criteria(old, new) == []


def test_bullet_style_only_is_no_change() -> None:
    new = BASE.replace("* ", "- ").replace("  1. ", "  * ").replace("  2. ", "  * ")
    assert new != BASE
    assert diff_criteria(BASE, new) == []


def test_escapes_only_is_no_change() -> None:
    new = BASE.replace("\\>=", ">=").replace("\\[", "[").replace("\\]", "]").replace("\\^", "^")
    assert new != BASE
    assert diff_criteria(BASE, new) == []


def test_whitespace_and_line_endings_only_is_no_change() -> None:
    new = BASE.replace("\n", "\r\n").replace("Age 18 or", "Age  18   or").replace("\n\n", "\n")
    assert diff_criteria(BASE, new) == []


def test_moving_an_item_within_a_section_is_no_change() -> None:
    new = BASE.replace("* Active CNS metastases.\n* Prior CAR-NK cell therapy.\n", "").replace(
        "* Pregnancy or lactation.\n",
        "* Pregnancy or lactation.\n* Prior CAR-NK cell therapy.\n* Active CNS metastases.\n",
    )
    assert new != BASE
    assert diff_criteria(BASE, new) == []


def test_moving_an_item_between_sections_is_a_change() -> None:
    new = BASE.replace("* Pregnancy or lactation.\n", "").replace(
        "* Age 18 or above.", "* Age 18 or above.\n* Pregnancy or lactation."
    )
    got = {(c.section, c.kind, c.old or c.new) for c in diff_criteria(BASE, new)}
    assert got == {
        ("inclusion", "added", "Pregnancy or lactation."),
        ("exclusion", "removed", "Pregnancy or lactation."),
    }


def test_criteria_appearing_are_all_added() -> None:
    changes = diff_criteria(None, BASE)
    assert len(changes) == 9 and {c.kind for c in changes} == {"added"}


def test_real_reworded_inclusion_criteria() -> None:
    old = criteria_of("versions/NCT06821503/NCT06821503_2026-02-11_afb21bfb.json")
    new = criteria_of("versions/NCT06821503/NCT06821503_2026-03-11_a714e50c.json")
    changes = diff_criteria(old, new)
    assert [(c.section, c.kind, c.index) for c in changes] == [
        ("inclusion", "modified", 8),
        ("inclusion", "modified", 9),
    ]
    assert changes[1].old is not None and changes[1].old.startswith("Have not received")
    assert changes[1].new is not None and changes[1].new.startswith("Previously received no")
    assert ("insert", "pancreatic cancer.") in changes[1].word_diff
