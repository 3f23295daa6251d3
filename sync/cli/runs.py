"""Commands about runs: sync, status, and the database's own upkeep (db upgrade)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import sqlalchemy as sa
import typer
from rich.text import Text

from sync.cli import aact_live, lazy
from sync.cli.common import (
    JsonOpt,
    ctx_of,
    fail,
    out,
    print_json,
    progress_bar,
)
from sync.cli.table import Col, fit_table, print_wrapped
from sync.core import errors
from sync.core.util import plural
from sync.daemon.status import status_lines, status_report
from sync.store import database as db

if TYPE_CHECKING:
    from sync.ingest import run as sync_engine
    from sync.registry.client import CtgovClient
    from sync.watches import runner as discover
else:
    # sync only: status and db upgrade need neither the engine nor its HTTP client.
    sync_engine = lazy.module("sync.ingest.run")
    discover = lazy.module("sync.watches.runner")


# The trials named in a sync's text summary; `sync --json` lists every one.
SHOWN_TRIALS = 5


def print_summary(summary: sync_engine.SyncSummary) -> None:
    s = summary
    colour = {"ok": "green", "partial": "yellow", "failed": "red"}.get(s.outcome, "white")
    # Every line wraps to the width, its continuation indented under it.
    print_wrapped(
        out,
        f"sync [{colour}]{s.outcome}[/{colour}] ({s.mode}): {plural(s.requests, 'request')}, "
        f"{plural(s.fetched, 'study', 'studies')} fetched, "
        f"{plural(s.new_versions, 'new version')}, {plural(s.changes, 'change')}",
        hang=2,
    )
    # Bounded: a first sync of 10,000 studies is one line, not 10,000 (--json has them all).
    stored = sorted(s.new_versions_by_trial.items())
    for nct, v in stored[:SHOWN_TRIALS]:
        out.print(f"  {nct}: stored version {v}")
    if len(stored) > SHOWN_TRIALS:
        out.print(f"  and {plural(len(stored) - SHOWN_TRIALS, 'more trial')} "
                  "(sync --json lists them all)")  # fmt: skip
    if s.changes_by_category:
        cats = ", ".join(f"{k} {v}" for k, v in s.changes_by_category.items())
        print_wrapped(out, f"changes by category: {cats}", "  ", hang=2)
    for w in s.watches:
        print_wrapped(
            out,
            Text(
                f"watch {w.get('name')}: {w.get('outcome')}, "
                f"{plural(w.get('matches', 0), 'match', 'matches')}, "
                f"{len(w.get('entered', []))} entered, {len(w.get('left', []))} left"
            ),
            "  ",
            hang=2,
        )
    if s.not_found:
        print_wrapped(out, f"not found at the registry: {_first(s.not_found)}", "  ", hang=2)
    if s.rejected:
        print_wrapped(
            out,
            f"rejected by the registry (left out from now on): {_first(s.rejected)}",
            "  ",
            hang=2,
        )
    aliases = list(s.aliases.items())
    for old, new in aliases[:SHOWN_TRIALS]:
        out.print(f"  {old} is now {new} (alias followed)")
    if len(aliases) > SHOWN_TRIALS:
        out.print(f"  and {plural(len(aliases) - SHOWN_TRIALS, 'more alias', 'more aliases')}")
    for warned in s.warnings:
        print_wrapped(out, Text("warning:", style="yellow") + Text(f" {warned}"), "  ", hang=2)
    for e in s.errors[:SHOWN_TRIALS]:
        # The message quotes the registry: its brackets are text, not Rich markup.
        print_wrapped(out, Text("error:", style="red") + Text(f" {e}"), "  ", hang=2)
    if len(s.errors) > SHOWN_TRIALS:
        out.print(f"  and {plural(len(s.errors) - SHOWN_TRIALS, 'more error')} "
                  "(sync --json and status --json list them all)")  # fmt: skip


def _first(ids: list[str]) -> str:
    """The first few IDs, then how many more: `NCT1, NCT2, … and 12 more`."""
    shown = ", ".join(ids[:SHOWN_TRIALS])
    more = len(ids) - SHOWN_TRIALS
    return shown + (f" and {more:,} more" if more > 0 else "")


def _requests_of(client: CtgovClient) -> Callable[[], int]:
    """The requests this command has made so far (the client counts them from its start)."""
    start = client.requests
    return lambda: client.requests - start


def sync(
    typer_ctx: typer.Context,
    full: Annotated[
        bool, typer.Option("--full", help="Re-fetch every record, not only updated ones.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Fetch the tracked trials and store a new version of each record that changed."""
    c = ctx_of(typer_ctx)
    try:
        with (
            c.client() as client,
            progress_bar(
                "syncing",
                "IDs asked",
                line="sync",
                interval=c.settings.progress_seconds,
                requests=_requests_of(client),
            ) as progress,
        ):
            # The watch searches share the client, so the run's request count includes them.
            summary = sync_engine.run_sync(
                c.engine,
                client,
                batch_size=c.settings.api.batch_size,
                full=full,
                progress=progress,
                before_fetch=discover.sync_hook(c.engine, c.settings, client),
            )
    except sync_engine.SyncBusy as exc:
        fail(str(exc), code=1)
    aact_live.after_run(c)
    if json_:
        print_json(summary.to_dict())
    else:
        print_summary(summary)
    if summary.outcome != "ok":
        raise typer.Exit(1)


