"""The `watch` commands (saved searches and their members over time) and `similar`."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from sync.cli import lazy
from sync.cli.common import (
    Ctx,
    JsonOpt,
    ctx_of,
    err,
    out,
    parse_ids,
    print_json,
    progress_bar,
)
from sync.cli.common import fail as _fail
from sync.cli.table import Col, fit_table, print_wrapped
from sync.core.util import plural
from sync.watches import definitions as watches

if TYPE_CHECKING:
    from sync.ingest import run as sync_engine
    from sync.watches import runner as discover
else:
    # watch run only: the others read the database and need no HTTP client.
    sync_engine = lazy.module("sync.ingest.run")
    discover = lazy.module("sync.watches.runner")

watch_app = typer.Typer(
    help="Saved searches: similar studies found without typing their IDs.", no_args_is_help=True
)


def _declared(c: Ctx) -> set[str]:
    return {w.name for w in c.settings.watches}


def _statuses(raw: list[str]) -> list[str]:
    return [s for item in raw for s in re.split(r"[,|\s]+", item) if s]


@watch_app.command("add")
def add(
    typer_ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name, e.g. car-nk-sclc.")],
    term: Annotated[str | None, typer.Option(help="Other terms (query.term, Essie).")] = None,
    cond: Annotated[str | None, typer.Option(help="Condition or disease (query.cond).")] = None,
    intr: Annotated[str | None, typer.Option(help="Intervention (query.intr).")] = None,
    titles: Annotated[str | None, typer.Option(help="Title or acronym (query.titles).")] = None,
    spons: Annotated[str | None, typer.Option(help="Sponsor (query.spons).")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Overall statuses, e.g. RECRUITING,NOT_YET_RECRUITING."),
    ] = None,
    advanced: Annotated[
        str | None, typer.Option(help="filter.advanced, e.g. 'AREA[Phase]PHASE2'.")
    ] = None,
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="Track new matches as trials.")
    ] = True,
    mirror: Annotated[
        bool,
        typer.Option(
            "--mirror",
            help="Store every record of the search's scope, versioned (no query options: the "
            "whole registry).",
        ),
    ] = False,
    from_archive: Annotated[
        bool,
        typer.Option(
            "--from-archive",
            help="A whole-registry mirror's first load from the registry's archive (one "
            "download of every study) instead of API pages; then by the API from its date.",
        ),
    ] = False,
    archive_file: Annotated[
        Path | None,
        typer.Option(
            "--archive-file",
            metavar="FILE",
            help="With --from-archive: an archive already on disk (ctg-studies.json.zip) "
            "instead of downloading it.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Add a saved search (validated here; run it with `watch run` or `sync`)."""
    c = ctx_of(typer_ctx)
    params: dict[str, object] = {
        k: v
        for k, v in {
            "term": term,
            "cond": cond,
            "intr": intr,
            "titles": titles,
            "spons": spons,
            "advanced": advanced,
        }.items()
        if v is not None
    }
    if status:
        params["status"] = _statuses(status)
    if mirror:
        params["mirror"] = True
    if archive_file is not None and not from_archive:
        _fail("--archive-file needs --from-archive")
    if from_archive:
        params["from_archive"] = str(archive_file.resolve()) if archive_file else True
    try:
        cfg = watches.check(name, params, track=track)
        with c.session() as session:
            watches.sync_config_watches(session, c.settings.watches)
            watch = watches.add_watch(session, cfg, _declared(c), c.settings.max_watches)
            row = {"name": watch.name, "query": watch.params, "track": watch.track}
    except (watches.InvalidWatch, watches.WatchConflict) as exc:
        _fail(str(exc))
    if json_:
        print_json(row)
        return
    print_wrapped(
        out,
        Text(
            f"added watch {name}: {watches.describe(row['query'])}"
            + ("" if track else " (matches are not tracked)")
        ),
        hang=2,
    )
    err.print(f"run it now with: trialwatch watch run {name}")


