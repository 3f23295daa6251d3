"""Digests of a 50,000-study mirror with 1% updated in a day: bounded in every format but JSON,
high-importance trials first, the rest counted so that the counts add up, watch events per watch."""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from models import db
from models.db import session_scope
from sync.config import DEFAULT_MAX_TRIALS, Settings
from sync.report import digest as dg
from sync.report import notify
from sync.report.channels import Channel, Masker
from sync.report.render import render
from sync.testing.scope import ScopeDay, mirror_day
from tests.support.fixtures import Cli, reset_pg

N = 50_000
ENTERED, LEFT = 200, 100
# What the Markdown digest may take, whatever the scope: the header (title, window, runs,
# health, the warning when high-importance trials overflow the cap, blank lines) at most 10
# lines; a trial at most 15 (its heading and detail line, 8 event lines and the fold: the
# README's bound for one trial-version); the summary of the rest a heading, one line per
# importance and the command (8 with blank lines); the watch section a heading and, per
# summarised watch, its counts, WATCH_EVENTS_SHOWN events and the command (3 + 8); a footer of 3.
HEADER, PER_TRIAL, SUMMARY, FOOTER = 10, 15, 8, 3
WATCH_SECTION = 3 + (2 + dg.WATCH_EVENTS_SHOWN + 1)


