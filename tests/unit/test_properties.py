"""Bad input, generated: NCT IDs, eligibility text, record shapes and the diff never crash, and
never lose a change (deepdiff on the canonical forms is the independent oracle)."""

from __future__ import annotations

import copy
import re
import string
import tomllib
from typing import Any

import pytest
from deepdiff import DeepDiff
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sync.config import ConfigError, load_settings
from sync.core import record
from sync.core.criteria import SECTIONS, diff_criteria, parse_criteria
from sync.core.diff.walk import CATEGORIES, SEVERITIES, diff_records, summarise
from sync.core.ids import InvalidNCTId, normalise_many, normalise_nct_id
from sync.testing.factory import make_study
from tests.support import PROJECT_ROOT

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# `make chaos` runs the same properties on many more examples.
THOROUGH = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))

# -- NCT IDs -------------------------------------------------------------------------------------

digits8 = st.text(alphabet=string.digits, min_size=8, max_size=8)
spaces = st.text(alphabet=" \t\n", max_size=3)


@FAST
@given(digits8, st.sampled_from(["NCT", "nct", "Nct", "nCt"]), spaces, spaces)
def test_nct_valid_forms_normalise(digits: str, prefix: str, before: str, after: str) -> None:
    assert normalise_nct_id(f"{before}{prefix}{digits}{after}") == f"NCT{digits}"


@FAST
@given(st.one_of(st.text(max_size=30), st.from_regex(r"\s*[Nn][Cc][Tt]\d{0,12}\s*")))
def test_nct_anything_is_an_id_or_one_clear_line(raw: str) -> None:
    try:
        nct = normalise_nct_id(raw)
    except InvalidNCTId as exc:
        message = str(exc)
        assert "\n" not in message and "NCT" in message and "8 digits" in message
        return
    assert re.fullmatch(r"NCT\d{8}", nct)
    assert normalise_nct_id(nct) == nct  # idempotent
    assert nct[3:] in raw


@FAST
@given(st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.text()), st.binary()))
def test_nct_non_strings_are_refused(raw: Any) -> None:
    with pytest.raises(InvalidNCTId):
        normalise_nct_id(raw)


@FAST
@given(st.lists(st.builds(lambda d: f"nct{d}", digits8), max_size=6))
def test_normalise_many_keeps_order_and_drops_repeats(raws: list[str]) -> None:
    out = normalise_many(raws + raws)
    assert out == list(dict.fromkeys(r.upper() for r in raws))


# -- eligibility text --------------------------------------------------------------------------

words = st.text(alphabet=string.ascii_letters + string.digits + " ,.;:()%<>=/-'", max_size=40)
md_escapes = st.sampled_from(["\\>=", "\\<", "\\[TPS\\]", "10\\^9", "\\_", "\\*", "**bold**"])
markers = st.sampled_from(["* ", "- ", "+ ", "1. ", "2) ", "  * ", "    - ", "\t* ", "", "10. "])
headings = st.sampled_from(
    [
        "Inclusion Criteria:",
        "Exclusion Criteria:",
        "INCLUSION CRITERIA",
        "Key Exclusion Criteria:",
        "Note: other criteria may apply",
        "",
    ]
)
html_bits = st.sampled_from(
    ["<ul>", "</ul>", "<li>", "</li>", "<p>", "</p>", "<br>", "<br/>", "&amp;", "&lt;", "&#x2F;"]
)


