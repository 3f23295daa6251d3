"""Every command's text output fits the width: 80 columns in a pipe, the terminal's own width
otherwise. The commands run on the real samples the fake registry serves: successive captures
of 13 studies (NCT04736173's second version changes 50 sites), the real history of NCT03690141
for backfill, watches and a mirror over them, a digest."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from sync.testing.factory import samples_dir
from tests.support import history_capture

LONG_TERM = " OR ".join(f'"CAR-NK variant number {i}"' for i in range(12)) + " OR NCT04736173"


def _captures() -> dict[str, list[dict[str, Any]]]:
    folder = samples_dir() / "versions"
    return {
        d.name: [json.loads(p.read_text(encoding="utf-8")) for p in sorted(d.glob("*.json"))]
        for d in sorted(folder.iterdir())
        if d.is_dir() and len(list(d.glob("*.json"))) >= 2
    }


HELP = ["", "add", "list", "show", "history", "diff", "sync", "status", "similar", "daemon",
        "digest", "ack", "backfill", "export", "serve", "db upgrade", "watch", "watch add",
        "watch list", "watch run", "watch members", "watch events", "notify test"]


def _outputs(cli, fake, tmp_path, webhook) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Run every command that prints text; {command line: stdout}."""
    runs: dict[str, str] = {}

    def run(*args: str, code: int = 0) -> None:
        r = cli(*args)
        assert r.exit_code == code, (args, r.stdout, r.stderr)
        key = " ".join(args)
        while key in runs:
            key += " (again)"
        runs[key] = r.stdout

    stories = _captures()
    assert "NCT04736173" in stories
    for caps in stories.values():
        fake.put(caps[0])
    history_capture.serve(fake, polled=history_capture.current_markdown())
    run("add", *stories, history_capture.NCT)
    run("sync")
    for step in range(1, max(len(c) for c in stories.values())):
        for caps in stories.values():
            fake.put(caps[min(step, len(caps) - 1)])
        fake.bump()
        run("sync", "--full")
    run("backfill", history_capture.NCT)
    run("watch", "add", "sclc-car-nk-and-other-cell-therapies", "--term", LONG_TERM)
    run("watch", "add", "whole", "--mirror", "--no-track")
    run("watch", "run")
    run("watch", "list")
    run("watch", "members", "sclc-car-nk-and-other-cell-therapies")
    run("watch", "members", "whole")
    run("watch", "events")
    run("list")
    run("status")
    stored = {t["nct_id"]: t["latest_version"] for t in cli("list", "--json").json()}
    for nct in [*stories, history_capture.NCT]:
        run("show", nct)
        run("history", nct)
        if stored[nct] >= 2:
            run("diff", nct)
    assert stored["NCT04736173"] >= 2
    run("show", "NCT04736173", "--as-of", "2026-02-20")
    run("similar", "NCT04736173")
    run("similar", history_capture.NCT)
    run("digest", "--since", "2000-01-01")
    run("digest", "--since", "2000-01-01", "--unreviewed", "--max-trials", "0")
    ids = [str(c["id"]) for c in cli("diff", "NCT04736173", "--json").json()]
    run("ack", *ids[:3])
    run("ack", "--all")
    run("ack", *ids)  # already acknowledged: 49 IDs
    run("export", str(tmp_path / "tables"))
    run("export", str(tmp_path / "trialwatch-export-of-every-tracked-trial.duckdb"))
    run("db", "upgrade")
    # A member leaves (the registry lost it): the watch, the mirror, sync and list say so.
    fake.delete("NCT04736173")
    fake.bump()
    run("watch", "run")
    run("watch", "members", "sclc-car-nk-and-other-cell-therapies")
    run("watch", "events")
    run("sync", "--full")
    run("list", "--all")
    run("remove", "NCT05009069", "NCT05280470")
    # A failed run: its error in sync's summary and in status.
    fake.add_fault("status", status=500, times=100, path="/api/v2/studies")
    fake.bump()
    run("sync", "--full", code=1)
    run("status")
    # Notifications: one channel answering, then failing; every command's help.
    cli.env = {**cli.env, "TRIALWATCH_NOTIFY_URLS": webhook.url}
    run("notify", "test")
    webhook.fail_first = 1
    run("notify", "test", code=1)
    for path in HELP:
        run(*path.split(), "--help")
    return runs


def _too_long(runs: dict[str, str], width: int) -> dict[str, list[str]]:
    return {
        cmd: long
        for cmd, text in runs.items()
        if (long := [line for line in text.splitlines() if len(line.rstrip()) > width])
    }


def test_every_command_fits_80_columns_in_a_pipe(cli, fake_ctgov, tmp_path, webhook) -> None:
    runs = _outputs(cli, fake_ctgov, tmp_path, webhook)
    too_long = _too_long(runs, 80)
    assert not too_long, "\n".join(
        f"{cmd}: {len(lines)} lines too long, e.g. {max(lines, key=len)!r}"
        for cmd, lines in too_long.items()
    )
    # Fitting is not cutting what matters: each of NCT04736173's site rows keeps its place
    # (city and country) on its line, and old → new stays whole, wrapped if need be.
    lines = runs["diff NCT04736173"].splitlines()
    sites = [c for c in cli("diff", "NCT04736173", "--json").json() if c["category"] == "sites"]
    assert len(sites) >= 49
    for c in sites:
        site = c["new"] or c["old"]
        if isinstance(site, dict):
            row = next(line for line in lines if line.rstrip().endswith(f"#{c['id']}"))
            assert row.rstrip().endswith(f"{site['city']}, {site['country']}  #{c['id']}"), row
    words = " ".join(runs["diff NCT04736173"].split())
    assert re.search(r"Research Centre (->|→) Metro Davao Medical And Research Center Inc\.", words)
    site_status = " ".join(runs["diff NCT06754501"].split())
    assert "Houston, United States: RECRUITING -> (none)" in site_status, site_status
    # Long free text wraps rather than being cut: a whole title in show, every reason in similar.
    title = " ".join(runs["show NCT06754501"].split())
    assert "Anti-TIGIT (Tiragolumab) in Cancer of Unknown Primary" in title


@pytest.mark.parametrize("width", [120])
def test_the_terminal_width_is_used(
    cli, fake_ctgov, tmp_path, webhook, monkeypatch, width: int
) -> None:
    from sync.cli.common import out

    monkeypatch.setattr(out, "_width", width)  # as a terminal of that width sets it
    runs = _outputs(cli, fake_ctgov, tmp_path, webhook)
    too_long = _too_long(runs, width)
    assert not too_long, {cmd: lines[:2] for cmd, lines in too_long.items()}
    # The room is used: some lines are longer than 80 columns, none longer than the width.
    assert any(len(line) > 80 for text in runs.values() for line in text.splitlines())