def md_bound(max_trials: int, watches: int = 1) -> int:
    return HEADER + max_trials * PER_TRIAL + SUMMARY + watches * WATCH_SECTION + FOOTER


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def mirror(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[sa.Engine, ScopeDay]]:
    """One 50,000-study mirror per database for the whole module: building it is the cost."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'trialwatch.db'}"
    else:
        url = str(request.getfixturevalue("pg_database"))
        reset_pg(url)
    engine = db.make_engine(url)
    db.upgrade(engine)
    day = mirror_day(engine, N, share=0.01, entered=ENTERED, left=LEFT)
    yield engine, day
    engine.dispose()


def _digest(engine: sa.Engine, **kw: Any) -> dict[str, Any]:
    now = datetime.now(UTC) + timedelta(seconds=1)
    watch = kw.pop("watch", None)
    with session_scope(engine) as s:
        return dg.build_digest(
            s, dg.Selection(since=now - timedelta(days=1), until=now, watch=watch),
            with_timeline=False, **kw,
        )  # fmt: skip


def _headings(md: str) -> list[str]:
    return re.findall(r"^## (NCT\d{8}):", md, re.MULTILINE)


def test_the_scope_is_registry_scale(mirror: tuple[sa.Engine, ScopeDay]) -> None:
    _, day = mirror
    assert len(day.ids) == N
    assert len(day.updates) == N // 100
    # The mix the rest relies on: a few high-importance updates among many routine ones.
    kinds = Counter(day.updates.values())
    assert len(day.high) == 15 and kinds["contact"] == 335


def test_markdown_digest_is_bounded_and_ranked(mirror: tuple[sa.Engine, ScopeDay]) -> None:
    engine, day = mirror
    data = _digest(engine)
    md = render(data, "md")
    lines = md.splitlines()
    assert len(lines) <= md_bound(DEFAULT_MAX_TRIALS), len(lines)
    shown = _headings(md)
    assert len(shown) == DEFAULT_MAX_TRIALS
    # Every high-importance trial is in detail, and before any other.
    assert set(shown[: len(day.high)]) == day.high
    assert not day.high & {t["nct_id"] for t in data["trials"] if not t["shown"]}
    assert "the 25 most important in detail" in lines[0]
    assert "## And 475 more trials, by their most important event" in md


def test_the_summary_counts_every_other_trial_once(mirror: tuple[sa.Engine, ScopeDay]) -> None:
    engine, day = mirror
    data = _digest(engine)
    view = data["view"]
    assert data["counts"]["trials"] == len(day.updates)
    assert view["trials_shown"] + sum(r["trials"] for r in view["summary"]) == len(day.updates)
    for row in view["summary"]:
        assert sum(k["trials"] for k in row["kinds"]) == row["trials"]
    # 15 high and 10 medium in detail: 140 medium and the 335 contact updates counted.
    rows = {r["importance"]: r for r in view["summary"]}
    assert set(rows) == {"medium", "low"} and rows["medium"]["trials"] == 140
    assert rows["low"]["text"] == "335 routine updates"
    md = render(data, "md")
    assert "- **low** · 335 trials: 335 routine updates" in md
    assert re.search(r"^- \*\*medium\*\* · 140 trials: \d+ site changes, \d+ enrollment changes$",
                     md, re.MULTILINE)  # fmt: skip
    assert f"`{view['all']['command']}`" in md and view["all"]["command"].endswith(
        "--max-trials 0"
    )


def test_json_keeps_every_trial_ranked(mirror: tuple[sa.Engine, ScopeDay]) -> None:
    engine, day = mirror
    data = orjson.loads(render(_digest(engine), "json"))
    assert {t["nct_id"] for t in data["trials"]} == set(day.updates)
    assert [t["rank"] for t in data["trials"]] == list(range(1, len(day.updates) + 1))
    assert sum(t["shown"] for t in data["trials"]) == DEFAULT_MAX_TRIALS
    assert len(data["watch_events"]) == ENTERED + LEFT
    assert data["view"]["watches"][0]["summarised"] == ENTERED + LEFT - dg.WATCH_EVENTS_SHOWN


def test_the_cap_option(mirror: tuple[sa.Engine, ScopeDay]) -> None:
    engine, day = mirror
    everything = render(_digest(engine, max_trials=0), "md")
    assert len(_headings(everything)) == len(day.updates)
    assert "more trials" not in everything and "watch events scope" not in everything
    assert len(re.findall(r"^- \*\*(?:entered|left)\*\* scope", everything, re.M)) == 300
    # Fewer than the high-importance trials: the digest says so, first and loudly.
    data = _digest(engine, max_trials=5)
    md = render(data, "md")
    assert len(_headings(md)) == 5 and len(md.splitlines()) <= md_bound(5)
    assert "15 trials with high-importance events, only 5 in detail" in md.splitlines()[0]
    assert "> **15 trials have high-importance events, more than this digest details" in md
    high = next(r for r in data["view"]["summary"] if r["importance"] == "high")
    assert high["trials"] == 10 and f"- **high** · 10 trials: {high['text']}" in md


def test_watch_events_are_summarised_per_watch(mirror: tuple[sa.Engine, ScopeDay]) -> None:
    engine, day = mirror
    md = render(_digest(engine, base_url="https://tw.example.org"), "md")
    section = md.split("## Watch matches", 1)[1]
    assert f"- **scope**: {ENTERED} entered, {LEFT} left; the first 5:" in section
    assert len(re.findall(r"^  - \*\*(entered|left)\*\* NCT", section, re.M)) == 5
    assert (
        "  - and 295 more: `trialwatch watch events scope` or <https://tw.example.org/watches/scope>"
        in section
    )


def test_html_and_atom_keep_the_cap(mirror: tuple[sa.Engine, ScopeDay]) -> None:
    engine, _ = mirror
    data = _digest(engine)
    html = render(data, "html")
    assert html.count('<article class="trial') == DEFAULT_MAX_TRIALS
    assert 'id="more"' in html and "335 routine updates" in html
    root = ET.fromstring(render(data, "atom").encode())
    entries = root.findall("{http://www.w3.org/2005/Atom}entry")
    # The trials in detail, one entry counting the rest, one for the watch's other events.
    assert len(entries) == DEFAULT_MAX_TRIALS + 1 + 1 + dg.WATCH_EVENTS_SHOWN


def test_digest_of_the_mirror_by_watch(mirror: tuple[sa.Engine, ScopeDay]) -> None:
    engine, day = mirror
    data = _digest(engine, watch="scope")
    assert data["counts"]["trials"] == len(day.updates)


def test_the_command_takes_max_trials(mirror: tuple[sa.Engine, ScopeDay], tmp_path: Path) -> None:
    engine, day = mirror
    config = tmp_path / "config.toml"
    config.write_text("[digest]\nmax_trials = 3\n", encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    cli = Cli({"TRIALWATCH_CONFIG": str(config), "TRIALWATCH_DATABASE_URL": url}, config)
    r = cli("digest", "--since", "1d")
    assert r.exit_code == 0, r.stderr
    assert len(_headings(r.stdout)) == 3  # the config's cap
    r = cli("digest", "--since", "1d", "--max-trials", "0")
    assert len(_headings(r.stdout)) == len(day.updates)
    r = cli("digest", "--since", "1d", "--max-trials", "7", "--json")
    data = r.json()
    assert len(data["trials"]) == len(day.updates) and data["view"]["trials_shown"] == 7
    # The way to all of them that a capped digest gives works as it is written.
    words = shlex.split(data["view"]["all"]["command"])
    assert words[:2] == ["trialwatch", "digest"]
    r = cli(*words[1:])
    assert r.exit_code == 0, r.stderr
    assert len(_headings(r.stdout)) == len(day.updates)
    assert cli("digest", "--max-trials", "-1").exit_code == 2


def test_notifications_send_the_capped_digest(mirror: tuple[sa.Engine, ScopeDay]) -> None:
    engine, _ = mirror
    settings = Settings()
    settings.notify.urls = ["json://127.0.0.1:9/digest"]
    sent: list[tuple[str, str]] = []

    def capture(
        channel: Channel, title: str, body: str, fmt: str, masker: Masker
    ) -> notify.SendResult:
        sent.append((title, body))
        return notify.SendResult(True)

    outcomes = notify.deliver(engine, settings, send_fn=capture)
    assert [o.status for o in outcomes] == ["sent"]
    title, body = sent[0]
    # Routine-only trials are not worth a notification: 15 high and 150 medium ones are.
    assert "165 trials" in title and "the 25 most important in detail" in title
    assert len(_headings(body)) == DEFAULT_MAX_TRIALS
    assert len(body.splitlines()) <= md_bound(DEFAULT_MAX_TRIALS)
    assert "## And 140 more trials" in body