@st.composite
def criteria_text(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            lines.append(draw(headings))
        elif kind == 1:
            lines.append(draw(markers) + draw(words) + draw(st.one_of(st.just(""), md_escapes)))
        elif kind == 2:
            lines.append("".join(draw(st.lists(st.one_of(html_bits, words), max_size=6))))
        else:
            lines.append(draw(st.text(max_size=30)))  # anything at all
    return draw(st.sampled_from(["\n", "\n\n", "\r\n"])).join(lines)


def _items(text: str | None) -> dict[str, list[str]]:
    parsed = parse_criteria(text)
    return {s: sorted(i.text for i in parsed.flat(s)) for s in SECTIONS}


@FAST
@given(criteria_text())
def test_criteria_parser_never_crashes(text: str) -> None:
    parsed = parse_criteria(text)
    for section in SECTIONS:
        for item in parsed.flat(section):
            assert isinstance(item.text, str) and item.text.strip() == item.text
    assert diff_criteria(text, text) == []


@FAST
@given(criteria_text(), criteria_text())
def test_criteria_diff_never_loses_an_item(old: str, new: str) -> None:
    changes = diff_criteria(old, new)
    for c in changes:
        assert c.section in SECTIONS and c.kind in ("added", "removed", "modified")
    if _items(old) != _items(new):
        # Items moved between or within sections are no change; anything else must show.
        assert changes or sorted(sum(_items(old).values(), [])) == sorted(
            sum(_items(new).values(), [])
        ), (old, new)


# -- arbitrary JSON shapes through the normaliser and the diff ---------------------------------

KNOWN_KEYS = [
    "protocolSection",
    "resultsSection",
    "hasResults",
    "derivedSection",
    "statusModule",
    "overallStatus",
    "designModule",
    "enrollmentInfo",
    "count",
    "type",
    "phases",
    "eligibilityModule",
    "eligibilityCriteria",
    "contactsLocationsModule",
    "locations",
    "facility",
    "city",
    "country",
    "status",
    "armsInterventionsModule",
    "armGroups",
    "label",
    "interventions",
    "name",
    "startDateStruct",
    "date",
    "lastUpdatePostDateStruct",
    "sponsorCollaboratorsModule",
    "leadSponsor",
    "outcomesModule",
    "primaryOutcomes",
    "measure",
]
# Keys as a registry would spell them: anything printable (control characters are no key).
keys = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=8),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["RECRUITING", "COMPLETED", "2026-05", "2026-05-01", "ACTUAL", ""]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """Record-like JSON: the known sections and modules, holding anything."""
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        modules = st.dictionaries(
            st.sampled_from(
                [
                    "statusModule",
                    "designModule",
                    "eligibilityModule",
                    "contactsLocationsModule",
                    "armsInterventionsModule",
                    "identificationModule",
                    "outcomesModule",
                    "aiSummaryModule",
                ]
            ),
            json_values,
            max_size=4,
        )
        doc["protocolSection"] = draw(st.one_of(modules, json_values))
    for key in ("resultsSection", "hasResults", "derivedSection", "documentSection"):
        if draw(st.booleans()):
            doc[key] = draw(json_values)
    return doc


BASE = make_study("NCT90000001", sites=[("Site A", "Lyon", "France"), ("Site B", "Nice", "France")])


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _noise(path: tuple[Any, ...]) -> bool:
    sig = tuple("[]" if isinstance(k, int) else k for k in path)
    return any(sig[: len(n)] == n for n in record.NOISE_PATHS)


SUBMITTED_PATHS = [
    p for p in _paths(BASE) if p and p[0] in record.SUBMITTED_SECTIONS and not _noise(p)
]


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A real record with one to three places replaced by anything."""
    doc = BASE
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p and p[0] in record.SUBMITTED_SECTIONS]
        doc = _set(doc, draw(st.sampled_from(paths)), draw(json_values))
    return doc


def _check_changes(changes: list[Any]) -> None:
    for c in changes:
        assert c.category in CATEGORIES
        assert c.severity in SEVERITIES
        assert isinstance(c.summary, str) and c.summary and "\n" not in c.summary
        assert isinstance(c.path, str)
    lines = summarise(changes)
    assert all(isinstance(line, str) for line in lines)
    assert bool(lines) == bool(changes)


def _oracle(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Never crash; nothing between equal records; and when the canonical forms differ (what
    the hash sees, so a new version), at least one change."""
    h_old, h_new = record.content_hash(old), record.content_hash(new)
    changes = diff_records(old, new)
    _check_changes(changes)
    assert diff_records(old, copy.deepcopy(old)) == []
    # Repetitions count, and False is not 0 (DeepDiff's ordered list compare equates them).
    differs = bool(
        DeepDiff(
            record.canonical(old), record.canonical(new), ignore_order=True, report_repetition=True
        )
    )
    assert differs == (h_old != h_new)
    if differs:
        assert changes, "the record changed (a new version) but no change was reported"


@FAST
@given(records(), records())
def test_diff_arbitrary_shapes(old: dict[str, Any], new: dict[str, Any]) -> None:
    _oracle(old, new)


