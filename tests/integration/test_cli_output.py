"""What scripts and terminals get: JSON contracts with the IDs `ack` takes and snake_case keys,
and text output that fits 80 columns (and a pipe) with values in words."""

from __future__ import annotations

import io
import json
import re

from rich.console import Console

from sync.cli.render import print_diff
from sync.core.diff import walk as differ
from sync.store.results import DiffItem, DiffResult
from sync.testing.factory import (
    make_study,
    nct,
    samples_dir,
    with_criteria,
    with_enrollment,
    with_last_update,
    with_site,
    with_status,
)

LONG_TITLE = (
    "A Phase 1 Open-label Study of NEUK203-13, an Induced Pluripotent Stem Cell Derived DLL3 "
    "CAR-NK Cell Therapy, in Relapsed Small Cell Lung Cancer and Other Neuroendocrine Tumours"
)
CRITERIA_1 = "Inclusion Criteria:\n\n* ECOG performance status 0 or 1\n* Age 18 or older\n"
CRITERIA_2 = "Inclusion Criteria:\n\n* ECOG performance status 0 to 2\n* Age 18 or older\n"


def _two_versions(cli, fake_ctgov) -> None:
    study = make_study(nct(1), title=LONG_TITLE, enrollment=(36, "ESTIMATED"),
                       criteria=CRITERIA_1,
                       sites=[("Hospital A", "Paris", "France"), ("Hospital B", "Lyon", "France")])
    fake_ctgov.put(study)
    cli("add", nct(1))
    assert cli("sync").exit_code == 0
    new = with_status(with_enrollment(study, 72, "ESTIMATED"), "ACTIVE_NOT_RECRUITING")
    new = with_criteria(new, CRITERIA_2)
    for i in range(12):
        new = with_site(new, f"Cancer Centre number {i} of a long network", "Houston",
                        "United States")
    fake_ctgov.put(with_last_update(new, "2026-11-21"))
    fake_ctgov.bump()
    assert cli("sync").exit_code == 0


def _width_ok(text: str, width: int = 80) -> None:
    too_long = [line for line in text.splitlines() if len(line.rstrip()) > width]
    assert not too_long, too_long


def test_diff_json_items_carry_the_change_id_that_ack_takes(cli, fake_ctgov) -> None:
    _two_versions(cli, fake_ctgov)
    items = cli("diff", nct(1), "--json").json()
    assert items and all(isinstance(c["id"], int) for c in items)
    assert all(c["acknowledged"] is False for c in items)
    status = next(c for c in items if c["category"] == "status")
    # The same IDs as the digest's, and ack takes them.
    digest_ids = {c["id"] for t in cli("digest", "--json").json()["trials"] for c in t["changes"]}
    assert {c["id"] for c in items} == digest_ids
    assert cli("ack", str(status["id"])).exit_code == 0
    after = {c["id"]: c["acknowledged"] for c in cli("diff", nct(1), "--json").json()}
    assert after[status["id"]] is True
    # Text diff shows them too.
    text = cli("diff", nct(1)).stdout
    assert f"#{status['id']}" in text
    # A diff across versions that were never adjacent is computed: no ID to acknowledge.
    fake_ctgov.put(with_last_update(with_status(fake_ctgov.get(nct(1)), "COMPLETED"),
                                    "2026-11-25"))
    fake_ctgov.bump()
    cli("sync")
    computed = cli("diff", nct(1), "--from", "1", "--to", "3", "--json").json()
    assert computed and all(c["id"] is None for c in computed)


def test_diff_text_is_compact_with_values_in_words(cli, fake_ctgov) -> None:
    _two_versions(cli, fake_ctgov)
    items = cli("diff", nct(1), "--json").json()
    text = cli("diff", nct(1)).stdout  # a pipe: 80 columns, no styles
    _width_ok(text)
    lines = text.splitlines()
    events = {c["event"] for c in items}
    # The summary once, a heading per event, then one line per change, a second only for
    # values or changed words.
    assert len(lines) <= 1 + len(events) + 2 * len(items)
    assert lines[0].startswith(f"{nct(1)} v1 → v2: {len(items)} changes in ")
    assert sum(1 for line in lines if "site added" in line) == 12
    assert not any(re.search(r"[{}]\"|\"count\"|\{\"", line) for line in lines), text
    assert "72 (estimated)" in text.lower() or "72 (ESTIMATED)" in text
    assert "[-or 1-]" in text or "{+to 2+}" in text  # the changed words, marked in a pipe