def _where(url: str | sa.URL) -> str:
    """The database as the user would name it: its URL (the password hidden)."""
    return sa.make_url(url).render_as_string(hide_password=True)


def status(typer_ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show the database, the last runs and their outcome."""
    c = ctx_of(typer_ctx)
    with c.session() as session:
        report = status_report(session)
    where = _where(c.settings.database_url_resolved)
    if json_:
        print_json({"database": where, **report.to_dict()})
        return
    runs, rejected = report.runs, report.rejected
    print_wrapped(out, Text(where), "database: ")
    for line in status_lines(report.status):
        print_wrapped(out, Text(line), hang=2)
    if rejected:
        print_wrapped(
            out,
            f"rejected by the registry: {', '.join(rejected)} (left out of every sync; "
            f"remove with: trialwatch remove {' '.join(rejected)})",
            hang=2,
        )
    if not runs:
        out.print("no runs yet (run: trialwatch sync)")
        return
    cols = [
        Col("run", justify="right"),
        Col("kind"),
        Col("started (UTC)"),
        Col("outcome"),
        Col("requests", justify="right", drop=1),
        Col("fetched", justify="right", drop=2),
        Col("new", justify="right"),
        Col("changes", justify="right"),
    ]
    rows_out = [
        [
            str(r.id),
            r.kind,
            (r.started or "")[:16].replace("T", " "),
            r.outcome,
            str(r.requests),
            str(r.fetched),
            str(r.new_versions),
            str(r.changes),
        ]
        for r in runs
    ]
    out.print(fit_table(out, cols, rows_out), highlight=False)
    # The errors themselves, one line a run, cut to the width (status --json has them whole).
    for r in runs:
        if shown := errors.cause(r.errors, r.outcome):
            # The cause, not the first error met: a run ended by a full disk says so.
            more = f" (+{len(r.errors) - 1} more)" if len(r.errors) > 1 else ""
            error = Text(f"run {r.id} {r.outcome}: {' '.join(shown.split())}{more}")
            error.truncate(out.width, overflow="ellipsis")
            out.print(error, highlight=False, soft_wrap=False)
        for w in r.warnings:
            warning = Text(f"run {r.id} warning: {' '.join(w.split())}")
            warning.truncate(out.width, overflow="ellipsis")
            out.print(warning, highlight=False, soft_wrap=False)


def db_upgrade(typer_ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Upgrade the database schema to the latest revision."""
    c = ctx_of(typer_ctx)
    s = c.settings
    eng = db.make_engine(s.database_url_resolved, timeouts=db.timeouts(s.database))
    before = db.current_revision(eng)
    db.upgrade(eng)
    after = db.current_revision(eng)
    where = _where(eng.url)
    if json_:
        print_json({"revision": after, "previous": before, "database": where})
        return
    print_wrapped(out, Text(f"database at {after} (was {before or 'empty'}): {where}"), hang=2)


def register(app: typer.Typer) -> None:
    app.command()(sync)
    app.command()(status)
    db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
    db_app.command("upgrade")(db_upgrade)
    aact_live.register(db_app)
    app.add_typer(db_app, name="db")
