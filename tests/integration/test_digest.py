"""Digests from stored changes: selection, the JSON contract, Markdown, HTML and Atom, ack."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlmodel import select

from models import Change, Snapshot, Trial
from models.db import session_scope
from sync.report import digest as dg
from sync.report import review
from sync.report.render import fmt_value, md_escape, render, timeline_svg
from tests.support.digest_seed import (
    ENTERED,
    HOSTILE,
    IMG_TEXT,
    LEFT,
    SCRIPT_TEXT,
    SITES,
    SUSPENDED,
    seed,
)

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def _digest(engine, **kw):  # type: ignore[no-untyped-def]
    now = datetime.now(UTC) + timedelta(seconds=1)
    sel = dg.Selection(since=now - timedelta(days=7), until=now, **kw)
    with session_scope(engine) as s:
        return dg.build_digest(s, sel)


@pytest.fixture
def seeded(engine, fake_ctgov, client):  # type: ignore[no-untyped-def]
    return seed(engine, fake_ctgov, client)


# --- pure parts ------------------------------------------------------------------------------


def test_parse_when_durations_dates_and_errors() -> None:
    assert dg.parse_when("7d", NOW) == NOW - timedelta(days=7)
    assert dg.parse_when("24h", NOW) == NOW - timedelta(hours=24)
    assert dg.parse_when("2w", NOW) == NOW - timedelta(weeks=2)
    assert dg.parse_when("30m", NOW) == NOW - timedelta(minutes=30)
    assert dg.parse_when("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    assert dg.parse_when("2026-11-07", NOW, end=True) == datetime(2026, 11, 8, tzinfo=UTC)
    assert dg.parse_when("2026-11-01T06:00:00", NOW) == datetime(2026, 11, 1, 6, tzinfo=UTC)
    with pytest.raises(dg.DigestError, match="7d"):
        dg.parse_when("last week", NOW)


def test_markdown_escaping_keeps_registry_text_inert() -> None:
    assert md_escape("<script>alert(1)</script>") == "&lt;script>alert(1)&lt;/script>"
    assert md_escape("see [here](javascript:x) *now*") == r"see \[here\](javascript:x) \*now\*"
    assert md_escape("a\n\n# heading") == "a # heading"  # one line: no block structure


def test_value_formatting() -> None:
    assert fmt_value({"count": 48, "type": "ACTUAL"}) == "48 (actual)"
    assert fmt_value({"date": "2026-05", "type": "ESTIMATED"}) == "2026-05 (estimated)"
    assert fmt_value(None) == "(none)"
    assert fmt_value(["PHASE1", "PHASE2"]) == "PHASE1, PHASE2"
    assert fmt_value({"facility": "A", "city": "B", "zip": None}) == "facility: A; city: B"


def test_timeline_geometry_places_versions_by_date() -> None:
    points = [
        {"version": 1, "date": "2026-01-01", "status": "NOT_YET_RECRUITING", "enrollment": 24},
        {"version": 2, "date": "2026-03-01", "status": "RECRUITING", "enrollment": 36},
        {"version": 3, "date": "2026-05", "status": "SUSPENDED", "enrollment": 36},
    ]
    g = timeline_svg(points, "2026-07-01")
    assert g is not None
    xs = [b["x"] for b in g["bars"]]
    assert xs == sorted(xs) and len(xs) == 3
    # January to March is a third of January to July (181 days): bars follow the calendar.
    assert g["bars"][0]["w"] == pytest.approx((640 - 64) * 59 / 181, abs=0.2)
    assert [b["colour"] for b in g["bars"]] == ["#78909c", "#2e7d32", "#ef6c00"]
    assert len(g["dots"]) == 3 and g["last_count"]["text"] == "36"
    ys = [d["y"] for d in g["dots"]]
    assert ys[0] > ys[1] == ys[2]  # more participants: higher on the chart
    same_day = timeline_svg([{**p, "date": "2026-01-01"} for p in points], "2026-01-01")
    assert same_day is not None and [b["x"] for b in same_day["bars"]] == [8.0, 200.0, 392.0]
    assert timeline_svg([]) is None


# --- selection and the JSON contract ----------------------------------------------------------


def test_json_contract(engine, seeded) -> None:  # type: ignore[no-untyped-def]
    d = _digest(engine)
    assert set(d) >= {"window", "runs", "trials", "watch_events"}
    assert set(d["window"]) == {"since", "until"}
    assert [r["outcome"] for r in d["runs"]] == ["ok", "ok", "ok", "failed"]
    for r in d["runs"]:
        assert set(r) >= {"started", "outcome"}
    assert d["health"]["clean"] is False and d["health"]["failed"] == 1
    # Most severe first: the suspended trial (high), then by NCT ID.
    assert [t["nct_id"] for t in d["trials"]] == [SUSPENDED, SITES, HOSTILE]
    first = d["trials"][0]
    assert first["title"].startswith("DLL3-targeted CAR-NK")
    severities = [c["severity"] for c in first["changes"]]
    assert severities == sorted(severities, key=dg.SEVERITY_RANK.__getitem__)
    status = next(c for c in first["changes"] if c["category"] == "status" and c["old"])
    assert (status["old"], status["new"], status["severity"]) == ("RECRUITING", "SUSPENDED", "high")
    for t in d["trials"]:
        for c in t["changes"]:
            assert set(c) >= {"id", "category", "severity", "summary", "old", "new"}
            assert isinstance(c["id"], int)
    assert [v["status"] for v in first["timeline"]] == [
        "NOT_YET_RECRUITING", "RECRUITING", "SUSPENDED",
    ]  # fmt: skip
    assert [v["enrollment"] for v in first["timeline"]] == [24, 36, 72]
    events = {(e["watch"], e["nct_id"], e["event"]) for e in d["watch_events"]}
    assert events == {("car-nk", ENTERED, "entered"), ("car-nk", LEFT, "left")}
    assert all(e["reason"] for e in d["watch_events"])
    assert d["counts"]["changes"] == sum(len(x) for x in seeded.change_ids.values())


def test_filters_window_trial_watch_and_history_imports(engine, seeded) -> None:  # type: ignore[no-untyped-def]
    only = _digest(engine, trials=[SITES])
    assert [t["nct_id"] for t in only["trials"]] == [SITES]
    assert only["watch_events"] == []
    by_watch = _digest(engine, watch="car-nk")
    assert by_watch["trials"] == [] and len(by_watch["watch_events"]) == 2
    with pytest.raises(dg.DigestError, match="no watch named 'nope'"):
        _digest(engine, watch="nope")
    future = datetime.now(UTC) + timedelta(days=1)
    with session_scope(engine) as s:
        empty = dg.build_digest(s, dg.Selection(since=future, until=future + timedelta(days=1)))
    assert empty["trials"] == [] and empty["runs"] == []
    assert empty["health"]["note"] == "no sync ran in this window"
    # Changes between versions imported from the registry's history are not news.
    with session_scope(engine) as s:
        trial = s.exec(select(Trial).where(Trial.nct_id == SITES)).one()
        snap = s.exec(select(Snapshot).where(Snapshot.trial_id == trial.id,
                                             Snapshot.version == 2)).one()  # fmt: skip
        snap.origin = "history"
        s.add(snap)
    assert SITES not in [t["nct_id"] for t in _digest(engine)["trials"]]


def test_ack_and_unreviewed(engine, seeded) -> None:  # type: ignore[no-untyped-def]
    ids = seeded.change_ids[SUSPENDED]
    with session_scope(engine) as s:
        r = review.acknowledge(s, [ids[0], ids[1], 999_999])
    assert r.acknowledged == ids[:2] and r.unknown == [999_999]
    with session_scope(engine) as s:
        again = review.acknowledge(s, [ids[0]])
    assert again.already == [ids[0]] and again.acknowledged == []
    rest = _digest(engine, unreviewed=True)
    listed = [c["id"] for t in rest["trials"] for c in t["changes"]]
    assert ids[0] not in listed and ids[1] not in listed and ids[2] in listed
    with session_scope(engine) as s:
        r = review.acknowledge(s, all_=True, trials=[SUSPENDED])
    assert sorted(r.acknowledged) == ids[2:] and r.watch_events == 0
    assert SUSPENDED not in [t["nct_id"] for t in _digest(engine, unreviewed=True)["trials"]]
    with session_scope(engine) as s:
        r = review.acknowledge(s, all_=True)
    assert r.watch_events == 2
    left = _digest(engine, unreviewed=True)
    assert left["trials"] == [] and left["watch_events"] == []
    with session_scope(engine) as s:
        assert all(c.acknowledged_at for c in s.exec(select(Change)))


# --- formats -----------------------------------------------------------------------------------


def test_markdown(engine, seeded) -> None:  # type: ignore[no-untyped-def]
    md = render(_digest(engine), "md")
    assert md.startswith("# trialwatch digest: 12 changes in 3 trials")
    assert "> **Warning: 1 of 4 runs did not complete cleanly (1 failed)" in md
    assert f"run {seeded.failed_run_id} (sync, cli)" in md and "HTTP 503" in md
    assert md.index(f"## {SUSPENDED}") < md.index(f"## {SITES}") < md.index(f"## {HOSTILE}")
    # Events, not changes: one line each, most important first, criteria word by word.
    assert "- **high** · v3: recruitment closed: RECRUITING -> SUSPENDED (why stopped: Safety " \
        "review.)" in md
    assert "- **medium** · v3: enrollment target: 36 -> 72 (+100%)" in md
    assert "ECOG performance status 0 ~~or 1~~ **to 2**" in md
    assert "**Prior allogeneic stem cell transplant**" in md
    assert f"full detail: `trialwatch diff {SUSPENDED} --from 1 --to 3`" in md
    assert md.index("recruitment closed") < md.index("recruitment opened") < md.index("ECOG")
    # Untrusted text stays text: no raw tag reaches a Markdown renderer.
    raw_tags = re.findall(r"(?<!\\)<(?!https://clinicaltrials\.gov/)", md)
    assert raw_tags == []
    assert r"&lt;script>window.\_\_pwned = 1&lt;/script>" in md
    assert "## Watch matches" in md and f"**entered** car-nk: {ENTERED}" in md


def test_markdown_of_a_clean_window(engine, fake_ctgov, client) -> None:  # type: ignore[no-untyped-def]
    seed(engine, fake_ctgov, client, failed_run=False)
    md = render(_digest(engine), "md")
    assert "All 3 runs in this window completed cleanly." in md
    assert "Warning" not in md


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_escapes_registry_text(engine, seeded) -> None:  # type: ignore[no-untyped-def]
    html = render(_digest(engine), "html")
    p = _Tags()
    p.feed(html)
    names = [t for t, _ in p.tags]
    assert "script" not in names and "img" not in names and "link" not in names
    assert "iframe" not in names and "object" not in names
    # Nothing to fetch: no src anywhere, no url() or @import in the CSS; links only to the registry.
    assert not [a for _, a in p.tags if "src" in a]
    assert "url(" not in html and "@import" not in html
    hrefs = {a["href"] for t, a in p.tags if t == "a"}
    assert hrefs and all(h and h.startswith("https://clinicaltrials.gov/study/NCT") for h in hrefs)
    text = "".join(p.text)
    assert SCRIPT_TEXT in text and IMG_TEXT in text
    assert "Umbrella Trial of Biomarker-Matched Therapy in ES-SCLC <b>bold</b> & co" in text
    ids = {a.get("id") for _, a in p.tags}
    assert {"health", "changes", "watch-events", "runs", SUSPENDED, SITES, HOSTILE} <= ids
    assert names.count("svg") == 3
    assert names.count("rect") == 3 + 2 + 2  # one status bar per version
    assert names.count("del") == 1 and names.count("ins") >= 3
    assert "Warning: 1 of 4 runs did not complete cleanly" in text


def test_atom_feed(engine, seeded) -> None:  # type: ignore[no-untyped-def]
    data = _digest(engine)
    xml = render(data, "atom")
    root = ET.fromstring(xml.encode())
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
    # The failed run first, then one entry per trial, then the watch events.
    assert titles[0].startswith("Warning: 1 of 4 runs did not complete cleanly")
    assert titles[1].startswith(f"[high] {SUSPENDED}: DLL3-targeted")
    assert len(entries) == 1 + 3 + 2
    assert all(e.findtext(f"{ATOM}id") and e.findtext(f"{ATOM}updated") for e in entries)
    hostile = next(e for e in entries if HOSTILE in (e.findtext(f"{ATOM}title") or ""))
    assert "<b>bold</b> & co" in (hostile.findtext(f"{ATOM}title") or "")
    div = hostile.find(f"{ATOM}content/{XHTML}div")
    assert div is not None
    assert div.find(f".//{XHTML}script") is None and div.find(f".//{XHTML}img") is None
    assert SCRIPT_TEXT in "".join(div.itertext())
    # Same changes, same entry IDs: a feed reader does not see them twice.
    again = ET.fromstring(render(_digest(engine), "atom").encode())
    assert [e.findtext(f"{ATOM}id") for e in again.findall(f"{ATOM}entry")] == [
        e.findtext(f"{ATOM}id") for e in entries
    ]


def test_render_strips_control_characters_for_xml() -> None:
    data = {
        "generated": "2026-11-22T09:00:00+00:00",
        "window": {"since": "2026-11-15T09:00:00+00:00", "until": "2026-11-22T09:00:00+00:00"},
        "filters": {"trials": [], "watch": None, "unreviewed": False},
        "registry": {"data_timestamp": None},
        "health": dg.health([]),
        "runs": [],
        "counts": {"trials": 0, "changes": 0, "watch_events": 1,
                   "by_severity": {"high": 0, "medium": 0, "low": 0}},  # fmt: skip
        "trials": [],
        "watch_events": [{"id": 1, "watch": "w", "nct_id": "NCT90000001", "event": "entered",
                          "reason": "bell\x07 and vt\x0b", "summary": "s", "title": None,
                          "at": "2026-11-22T09:00:00+00:00", "acknowledged": False,
                          "url": "https://clinicaltrials.gov/study/NCT90000001"}],  # fmt: skip
    }
    root = ET.fromstring(render(data, "atom").encode())
    assert "bell and vt" in "".join(root.itertext())


# --- the commands ------------------------------------------------------------------------------


def test_digest_and_ack_commands(cli, engine, fake_ctgov, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = seed(engine, fake_ctgov, client)
    r = cli("digest", "--format", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert [t["nct_id"] for t in d["trials"]] == [SUSPENDED, SITES, HOSTILE]
    assert cli("digest", "--json").json()["counts"] == d["counts"]
    md = cli("digest")
    assert md.exit_code == 0 and md.stdout.startswith("# trialwatch digest")
    assert "did not complete cleanly" in md.stderr  # the warning reaches a terminal user too
    out = tmp_path / "digest.html"
    r = cli("digest", "--format", "html", "--out", str(out), "--trial", SITES.lower())
    assert r.exit_code == 0, r.stderr
    assert f"wrote {out}" in r.stderr and r.stdout == ""
    assert f'id="{SITES}"' in out.read_text() and f'id="{SUSPENDED}"' not in out.read_text()
    atom = cli("digest", "-f", "atom", "--since", "2026-01-01", "--until", "2099-12-31")
    assert atom.exit_code == 0 and ET.fromstring(atom.stdout.encode()).tag == f"{ATOM}feed"

    ids = s.change_ids[SITES]
    r = cli("ack", str(ids[0]), f"#{ids[1]}", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["acknowledged"] == ids[:2]
    rest = cli("digest", "--unreviewed", "--json").json()
    assert SITES not in [t["nct_id"] for t in rest["trials"]]
    r = cli("ack", "--all", "--trial", HOSTILE)
    assert r.exit_code == 0 and re.match(r"acknowledged \d+ changes", r.stdout)
    assert [t["nct_id"] for t in cli("digest", "--unreviewed", "--json").json()["trials"]] == [
        SUSPENDED
    ]

    for args, message in [
        (("digest", "--since", "yesterday-ish"), "is not a time"),
        (("digest", "--format", "pdf"), "--format"),
        (("digest", "--since", "2026-11-10", "--until", "2026-11-01"), "must be before"),
        (("digest", "--watch", "unknown"), "no watch named"),
        (("digest", "--trial", "NCT123"), "NCT123"),
        (("ack",), "give change IDs"),
        (("ack", "abc"), "is not a change ID"),
        (("ack", "1", "--all"), "not both"),
        (("ack", "99999999"), "no change with ID 99999999"),
    ]:
        r = cli(*args)
        assert r.exit_code == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr
