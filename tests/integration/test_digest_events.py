"""Events in the digest (every format), in history and diff, and notification thresholds."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models import Watch, WatchMatch
from models.db import session_scope
from sync.config import Settings
from sync.report import digest as dg
from sync.report import notify
from sync.report.channels import Channel, Masker
from sync.report.notify import SendResult
from sync.report.render import render
from sync.testing.big_update import BIG, largest_update, statuses_set, store_pair
from sync.testing.factory import load_sample, make_study, nct, with_last_update, with_status

ATOM = "{http://www.w3.org/2005/Atom}"
NCT05414032 = "versions/NCT05414032/NCT05414032_2026-02-26_0763c69c.json"


def _digest(engine, **kw: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC) + timedelta(seconds=1)
    base_url = kw.pop("base_url", None)
    with session_scope(engine) as s:
        return dg.build_digest(
            s, dg.Selection(since=now - timedelta(days=1), until=now, **kw), base_url=base_url
        )


def _trial_section(md: str, nct_id: str) -> list[str]:
    """The lines of one trial's section: its heading up to the next section."""
    lines = md.splitlines()
    start = lines.index(next(x for x in lines if x.startswith(f"## {nct_id}")))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith(("## ", "---"))),
        len(lines),
    )
    section = lines[start:end]
    while section and not section[-1].strip():
        section.pop()
    return section


@pytest.mark.parametrize("update", [statuses_set, largest_update])
def test_1148_site_update_fits_in_15_lines(engine, update) -> None:  # type: ignore[no-untyped-def]
    old, new = update()
    stored = store_pair(engine, BIG, old, new)
    assert stored >= 1148
    d = _digest(engine, trials=[BIG])
    (trial,) = d["trials"]
    md = render(d, "md")
    section = _trial_section(md, BIG)
    assert len(section) <= 15, "\n".join(section)
    assert "659 sites now recruiting: United States 659" in md
    assert "489 sites closed to recruitment" in md
    assert len(trial["changes"]) == stored  # nothing lost: the JSON keeps every change
    for c in trial["changes"]:
        assert c["event"] and c["importance"] in ("high", "medium", "low")
    assert sum(e["count"] for e in trial["events"]) == stored
    for e in trial["events"]:
        assert {"kind", "category", "importance", "summary", "count"} <= set(e)
    html = render(d, "html")
    assert html.count('<li class="event"') <= 8
    assert html.count('class="change"') == 0
    atom = ET.fromstring(render(d, "atom").encode())
    entry = atom.find(f"{ATOM}entry")
    assert entry is not None
    assert len(entry.findall(".//{http://www.w3.org/1999/xhtml}li")) <= 9


def test_largest_update_reads_what_matters_first(engine) -> None:  # type: ignore[no-untyped-def]
    store_pair(engine, BIG, *largest_update())
    md = render(_digest(engine), "md")
    section = _trial_section(md, BIG)
    events = [x for x in section if x.startswith("- ")]
    assert events[0] == "- **medium** · recruitment reopened: ACTIVE_NOT_RECRUITING -> RECRUITING"
    assert events[1].startswith("- **medium** · eligibility: ")
    assert any("~~100,000/mm^3~~ **75,000/mm^3" in x for x in section)  # criteria, word by word
    assert events[-1] == "- and 1,923 routine updates (sites renamed, contacts)"


