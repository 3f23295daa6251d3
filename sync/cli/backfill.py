"""The `backfill` command: import the registry's past versions of tracked trials."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from sync.cli import aact_live
from sync.cli.common import (
    Ctx,
    JsonOpt,
    ctx_of,
    err,
    fail,
    out,
    parse_ids,
    print_json,
    progress_bar,
)
from sync.cli.table import print_wrapped
from sync.core.util import plural
from sync.ingest import backfill as history
from sync.ingest import backfill_plan as history_plan
from sync.store.snapshots import get_trial


def run(
    c: Ctx, nct_ids: list[str], only_modules: list[str] | None = None
) -> history.BackfillSummary:
    """Backfill these tracked trials with a progress bar on a terminal (also used by `add`)."""
    try:
        with (
            c.client() as client,
            progress_bar(
                "backfilling", "steps", line="backfill", interval=c.settings.progress_seconds
            ) as progress,
        ):
            summary = history.backfill(
                c.engine, client, nct_ids, only_modules=only_modules, progress=progress
            )
        aact_live.after_run(c)
        return summary
    except history.BackfillBusy as exc:
        fail(f"{exc}; nothing was fetched: try again when it has finished", code=1)


def _range(versions: list[int]) -> str:
    if not versions:
        return "none"
    return f"v{versions[0]}" if len(versions) == 1 else f"v{versions[0]}-v{versions[-1]}"


def print_summary(summary: history.BackfillSummary) -> None:
    s = summary
    colour = {"ok": "green", "partial": "yellow", "failed": "red"}.get(s.outcome, "white")
    modules = f" (only {', '.join(s.only_modules)})" if s.only_modules else ""
    print_wrapped(
        out,
        f"backfill [{colour}]{s.outcome}[/{colour}]{escape(modules)}: "
        f"{plural(s.requests, 'request')}, {plural(s.fetched, 'registry version')} fetched, "
        f"{s.imported:,} imported, {plural(s.changes, 'change')}",
        hang=2,
    )
    for t in s.trials:
        if t.outcome == history.NO_HISTORY:
            out.print(f"  {t.nct_id}: no history published by the registry", highlight=False)
            continue
        if not t.listed:
            continue
        local = sorted({v["snapshot_version"] for v in t.versions if v["snapshot_version"]})
        print_wrapped(
            out,
            f"{t.nct_id}: {t.listed} registry versions, {t.fetched} fetched now, "
            f"{t.imported} new versions, {t.merged} joined the next version, "
            f"{t.not_fetched} known but not fetched; timeline covers versions {_range(local)}",
            "  ",
            hang=2,
        )
    for e in s.errors:
        print_wrapped(out, f"[red]error:[/red] {escape(e)}", "  ", hang=2)


def register(app: typer.Typer) -> None:
    @app.command("backfill")
    def backfill(
        typer_ctx: typer.Context,
        nct_ids: Annotated[
            list[str] | None, typer.Argument(help="Tracked NCT IDs to backfill.")
        ] = None,
        all_: Annotated[bool, typer.Option("--all", help="Every active tracked trial.")] = False,
        only_modules: Annotated[
            str | None,
            typer.Option(
                "--only-modules",
                help="Fetch only versions that touched these modules, e.g. "
                "status,eligibility,design (others are listed, not fetched).",
            ),
        ] = None,
        json_: JsonOpt = False,
    ) -> None:
        """Import the registry's past versions of trials, before their polled versions."""
        if bool(nct_ids) == all_:
            fail("give NCT IDs or --all (not both)")
        labels = None
        if only_modules is not None:
            try:
                labels = history_plan.parse_modules(only_modules)
            except ValueError as exc:
                fail(str(exc))
        c = ctx_of(typer_ctx)
        with c.session() as session:
            if all_:
                ids = history.targets(session)
            else:
                ids = parse_ids(nct_ids or [])
                for nct in ids:
                    if get_trial(session, nct) is None:
                        fail(f"{nct} is not tracked (add it with: trialwatch add {nct})")
        if not ids:
            err.print("no tracked trials to backfill (add some with: trialwatch add NCT…)")
            if json_:
                print_json(history.BackfillSummary(outcome="ok").to_dict())
            return
        summary = run(c, ids, labels)
        if json_:
            print_json(summary.to_dict())
        else:
            print_summary(summary)
        if summary.outcome != "ok":
            raise typer.Exit(1)
