"""The trialwatch command line: thin commands over the library, data to stdout, logs to stderr."""

from __future__ import annotations

import logging
import re
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from sync import __version__
from sync.cli import backfill as cli_history
from sync.cli import daemon as cli_daemon
from sync.cli import export as cli_export
from sync.cli import help as cli_help
from sync.cli import watch as cli_watch
from sync.cli import web as cli_web
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
from sync.cli.events import print_events
from sync.cli.table import Col, fit_table
from sync.config import ConfigError
from sync.core.states import RegistryState
from sync.daemon.status import status_lines, status_report
from sync.ingest import run as sync_engine
from sync.store import database as db
from sync.store import views
from sync.watches import runner as discover

app = typer.Typer(
    name="trialwatch",
    help="Keep a versioned copy of ClinicalTrials.gov records and report what changed.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,  # see cli_help
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _print_version(value: bool | None) -> None:
    if value:
        out.print(f"trialwatch {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def main_callback(
    typer_ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="Config file (default: $TRIALWATCH_CONFIG or ./config.toml).",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log details to stderr.")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = None,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    c = Ctx(config)
    typer_ctx.call_on_close(c.close)
    try:
        c.settings  # noqa: B018  (load now: a bad config is one line, exit 2)
    except ConfigError as exc:
        fail(str(exc))
    typer_ctx.obj = c


@app.command()
def add(
    typer_ctx: typer.Context,
    nct_ids: Annotated[list[str], typer.Argument(help="NCT IDs, e.g. NCT07366658.")],
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
    ids = parse_ids(nct_ids)
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
        for nct in added:
            out.print(f"added {nct}")
        for nct in already:
            out.print(f"{nct} is already tracked")
        if filled is not None:
            cli_history.print_summary(filled)
    if filled is not None and filled.outcome != "ok":
        raise typer.Exit(1)


@app.command()
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


@app.command("list")
def list_(
    typer_ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include removed trials.")] = False,
    json_: JsonOpt = False,
) -> None:
    """List tracked trials."""
    c = ctx_of(typer_ctx)
    with c.session() as session:
        rows = views.trial_list(session, include_inactive=all_)
    if json_:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
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


def print_summary(summary: sync_engine.SyncSummary) -> None:
    s = summary
    colour = {"ok": "green", "partial": "yellow", "failed": "red"}.get(s.outcome, "white")
    out.print(
        f"sync [{colour}]{s.outcome}[/{colour}] ({s.mode}): {s.requests} requests, "
        f"{s.fetched} studies fetched, {s.new_versions} new versions, {s.changes} changes"
    )
    for nct, v in sorted(s.new_versions_by_trial.items()):
        out.print(f"  {nct}: stored version {v}")
    if s.changes_by_category:
        cats = ", ".join(f"{k} {v}" for k, v in s.changes_by_category.items())
        out.print(f"  changes by category: {cats}")
    for w in s.watches:
        out.print(
            f"  watch {w.get('name')}: {w.get('outcome')}, {w.get('matches', 0)} matches, "
            f"{len(w.get('entered', []))} entered, {len(w.get('left', []))} left"
        )
    if s.not_found:
        out.print(f"  not found at the registry: {', '.join(s.not_found)}")
    if s.rejected:
        out.print(f"  rejected by the registry (left out from now on): {', '.join(s.rejected)}")
    for old, new in s.aliases.items():
        out.print(f"  {old} is now {new} (alias followed)")
    for e in s.errors:
        out.print(f"  [red]error:[/red] {e}", highlight=False)


@app.command()
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
        with c.client() as client, progress_bar("syncing") as progress:
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
    if json_:
        print_json(summary.to_dict())
    else:
        print_summary(summary)
    if summary.outcome != "ok":
        raise typer.Exit(1)


@app.command()
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
        out.print(f"  {k:<19} {v if v is not None else ''}", highlight=False)


@app.command()
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
    except views.UnknownTrial as exc:
        fail(str(exc))
    if json_:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        out.print(f"{nct}: no versions stored yet")
    for r in rows:
        if not r.fetched:
            labels = ", ".join(r.module_labels) or "modules not listed"
            out.print(
                f"[dim]  ·  registry v{r.registry_version}  {r.registry_date or ''}  "
                f"{r.overall_status or ''}  known, not fetched ({labels})[/dim]",
                highlight=False,
            )
            continue
        origin = str(r.origin)
        if r.registry_version is not None:
            origin += f" (registry v{r.registry_version})"
        when = r.registry_date or r.last_update_posted or ""
        out.print(
            f"[bold]v{r.version}[/bold]  fetched {(r.fetched_at or '')[:19]}  "
            f"last update posted {when}  {origin}",
            highlight=False,
        )
        print_events(out, r.events)


@app.command()
def status(typer_ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show the last runs and their outcome."""
    c = ctx_of(typer_ctx)
    with c.session() as session:
        report = status_report(session)
    if json_:
        print_json(report.to_dict())
        return
    runs, rejected = report.runs, report.rejected
    for line in status_lines(report.status):
        out.print(line, highlight=False)
    if rejected:
        out.print(
            f"rejected by the registry: {', '.join(rejected)} (left out of every sync; "
            f"remove with: trialwatch remove {' '.join(rejected)})",
            highlight=False,
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
        if r.errors:
            more = f" (+{len(r.errors) - 1} more)" if len(r.errors) > 1 else ""
            error = Text(f"run {r.id} {r.outcome}: {' '.join(r.errors[0].split())}{more}")
            error.truncate(out.width, overflow="ellipsis")
            out.print(error, highlight=False, soft_wrap=False)


@app.command()
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
    except (views.UnknownTrial, views.NoSuchVersion) as exc:
        fail(str(exc))
    if json_:
        print_json(data.changes_json())
        return
    from sync.cli.render import print_diff

    print_diff(out, data)


@db_app.command("upgrade")
def db_upgrade(typer_ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Upgrade the database schema to the latest revision."""
    c = ctx_of(typer_ctx)
    eng = db.make_engine(c.settings.database_url_resolved)
    before = db.current_revision(eng)
    db.upgrade(eng)
    after = db.current_revision(eng)
    where = eng.url.render_as_string(hide_password=True)
    if json_:
        print_json({"revision": after, "previous": before, "database": where})
        return
    out.print(f"database at {after} (was {before or 'empty'}): {where}", highlight=False)


# feature commands (each module adds its commands to `app`)
cli_watch.register(app)
cli_daemon.register(app)
cli_history.register(app)
cli_export.register(app)
cli_help.finish(app)
cli_web.register(app)


def _one_line(message: str) -> None:
    err.print(f"[red]error:[/red] {' '.join(message.split())}", highlight=False, markup=True)


def _click_classes() -> tuple[type[Exception], type[Exception]]:
    """Typer's ClickException and UsageError, reached through the public typer.BadParameter:
    older Typer releases raise click's own classes, newer ones those of a private copy."""
    mro = {c.__name__: c for c in typer.BadParameter.__mro__}
    return mro["ClickException"], mro["UsageError"]


def _usage_hint(exc: Exception) -> str:
    """What to do about a usage error: a global option after the command is the usual slip."""
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message()  # type: ignore[attr-defined]
    if ctx is None:
        return message
    match = re.search(r"No such option: (-[-\w]+)", message)
    root = ctx.find_root()
    if match and ctx is not root:
        name = match.group(1)
        if any(name in p.opts for p in root.command.params):
            command = ctx.command_path.split(" ", 1)[-1]
            return (
                f"{message}: {name} is a global option, it goes before the command: "
                f"trialwatch {name} … {command} …"
            )
    return f"{message} (see: {ctx.command_path} --help)"


def main() -> None:
    """Console entry point: user errors (usage, config) become one line and exit code 2, a
    database that cannot be used one line and exit code 1; never a traceback for them."""
    import sqlalchemy.exc

    click_exception, usage_error = _click_classes()
    try:
        code = app(standalone_mode=False, prog_name="trialwatch")
    except usage_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]  # `trialwatch` alone: the help
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        _one_line(_usage_hint(exc))
        sys.exit(2)
    except click_exception as exc:
        _one_line(exc.format_message())  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except ConfigError as exc:
        _one_line(str(exc))
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        sys.exit(130)
    except sqlalchemy.exc.OperationalError as exc:
        first = (str(exc.orig or exc).strip().splitlines() or ["unknown error"])[0]
        _one_line(f"the database cannot be used: {first}")
        sys.exit(1)
    except OSError as exc:
        if exc.filename is None:
            raise
        _one_line(f"{exc.strerror or exc}: {exc.filename}")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