def test_a_site_row_is_one_line_on_real_records() -> None:
    folder = samples_dir() / "versions" / "NCT04736173"
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 2
    old, new = (json.loads(f.read_text()) for f in files[:2])
    changes = [DiffItem(i, c, None) for i, c in enumerate(differ.diff_records(old, new))]
    sites = [c for c in changes if c.change.category == "sites"]
    assert len(sites) >= 10
    buf = io.StringIO()
    print_diff(Console(file=buf, width=80, force_terminal=False),
               DiffResult("NCT04736173", 1, 2, sites, []), by_event=False)
    text = buf.getvalue()
    _width_ok(text)
    # A renamed site (one site whose name the registry re-encoded) shows its old and new name,
    # whole: wrapped over up to three lines.
    renamed = [c for c in sites if c.change.old and c.change.new]
    assert len(text.splitlines()) <= 2 + len(sites) + 2 * len(renamed)
    words = " ".join(text.split())
    assert all(f"{c.change.old} -> {c.change.new}" in words for c in renamed), text


def test_list_and_members_ellipsize_titles_to_the_width(cli, fake_ctgov, monkeypatch) -> None:
    fake_ctgov.put(make_study(nct(1), title=LONG_TITLE))
    cli("add", nct(1))
    cli("sync")
    text = cli("list").stdout
    _width_ok(text)
    row = next(line for line in text.splitlines() if nct(1) in line)
    assert row.rstrip().endswith("…") and LONG_TITLE[:20] in row
    # Wide enough: the whole title, not cut at a fixed length.
    cli("watch", "add", "neuk", "--term", "NEUK203-13", "--no-track")
    assert cli("watch", "run", "neuk").exit_code == 0
    members = cli("watch", "members", "neuk").stdout
    _width_ok(members)
    row = next(line for line in members.splitlines() if nct(1) in line)
    assert row.rstrip().endswith("…")
    from sync.cli.common import out

    monkeypatch.setattr(out, "_width", 240)  # as a 240-column terminal would set it
    wide = cli("list").stdout
    assert LONG_TITLE in wide
    assert LONG_TITLE in cli("watch", "members", "neuk").stdout


def test_watch_list_is_one_line_per_watch(cli, fake_ctgov) -> None:
    long_term = " OR ".join(f'"CAR-NK variant {i}"' for i in range(40))
    r = cli("watch", "add", "many", "--term", long_term, "--no-track")
    assert r.exit_code == 0
    cli("watch", "run", "many")
    text = cli("watch", "list").stdout
    _width_ok(text)
    assert len(text.strip().splitlines()) == 2  # header and one watch
    assert "…" in text


def test_status_fits_shows_whole_headers_times_and_the_error(cli, fake_ctgov) -> None:
    fake_ctgov.put(make_study(nct(1)))
    cli("add", nct(1))
    cli("sync")
    fake_ctgov.add_fault("status", status=500, times=50, path="/api/v2/studies")
    fake_ctgov.bump()
    cli("sync")
    text = cli("status").stdout
    _width_ok(text)
    header = next(line for line in text.splitlines() if line.startswith("run"))
    for word in ("kind", "started (UTC)", "outcome", "changes"):
        assert word in header
    assert re.search(r"\b20\d\d-\d\d-\d\d \d\d:\d\d\b", text)
    assert "…" not in header
    # The keys the README lists for status --json.
    runs = cli("status", "--json").json()["runs"]
    assert set(runs[0]) == {"id", "kind", "trigger", "started", "finished", "outcome", "mode",
                            "requests", "fetched", "new_versions", "changes", "not_found",
                            "errors", "warnings"}
    assert re.search(r"^run \d+ (failed|partial): .*HTTP 500", text, re.MULTILINE), text


