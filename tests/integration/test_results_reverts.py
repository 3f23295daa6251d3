"""Posted results that change and edits that undo themselves, synced for real through the fake
registry: what history, diff, the digest, the export and notifications make of them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from models.db import session_scope
from sync.config import Settings
from sync.report import digest as dg
from sync.report import notify, pageviews
from sync.report.channels import Channel, Masker
from sync.report.notify import SendResult
from sync.report.render import render
from sync.testing.factory import load_sample, with_last_update

NCT = "NCT04256421"  # a real record with results, and a site in Napoli


def _sync_versions(cli: Any, fake: Any, *records: dict[str, Any]) -> None:
    cli("add", NCT)
    for i, rec in enumerate(records):
        fake.put(with_last_update(rec, f"2026-11-{20 + i:02d}"))
        if i:
            fake.bump()
        result = cli("sync")
        assert result.exit_code == 0, result.stderr


def _results_edit(study: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(study)
    rs = new["resultsSection"]
    pfs = rs["outcomeMeasuresModule"]["outcomeMeasures"][0]
    pfs["classes"][0]["categories"][0]["measurements"][0]["value"] = "5.75"  # was 5.55
    pfs["analyses"][0]["pValue"] = "0.0421"  # was 0.3504
    anaemia = next(e for e in rs["adverseEventsModule"]["seriousEvents"] if e["term"] == "Anaemia")
    anaemia["stats"][0]["numAffected"] = 9  # was 8
    rs["moreInfoModule"]["pointOfContact"]["phone"] = "888-662-6729"
    return new


def _digest(engine: Any) -> dict[str, Any]:
    now = datetime.now(UTC) + timedelta(seconds=1)
    with session_scope(engine) as s:
        return dg.build_digest(s, dg.Selection(since=now - timedelta(days=1), until=now))


def test_changed_results_show_in_history_diff_and_digest(cli, fake_ctgov, engine) -> None:  # type: ignore[no-untyped-def]
    v1 = load_sample(f"records/{NCT}.json")
    _sync_versions(cli, fake_ctgov, v1, _results_edit(v1))
    (_, v2) = cli("history", NCT, "--json").json()
    events = [(e["kind"], e["importance"]) for e in v2["events"]]
    assert events == [("results_outcomes", "high"), ("results_adverse_events", "high"),
                      ("results_info", "low")]  # fmt: skip
    outcome = v2["events"][0]["summary"]
    assert outcome.startswith("primary outcome result changed: Investigator-Assessed Progression")
    assert "5.55 -> 5.75" in outcome and "p-value 0.3504 -> 0.0421" in outcome
    assert v2["events"][1]["summary"] == (
        "serious adverse event changed: Anaemia / Placebo + Atezolizumab: affected 8 -> 9"
    )
    text = cli("history", NCT).stdout
    assert "high   serious adverse event changed: Anaemia" in text

    changes = cli("diff", NCT, "--json").json()
    assert {(c["event"], c["importance"]) for c in changes} == set(events)
    p_value = next(c for c in changes if c["path"].endswith(".pValue"))
    assert (p_value["severity"], p_value["old"], p_value["new"]) == ("high", "0.3504", "0.0421")

    d = _digest(engine)
    (trial,) = d["trials"]
    assert trial["importance"] == "high"
    kinds = [e["kind"] for e in trial["events"]]
    assert kinds[:2] == ["results_outcomes", "results_adverse_events"]
    md = render(d, "md")
    assert "- **high** · serious adverse event changed: Anaemia / Placebo + Atezolizumab: " in md


class Outbox:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, channel: Channel, title: str, body: str, fmt: str, mask: Masker
                 ) -> SendResult:  # fmt: skip
        self.bodies.append(body)
        return SendResult(True)


def _sites(study: dict[str, Any]) -> list[dict[str, Any]]:
    return study["protocolSection"]["contactsLocationsModule"]["locations"]  # type: ignore[no-any-return]


def test_a_place_respelt_and_back_is_one_low_revert_that_never_notifies(  # type: ignore[no-untyped-def]
    cli, fake_ctgov, engine, tmp_path
) -> None:
    v1 = load_sample(f"records/{NCT}.json")
    v2 = copy.deepcopy(v1)
    next(s for s in _sites(v2) if s["city"] == "Napoli")["city"] = "Naples"
    outbox = Outbox()
    settings = Settings(notify={"urls": ["json://127.0.0.1:9/hook"], "min_importance": "low"})
    _sync_versions(cli, fake_ctgov, v1, v2)
    # The respelling itself is low, and a low threshold sends it.
    assert [o.status for o in notify.deliver(engine, settings, send_fn=outbox)] == ["sent"]

    fake_ctgov.put(with_last_update(v1, "2026-11-25"))  # and back: Napoli
    fake_ctgov.bump()
    assert cli("sync").exit_code == 0
    hist = cli("history", NCT, "--json").json()
    assert [e["kind"] for e in hist[1]["events"]] == ["sites_renamed"]
    (revert,) = hist[2]["events"]
    assert (revert["kind"], revert["importance"], revert["count"]) == ("reverted", "low", 1)
    assert revert["summary"].startswith("reverted to v1: site changed: AORN Ospedali dei Colli")
    assert "city: Naples -> Napoli" in revert["summary"]
    (change,) = cli("diff", NCT, "--json").json()
    assert (change["event"], change["importance"]) == ("reverted", "low")
    assert "low    reverted to v1: " in cli("history", NCT).stdout
    # Even at the lowest threshold, an edit that only undoes the last one sends nothing.
    assert [o.status for o in notify.deliver(engine, settings, send_fn=outbox)] == ["nothing"]
    assert len(outbox.bodies) == 1
    # The digest still has it, as a low (folded) event.
    (trial,) = _digest(engine)["trials"]
    assert ("reverted", "low") in [(e["kind"], e["importance"]) for e in trial["events"]]
    # The export labels each change with the event history shows it under.
    out = tmp_path / "parquet"
    assert cli("export", str(out)).exit_code == 0
    rows = duckdb.connect().execute(
        f"SELECT to_version, event_kind, event_importance FROM '{out}/changes.parquet'"
        " ORDER BY to_version"
    ).fetchall()
    assert rows == [(2, "sites_renamed", "low"), (3, "reverted", "low")]
    # The web app's feeds and overview show it the same way.
    with session_scope(engine) as session:
        recent = pageviews.recent_versions(session, [NCT])
    assert [(v["version"], [e["kind"] for e in v["events"]]) for v in recent] == [
        (3, ["reverted"]), (2, ["sites_renamed"])
    ]
