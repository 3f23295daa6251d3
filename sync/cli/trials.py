"""Commands about tracked trials: add, remove, list, show, history and diff."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.markup import escape
from rich.text import Text

from sync.cli import lazy
from sync.cli.common import (
    JsonOpt,
    ctx_of,
    err,
    fail,
    found_nothing,
    out,
    parse_ids,
    print_json,
)
from sync.cli.events import print_events
from sync.cli.table import Col, fit_table, print_parts, print_wrapped
from sync.core.ids import split_ids
from sync.core.states import RegistryState
from sync.store import listing, views

if TYPE_CHECKING:
    from sync.ingest import run as sync_engine
else:
    sync_engine = lazy.module("sync.ingest.run")  # add and remove: the others only read


def add(
    typer_ctx: typer.Context,
    nct_ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="NCT IDs, e.g. NCT07366658 (an argument may hold several: 'A B,C').",
            show_default=False,
        ),
    ] = None,
    from_: Annotated[
        typer.FileText | None,
        typer.Option(
            "--from",
            metavar="FILE",
            encoding="utf-8",
            help="Also read IDs from FILE ('-': standard input): one a line or separated by "
            "spaces or commas; blank lines and # comments are ignored.",
        ),
    ] = None,
    backfill: Annotated[
        bool | None,
        typer.Option(
            "--backfill/--no-backfill",
            help="Import the registry's past versions of the added trials "
            "(default: backfill_on_add in the config).",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Track trials (IDs are validated; a bad one adds nothing)."""
    ids = _ids_to_add(nct_ids or [], from_)
    c = ctx_of(typer_ctx)
    with c.session() as session:
        added, already = sync_engine.track(session, ids, source="manual")
    filled = None
    if added and (c.settings.backfill_on_add if backfill is None else backfill):
        from sync.cli import backfill as cli_history

        filled = cli_history.run(c, added)
    if json_:
        result: dict[str, Any] = {"added": added, "already_tracked": already}
        if filled is not None:
            result["backfill"] = filled.to_dict()
        print_json(result)
    else:
        _print_some(added, "added {}", "added {:,} more")
        _print_some(already, "{} is already tracked", "{:,} more already tracked")
        if filled is not None:
            cli_history.print_summary(filled)
    if filled is not None and filled.outcome != "ok":
        raise typer.Exit(1)


# The IDs `add` names one a line; past them a count (`add --json` lists every one).
SHOWN_IDS = 20


def _print_some(ids: list[str], each: str, more: str) -> None:
    for nct in ids[:SHOWN_IDS]:
        out.print(each.format(nct), highlight=False)
    if len(ids) > SHOWN_IDS:
        out.print(more.format(len(ids) - SHOWN_IDS) + " (add --json lists them all)",
                  highlight=False)  # fmt: skip


def _ids_to_add(args: list[str], source: TextIO | None) -> list[str]:
    """The IDs of the arguments and of --from, validated as one list (all or nothing)."""
    raws = [nct for arg in args for nct in split_ids(arg, comments=False)]
    where = ""
    if source is not None:
        try:
            text = source.read()
        except UnicodeDecodeError as exc:
            fail(f"{_name_of(source)} is not UTF-8 text ({exc.reason} at byte {exc.start:,})")
        raws += split_ids(text)
        where = "" if args else f"in {_name_of(source)}"
    if not raws:
        what = f"no NCT IDs in {_name_of(source)}" if source is not None else "no NCT IDs given"
        fail(f"{what} (give IDs as arguments, or --from FILE, - for standard input)")
    return parse_ids(raws, where)


def _name_of(source: TextIO) -> str:
    name = getattr(source, "name", "-")
    return "standard input" if name in ("-", "<stdin>") else str(name)


def remove(
    typer_ctx: typer.Context,
    nct_ids: Annotated[list[str], typer.Argument(help="NCT IDs to stop tracking.")],
    json_: JsonOpt = False,
) -> None:
    """Stop tracking trials (their stored versions are kept)."""
    ids = parse_ids(nct_ids)
    c = ctx_of(typer_ctx)
    with c.session() as session:
        removed, unknown = sync_engine.untrack(session, ids)
    if json_:
        print_json({"removed": removed, "not_tracked": unknown})
    else:
        for nct in removed:
            out.print(f"removed {nct}")
        for nct in unknown:
            err.print(f"{nct} is not tracked")
    if unknown and not removed:
        raise typer.Exit(2)