@watch_app.command("list")
def list_(
    typer_ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include removed watches.")] = False,
    json_: JsonOpt = False,
) -> None:
    """List the watches with their current number of matches."""
    c = ctx_of(typer_ctx)
    with c.session() as session:
        watches.sync_config_watches(session, c.settings.watches)
        rows = watches.watch_rows(session, include_inactive=all_)
    if json_:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        err.print("no watches (add one with: trialwatch watch add NAME --term …)")
        return
    rows_out = []
    for r in rows:
        outcome: str = r.last_outcome or "never run"
        if r.last_error:
            outcome += f": {r.last_error}"
        rows_out.append(
            [
                escape(r.name + ("" if r.active else " (removed)")),
                str(r.matches),
                (r.last_run or "")[:16].replace("T", " "),
                escape(outcome),
                "yes" if r.track else "no",
                r.source,
                escape(watches.describe(r.query)),
            ]
        )
    cols = [
        Col("name"),
        Col("matches", justify="right"),
        Col("last run (UTC)", drop=2),
        Col("outcome", flex=True, min_width=9),
        Col("track", drop=3),
        Col("from", drop=4),
        Col("query", flex=True),
    ]
    # One line per watch: the whole query is in watch list --json.
    out.print(fit_table(out, cols, rows_out), highlight=False)


@watch_app.command("remove")
def remove(
    typer_ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The watch's name.")],
    json_: JsonOpt = False,
) -> None:
    """Remove a watch (its members stay tracked; its history is kept)."""
    c = ctx_of(typer_ctx)
    try:
        with c.session() as session:
            watches.sync_config_watches(session, c.settings.watches)
            watches.remove_watch(session, name, _declared(c))
    except (watches.UnknownWatch, watches.WatchConflict) as exc:
        _fail(str(exc))
    if json_:
        print_json({"removed": name})
    else:
        out.print(f"removed watch {name}")