def test_more_events_than_lines_fold_into_one(engine) -> None:  # type: ignore[no-untyped-def]
    old = load_sample(NCT05414032)
    new = copy.deepcopy(old)
    p = new["protocolSection"]
    p["statusModule"]["overallStatus"] = "TERMINATED"
    p["statusModule"]["whyStopped"] = "Funding."
    p["statusModule"]["primaryCompletionDateStruct"] = {"date": "2030-01", "type": "ESTIMATED"}
    p["designModule"]["enrollmentInfo"] = {"count": 10, "type": "ACTUAL"}
    p["designModule"]["phases"] = ["PHASE3"]
    p["eligibilityModule"]["minimumAge"] = "12 Years"
    p["outcomesModule"]["primaryOutcomes"][0]["measure"] = "Overall survival"
    p["sponsorCollaboratorsModule"]["leadSponsor"]["name"] = "Another Pharma"
    p["identificationModule"]["briefTitle"] = "Another title"
    p["conditionsModule"]["conditions"] = ["Something else"]
    p["descriptionModule"]["briefSummary"] = "Short."
    p["armsInterventionsModule"]["armGroups"][0]["label"] = "Renamed arm"
    new["resultsSection"] = {"participantFlowModule": {"groups": [{"id": "FG000"}]}}
    nct_id = p["identificationModule"]["nctId"]
    store_pair(engine, nct_id, old, new)
    d = _digest(engine)
    (trial,) = d["trials"]
    notable = [e for e in trial["events"] if e["importance"] != "low"]
    assert len(notable) > 8
    section = _trial_section(render(d, "md"), nct_id)
    assert len(section) <= 15
    lines = [x for x in section if x.startswith("- ")]
    assert len([x for x in lines if "routine update" not in x]) == 8
    assert f" · and {len(notable) - 7} more events (" in lines[7]
    assert lines[0].startswith("- **high** · ")
    html = render(d, "html")
    assert html.count('<li class="event"') == 8 and 'data-kind="more"' in html
    assert f"and {len(notable) - 7} more events" in render(d, "atom")
    # Eligibility is always shown, however many events outrank it.
    assert any(" · eligibility: " in x for x in lines[:7]), "\n".join(lines)


def test_trials_order_by_their_most_important_event_and_link_detail(engine) -> None:  # type: ignore[no-untyped-def]
    quiet = load_sample("records/NCT05280470.json")
    newer = copy.deepcopy(quiet)
    newer["protocolSection"]["statusModule"]["statusVerifiedDate"] = "2099-01"
    store_pair(engine, "NCT05280470", quiet, newer)
    loud = load_sample(NCT05414032)
    stopped = copy.deepcopy(loud)
    stopped["protocolSection"]["statusModule"]["overallStatus"] = "SUSPENDED"
    store_pair(engine, "NCT05414032", loud, stopped)
    d = _digest(engine, base_url="https://tw.example.org/")
    assert [t["nct_id"] for t in d["trials"]] == ["NCT05414032", "NCT05280470"]
    assert [t["importance"] for t in d["trials"]] == ["high", "low"]
    url = "https://tw.example.org/trials/NCT05414032/diff?from=1&to=2"
    assert d["trials"][0]["detail"] == {
        "command": "trialwatch diff NCT05414032 --from 1 --to 2",
        "url": url,
    }
    assert f"full detail: <{url}>" in render(d, "md")
    assert f'href="{url.replace("&", "&amp;")}"' in render(d, "html")
    no_web = _digest(engine)
    assert no_web["trials"][1]["detail"]["url"] is None
    routine = _trial_section(render(no_web, "md"), "NCT05280470")
    assert routine[-1] == "- and 1 routine update (verification dates)"
    assert "`trialwatch diff NCT05280470 --from 1 --to 2`" in routine[2]


# --- history and diff ---------------------------------------------------------------------


def test_history_and_diff_show_events(cli, engine) -> None:  # type: ignore[no-untyped-def]
    store_pair(engine, BIG, *largest_update())
    hist = cli("history", BIG, "--json").json()
    assert hist[0]["events"] == []
    kinds = [e["kind"] for e in hist[1]["events"]]
    assert kinds[:2] == ["status", "eligibility"] and len(kinds) == 6
    assert set(hist[1]["events"][0]) == {"kind", "category", "importance", "summary", "count"}
    lines = cli("history", BIG).stdout.splitlines()
    # An entry's continuation (wrapped to the width) is indented further than the entries.
    text = [line for line in lines if re.match(r"v\d|    \S", line)]
    assert len(text) == 2 + 6  # two version lines, one entry per event
    assert text[2].split() == ["medium", "recruitment", "reopened:", "ACTIVE_NOT_RECRUITING", "->",
                               "RECRUITING"]  # fmt: skip

    changes = cli("diff", BIG, "--json").json()
    assert len(changes) > 3000
    assert {c["event"] for c in changes} == set(kinds)
    status = next(c for c in changes if c["category"] == "status")
    assert (status["event"], status["importance"]) == ("status", "medium")
    out = cli("diff", BIG).stdout
    assert "in 6 events" in out.splitlines()[0]
    assert out.index("medium: recruitment reopened") < out.index("low: contacts: 1,914 added")


# --- notifications ------------------------------------------------------------------------


class Outbox:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, channel: Channel, title: str, body: str, fmt: str, mask: Masker
                 ) -> SendResult:  # fmt: skip
        self.bodies.append(body)
        return SendResult(True)