def test_status_json_is_structured_with_snake_case_keys(cli) -> None:
    data = cli("status", "--json").json()
    assert set(data) == {"database", "runs", "daemon", "next_runs", "next_run_weekdays",
                         "failed_deliveries", "rejected"}  # fmt: skip
    assert data["daemon"] == {"state": "never_started"}
    assert data["next_runs"] == data["next_run_weekdays"] == {} and data["failed_deliveries"] == []

    def keys(obj: object) -> list[str]:
        if isinstance(obj, dict):
            return [*obj, *(k for v in obj.values() for k in keys(v))]
        if isinstance(obj, list):
            return [k for v in obj for k in keys(v)]
        return []

    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", k) for k in keys(data))


# The keys of each --json object, in order: the typed read results (sync.store.results,
# sync.watches.results) must print exactly what the README documents and scripts read.
TRIAL_KEYS = ["nct_id", "title", "status", "enrollment", "phases", "latest_version", "version",
              "found", "registry_state", "alias_of", "active", "as_of", "as_of_date",
              "registry_last_update_posted", "last_checked_at"]
VERSION_KEYS = ["official_title", "acronym", "study_type", "start_date",
                "primary_completion_date", "completion_date", "last_update_posted",
                "last_update_submitted", "sponsor", "site_count", "start_date_type",
                "primary_completion_date_type", "completion_date_type", "countries",
                "has_results", "fetched_at", "origin", "registry_version", "registry_date"]


def test_json_objects_keep_their_keys_in_order(cli, fake_ctgov) -> None:
    cli("add", nct(2))  # never synced: no version, so none of a version's keys
    assert list(cli("show", nct(2), "--json").json()) == TRIAL_KEYS
    _two_versions(cli, fake_ctgov)
    assert list(cli("list", "--json").json()[0]) == [
        "nct_id", "status", "title", "latest_version", "found", "registry_state", "alias_of",
        "last_update_posted", "last_checked_at", "source", "active", "sponsor", "conditions"]
    shown = cli("show", nct(1), "--json").json()
    assert list(shown) == TRIAL_KEYS + VERSION_KEYS
    assert (shown["version"], shown["origin"], shown["registry_state"]) == (2, "poll", "found")
    history = cli("history", nct(1), "--json").json()
    assert [list(h) for h in history] == [[
        "version", "fetched_at", "origin", "registry_version", "registry_date",
        "last_update_posted", "content_hash", "changes", "summaries", "events", "fetched"]] * 2
    assert list(history[1]["events"][0]) == ["kind", "category", "importance", "summary", "count"]
    items = cli("diff", nct(1), "--json").json()
    assert {tuple(c) for c in items} == {(
        "id", "category", "path", "old", "new", "summary", "severity", "detail", "acknowledged",
        "event", "importance")}
    status = cli("status", "--json").json()
    assert list(status["runs"][0]) == [
        "id", "kind", "trigger", "started", "finished", "outcome", "mode", "requests", "fetched",
        "new_versions", "changes", "not_found", "errors", "warnings"]
    assert [r["outcome"] for r in status["runs"]] == ["ok", "ok"]
    cli("watch", "add", "neuk", "--term", "NEUK203-13", "--no-track")
    assert cli("watch", "run", "neuk").exit_code == 0
    assert list(cli("watch", "list", "--json").json()[0]) == [
        "name", "matches", "last_run", "last_outcome", "last_error", "query", "track", "source",
        "active"]
    members = cli("watch", "members", "neuk", "--json").json()
    assert [list(m) for m in members] == [[
        "nct_id", "first_seen", "last_seen", "left", "left_reason", "title", "status"]]
    assert list(cli("watch", "events", "--json").json()[0]) == [
        "id", "watch", "nct_id", "event", "reason", "summary", "at", "run_id"]


def test_db_upgrade_json(cli) -> None:
    r = cli("db", "upgrade", "--json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert set(data) == {"revision", "previous", "database"}
    assert data["revision"] and "s3cret" not in data["database"]