@watch_app.command("run")
def run(
    typer_ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One watch (default: all).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Run the watches now: record who entered and left; new matches are tracked."""
    c = ctx_of(typer_ctx)
    names = None
    if name is not None:
        with c.session() as session:
            watches.sync_config_watches(session, c.settings.watches)
            try:
                watch = watches.get_watch(session, name)
            except watches.UnknownWatch as exc:
                _fail(str(exc))
            if not watch.active:
                _fail(f"watch {name!r} was removed")
        names = [name]
    try:
        with c.client() as client:
            done = discover.run_recorded(
                c.engine,
                client,
                c.settings,
                names,
                progress=functools.partial(progress_bar, interval=c.settings.progress_seconds),
            )
    except sync_engine.SyncBusy as exc:
        _fail(str(exc), code=1)
    results = done.results
    failed = [r for r in results if r.outcome != "ok"]
    if json_:
        outcome = discover.outcome_of(results)
        print_json(
            {
                "run_id": done.run_id,
                "outcome": outcome,
                "watches": [r.to_dict() for r in results],
                "warnings": done.warnings,
            }
        )
    elif done.warnings:
        for warning in done.warnings:
            print_wrapped(err, Text("warning: ", style="yellow") + Text(warning), hang=2)
    else:
        _print_results(results)
    if failed:
        raise typer.Exit(1)


def _print_results(results: list[discover.WatchResult]) -> None:
    if not results:
        err.print("no watches to run (add one with: trialwatch watch add NAME --term …)")
    for r in results:
        if r.outcome != "ok":
            failed = Text(f"watch {r.name}: ") + Text("failed", style="red") + Text(f": {r.error}")
            print_wrapped(out, failed, hang=2)
            continue
        print_wrapped(
            out,
            Text(
                f"watch {r.name}: ok, {plural(r.matches, 'match', 'matches')}, "
                f"{len(r.entered)} entered, {len(r.left)} left ({plural(r.requests, 'request')})"
            ),
            hang=2,
        )
        for line in r.events:
            print_wrapped(out, Text(line), "  ", hang=2)
        if r.tracked:
            print_wrapped(
                out,
                f"now tracking {', '.join(r.tracked)} (fetched by the next: trialwatch sync)",
                "  ",
                hang=2,
            )


@watch_app.command("members")
def members(
    typer_ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The watch's name.")],
    current: Annotated[bool, typer.Option("--current", help="Only current members.")] = False,
    json_: JsonOpt = False,
) -> None:
    """List a watch's members over time: first seen, last seen, and when and why they left."""
    c = ctx_of(typer_ctx)
    try:
        with c.session() as session:
            watches.sync_config_watches(session, c.settings.watches)
            rows = watches.member_rows(session, name, current_only=current)
    except watches.UnknownWatch as exc:
        _fail(str(exc))
    if json_:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        err.print(f"watch {name} has no members yet (run: trialwatch watch run {name})")
        return
    rows_out = [
        [
            r.nct_id,
            (r.first_seen or "")[:10],
            (r.last_seen or "")[:10],
            escape(f"{r.left[:10]}: {r.left_reason}" if r.left else ""),
            r.status or "",
            escape(r.title or ""),
        ]
        for r in rows
    ]
    cols = [
        Col("NCT ID"),
        Col("first seen", drop=2),
        Col("last seen", drop=3),
        Col("left", flex=True, min_width=10, drop=1),
        Col("status"),
        Col("title", flex=True),
    ]
    out.print(fit_table(out, cols, rows_out), highlight=False)


@watch_app.command("events")
def events(
    typer_ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One watch (default: all).")] = None,
    json_: JsonOpt = False,
) -> None:
    """List studies entering and leaving watches, oldest first."""
    c = ctx_of(typer_ctx)
    with c.session() as session:
        if name is not None:
            try:
                watches.get_watch(session, name)
            except watches.UnknownWatch as exc:
                _fail(str(exc))
        rows = watches.events(session, name=name)
    if json_:
        print_json([r.to_dict() for r in rows])
        return
    for r in rows:
        print_wrapped(out, Text(r.summary), f"{(r.at or '')[:19]}  ")


def similar(
    typer_ctx: typer.Context,
    nct_id: Annotated[str, typer.Argument(help="The study to compare with, e.g. NCT07366658.")],
    limit: Annotated[int, typer.Option(min=1, help="How many to list.")] = 20,
    json_: JsonOpt = False,
) -> None:
    """Rank the studies trialwatch knows (tracked and matched) by similarity to one, with why."""
    nct = parse_ids([nct_id])[0]
    c = ctx_of(typer_ctx)
    try:
        with c.session() as session:
            data = watches.similar_to(session, nct, limit=limit)
    except watches.UnknownStudy as exc:
        _fail(str(exc))
    if json_:
        print_json(data)
        return
    f = data["features"]
    seen = "; ".join(
        f"{k.replace('_', ' ')}: {', '.join(v)}" for k, v in f.items() if v and k != "mesh"
    )
    print_wrapped(out, Text(data["title"] or ""), f"[bold]{nct}[/bold] ")
    if data.get("registry_state") == "not_found":
        out.print("  [red]no longer at the registry[/red]: compared by its last stored version")
    print_wrapped(out, Text(seen or "nothing recognised"), "  read as: ")
    if not data["similar"]:
        out.print("  no similar study known yet (add watches: trialwatch watch add …)")
    for i, r in enumerate(data["similar"], 1):
        # The title wraps under itself; the reasons under the ID.
        print_wrapped(
            out,
            f"{r['nct_id']}  score {r['score']:g}  {escape(r['title'] or '')} "
            f"[dim]({r['status'] or 'status unknown'}; {', '.join(r['sources'])})[/dim]",
            f"{i:>3}. ",
        )
        for why in r["why"]:
            print_wrapped(out, Text(why), "       ", hang=2)


def register(app: typer.Typer) -> None:
    app.add_typer(watch_app, name="watch")
    app.command("similar")(similar)