def _settings(**notify_kw: Any) -> Settings:
    s = Settings(notify={"urls": ["json://127.0.0.1:9/hook"], **notify_kw})
    return s


def _bump(engine, nct_id: str, edit) -> None:  # type: ignore[no-untyped-def]
    from sync.store import snapshots as store

    with session_scope(engine) as s:
        trial = store.get_trial(s, nct_id)
        assert trial is not None
        current = store.load_record(s, trial.id or 0, trial.latest_version)
    assert current is not None
    store_pair(engine, nct_id, current, edit(copy.deepcopy(current)))


def _verified(study: dict[str, Any]) -> dict[str, Any]:
    study["protocolSection"]["statusModule"]["statusVerifiedDate"] = "2099-01"
    return study


def test_routine_only_versions_notify_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    study = make_study(nct(1), status="RECRUITING")
    store_pair(engine, nct(1), study, with_last_update(_verified(copy.deepcopy(study)),
                                                       "2026-11-21"))  # fmt: skip
    outbox = Outbox()
    settings = _settings()
    assert [o.status for o in notify.deliver(engine, settings, send_fn=outbox)] == ["nothing"]
    assert outbox.bodies == []
    # Below the threshold is not lost: a lower threshold sends it.
    low = _settings(min_importance="low")
    sent = notify.deliver(engine, low, send_fn=outbox)
    assert [o.status for o in sent] == ["sent"]
    assert "routine update" in outbox.bodies[0]

    # A real change goes out with its version's routine updates counted.
    _bump(engine, nct(1), lambda s: _verified(with_status(s, "SUSPENDED")))
    assert [o.status for o in notify.deliver(engine, settings, send_fn=outbox)] == ["sent"]
    assert "recruitment closed: RECRUITING -> SUSPENDED" in outbox.bodies[-1]


def test_quiet_kinds_and_high_threshold(engine) -> None:  # type: ignore[no-untyped-def]
    study = make_study(nct(2), status="RECRUITING", enrollment=(100, "ESTIMATED"))

    def grow(s: dict[str, Any]) -> dict[str, Any]:
        s["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 120
        return s

    store_pair(engine, nct(2), study, grow(copy.deepcopy(study)))
    outbox = Outbox()
    quiet = _settings(quiet=["enrollment"])
    assert [o.status for o in notify.deliver(engine, quiet, send_fn=outbox)] == ["nothing"]
    high = _settings(min_importance="high")
    assert [o.status for o in notify.deliver(engine, high, send_fn=outbox)] == ["nothing"]
    _bump(engine, nct(2), lambda s: with_status(s, "TERMINATED", why_stopped="Futility."))
    sent = notify.deliver(engine, high, send_fn=outbox)
    assert [(o.status, o.changes) for o in sent] == [("sent", 2)]  # status and why stopped
    assert "why stopped: Futility." in outbox.bodies[0]


def test_a_watch_can_lower_or_raise_its_threshold(engine) -> None:  # type: ignore[no-untyped-def]
    for i in (3, 4):
        study = make_study(nct(i), status="RECRUITING")
        store_pair(engine, nct(i), study, _verified(copy.deepcopy(study)))
    with session_scope(engine) as s:
        watch = Watch(name="close-eye", params={"term": "x"})
        s.add(watch)
        s.flush()
        s.add(WatchMatch(watch_id=watch.id or 0, nct_id=nct(3), title="t"))
    settings = Settings(
        notify={"urls": ["json://127.0.0.1:9/hook"]},
        watches=[{"name": "close-eye", "term": "x", "min_importance": "low"}],
    )
    outbox = Outbox()
    sent = notify.deliver(engine, settings, send_fn=outbox)
    assert [o.status for o in sent] == ["sent"]
    assert nct(3) in outbox.bodies[0] and nct(4) not in outbox.bodies[0]


def test_config_rejects_unknown_kinds_and_levels(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sync.config import ConfigError, load_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text('[notify]\nquiet = ["sites_renamed", "nope"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown event kind 'nope'"):
        load_settings(cfg)
    cfg.write_text('[notify]\nmin_importance = "urgent"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2: notify.min_importance"):
        load_settings(cfg)
    cfg.write_text('[web]\nbase_url = "https://tw.example.org"\n[notify]\nquiet = ["routine"]\n',
                   encoding="utf-8")  # fmt: skip
    s = load_settings(cfg)
    assert s.web.base_url == "https://tw.example.org" and s.notify.quiet == ["routine"]