@FAST
@given(mutated(), mutated())
def test_diff_real_record_with_anything_anywhere(old: dict[str, Any], new: dict[str, Any]) -> None:
    _oracle(old, new)


@FAST
@given(mutated())
def test_diff_against_the_sound_record(new: dict[str, Any]) -> None:
    _oracle(BASE, new)
    _oracle(new, BASE)


shapes = {
    "object": st.dictionaries(st.sampled_from(["x", "y"]), scalars, min_size=1, max_size=2),
    "list": st.lists(scalars, min_size=1, max_size=3),
    "text": st.text(alphabet=string.ascii_letters, min_size=1, max_size=10),
    "number": st.integers(1, 10**6),
    "boolean": st.just(True),
}


def _shape(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "list", str: "text"}.get(type(value), "null")


@FAST
@given(st.sampled_from(SUBMITTED_PATHS), st.sampled_from(sorted(shapes)), st.data())
def test_an_unexpected_shape_falls_in_other(path: tuple[Any, ...], shape: str, data: Any) -> None:
    node: Any = BASE
    for key in path:
        node = node[key]
    assume(node not in (None, "", [], {}) and _shape(node) != shape)
    new = _set(BASE, path, data.draw(shapes[shape]))
    changes = diff_records(BASE, new)
    _check_changes(changes)
    where = ".".join(str(k) for k in path if isinstance(k, str))
    # The change is reported (never lost), as `other` at the place whose shape changed or
    # above it (a list item of another shape is a changed item of that list).
    assert changes
    assert any(c.category == "other" for c in changes) or any(
        not isinstance(k, str) for k in path
    ), (where, [c.to_dict() for c in changes])


@FAST
@given(st.permutations(range(2)), st.text(max_size=10))
def test_hash_ignores_order_noise_and_derived_data(order: list[int], holder: str) -> None:
    other = copy.deepcopy(BASE)
    sites = other["protocolSection"]["contactsLocationsModule"]["locations"]
    other["protocolSection"]["contactsLocationsModule"]["locations"] = [sites[i] for i in order]
    other.setdefault("derivedSection", {})["versionHolder"] = holder
    other["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2030-01-01"}
    assert record.content_hash(other) == record.content_hash(BASE)
    assert diff_records(BASE, other) == []


# -- malformed config.toml: the file, the line and what is wrong, never a traceback ---------------

CONFIG_TEXT = (PROJECT_ROOT / "config.toml").read_text(encoding="utf-8")
VALUE_LINES = [
    i for i, line in enumerate(CONFIG_TEXT.splitlines()) if re.match(r"^\s*[a-z_]+\s*=", line)
]
junk = st.sampled_from(
    ['"', "[", "]", "= =", "{", "nope", "-1", '"x"', "[[", "\\", "1e999", "true"]
)


@FAST
@given(st.sampled_from(VALUE_LINES), junk, st.booleans())
def test_a_spoilt_config_says_file_line_and_what(
    tmp_path_factory: pytest.TempPathFactory, line: int, bad: str, replace: bool
) -> None:
    lines = CONFIG_TEXT.splitlines()
    key = lines[line].split("=", 1)[0]
    lines[line] = f"{key}= {bad}" if replace else f"{lines[line]} {bad}"
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_settings(path)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message
        # Syntax errors and errors in a known key both say where.
        assert re.search(r", line \d+", message) or "trials" in message, message
        return
    # Accepted: then the spoilt value was still valid TOML of the right type.
    tomllib.loads(path.read_text(encoding="utf-8"))


# -- the same properties on many more examples: `make chaos` ------------------------------------


@pytest.mark.slow
@THOROUGH
@given(mutated(), mutated())
def test_diff_real_record_thoroughly(old: dict[str, Any], new: dict[str, Any]) -> None:
    _oracle(old, new)


@pytest.mark.slow
@THOROUGH
@given(records(), records())
def test_diff_arbitrary_shapes_thoroughly(old: dict[str, Any], new: dict[str, Any]) -> None:
    _oracle(old, new)


@pytest.mark.slow
@THOROUGH
@given(criteria_text(), criteria_text())
def test_criteria_thoroughly(old: str, new: str) -> None:
    test_criteria_diff_never_loses_an_item.hypothesis.inner_test(old, new)  # type: ignore[attr-defined]