def list_(
    typer_ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include removed trials.")] = False,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only trials with this overall status, e.g. RECRUITING."),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            help="Only trials with every word of this in their NCT ID, title, lead sponsor or "
            "conditions (case aside).",
        ),
    ] = None,
    watch: Annotated[
        str | None,
        typer.Option(
            "--watch", help="Only the studies of this watch (ever its members, or tracked by it)."
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """List tracked trials."""
    try:
        query = listing.TrialQuery.of(status, search, watch, include_inactive=all_)
    except listing.BadQuery as exc:
        fail(f"--status: {exc}")
    c = ctx_of(typer_ctx)
    with c.session() as session:
        if query.watch:
            from sync.watches import definitions as watches

            try:
                watches.get_watch(session, query.watch)
            except watches.UnknownWatch as exc:
                fail(str(exc))
        rows = listing.trial_rows(session, query)
    if json_:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        if query.params():
            err.print("no tracked trials match")
        else:
            err.print("no tracked trials (add some with: trialwatch add NCT…)")
        return
    rows_out = []
    for r in rows:
        status = escape(r.status or "")
        state = views.state_text(r.registry_state, r.alias_of)
        if state is not None:
            quiet = r.registry_state in (RegistryState.UNKNOWN, RegistryState.ALIAS)
            style = "dim" if quiet else "red"
            status = f"[{style}]{state}[/{style}]"
        rows_out.append(
            [
                r.nct_id + ("" if r.active else " (removed)"),
                status,
                str(r.latest_version or ""),
                r.last_update_posted or "",
                escape(r.title or ""),
            ]
        )
    cols = [
        Col("NCT ID"),
        Col("status"),
        Col("version", justify="right", drop=2),
        Col("last update (registry)", drop=1),
        Col("title", flex=True),
    ]
    out.print(fit_table(out, cols, rows_out), highlight=False)


def show(
    typer_ctx: typer.Context,
    nct_id: Annotated[str, typer.Argument(help="The trial's NCT ID.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The record as it stood on this date: YYYY, YYYY-MM (their last day), "
            "YYYY-MM-DD or an ISO date-time.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Show a trial's current key fields."""
    nct = parse_ids([nct_id])[0]
    c = ctx_of(typer_ctx)
    try:
        with c.session() as session:
            data = views.show(session, nct, as_of=as_of)
    except views.NothingFound as exc:
        found_nothing(exc, json_)
    except (views.UnknownTrial, views.NoSuchVersion, views.BadDate) as exc:
        fail(str(exc))
    if json_:
        print_json(data.to_dict())
        return
    state = views.state_text(data.registry_state, data.alias_of)
    if not data.version:
        out.print(f"{nct}: {state or 'no version stored'}", highlight=False)
        return
    posted = data.last_update_posted
    latest = data.registry_last_update_posted
    if latest and latest != posted:
        posted = f"{posted or ''} (this version; the registry's latest answer: {latest})"
    e = data.enrollment
    lines = [
        ("title", data.title),
        ("status", data.status),
        ("enrollment", f"{e.count} ({e.type})" if e.count is not None else ""),
        ("phases", ", ".join(data.phases)),
        ("start", data.start_date),
        ("primary completion", data.primary_completion_date),
        ("completion", data.completion_date),
        ("last update posted", posted),
        ("sponsor", data.sponsor),
        ("sites", data.site_count),
        ("version", f"{data.version} of {data.latest_version}"),
    ]
    out.print(f"[bold]{nct}[/bold]" + (f" as of {data.as_of_date}" if as_of else ""))
    if state is not None:
        # Versions kept from before it became an alias, or from before the registry lost it.
        out.print(f"  [red]{state}[/red]", highlight=False)
    for k, v in lines:
        # Long values (titles, sponsors) wrap under the value column; registry text ("[18F]FDG
        # PET" in a title) is text, not Rich markup.
        print_wrapped(out, Text(str(v if v is not None else "")), Text(f"  {k:<19} "))


def history(
    typer_ctx: typer.Context,
    nct_id: Annotated[str, typer.Argument(help="The trial's NCT ID.")],
    json_: JsonOpt = False,
) -> None:
    """List a trial's stored versions and what changed in each."""
    nct = parse_ids([nct_id])[0]
    c = ctx_of(typer_ctx)
    try:
        with c.session() as session:
            rows = views.history(session, nct)
            if not rows:
                found_nothing(views.NothingFound(views.why_no_history(session, nct), []), json_)
    except views.UnknownTrial as exc:
        fail(str(exc))
    if json_:
        print_json([r.to_dict() for r in rows])
        return
    for r in rows:
        if not r.fetched:
            labels = ", ".join(r.module_labels) or "modules not listed"
            print_wrapped(
                out,
                f"[dim]registry v{r.registry_version}  {r.registry_date or ''}  "
                f"{r.overall_status or ''}  known, not fetched ({labels})[/dim]",
                "[dim]  ·  [/dim]",
            )
            continue
        origin = str(r.origin)
        if r.registry_version is not None:
            origin += f" (registry v{r.registry_version})"
        when = r.registry_date or r.last_update_posted or ""
        print_parts(
            out,
            [
                f"[bold]v{r.version}[/bold]  fetched {(r.fetched_at or '')[:19]}",
                f"last update posted {when}  {origin}",
            ],
        )
        print_events(out, r.events)


def diff(
    typer_ctx: typer.Context,
    nct_id: Annotated[str, typer.Argument(help="The trial's NCT ID.")],
    from_: Annotated[
        int | None, typer.Option("--from", help="Older version (default: to-1).")
    ] = None,
    to: Annotated[int | None, typer.Option("--to", help="Newer version (default: latest).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Show what changed between two versions, grouped under its events, old beside new."""
    nct = parse_ids([nct_id])[0]
    c = ctx_of(typer_ctx)
    try:
        with c.session() as session:
            data = views.diff(session, nct, from_, to)
    except views.NothingFound as exc:
        found_nothing(exc, json_)
    except (views.UnknownTrial, views.NoSuchVersion) as exc:
        fail(str(exc))
    if json_:
        print_json(data.changes_json())
        return
    from sync.cli.render import print_diff

    print_diff(out, data)


def register(app: typer.Typer) -> None:
    app.command()(add)
    app.command()(remove)
    app.command("list")(list_)
    app.command()(show)
    app.command()(history)
    app.command()(diff)
