"""The trialwatch command line: thin commands over the library, data to stdout, logs to stderr."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from models import db
from sync import cli_daemon, cli_history, cli_watch, cli_web, discover, views
from sync import engine as sync_engine
from sync.cli_common import (
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
from sync.config import ConfigError

app = typer.Typer(
    name="trialwatch",
    help="Keep a versioned copy of ClinicalTrials.gov records and report what changed.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def main_callback(
    typer_ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", "-c", help="Config file (default: $TRIALWATCH_CONFIG or ./config.toml)."
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log details to stderr.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    c = Ctx(config)
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
        from sync import cli_history

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
        print_json(rows)
        return
    if not rows:
        err.print("no tracked trials (add some with: trialwatch add NCT…)")
        return
    table = Table("NCT ID", "status", "version", "last update", "title")
    for r in rows:
        status = r["status"] or ""
        if r["registry_state"] == "not_found":
            status = "[red]not found at the registry[/red]"
        elif r["registry_state"] == "alias":
            status = f"alias of {r['alias_of']}"
        elif r["registry_state"] == "unknown":
            status = "[dim]not synced yet[/dim]"
        table.add_row(
            r["nct_id"] + ("" if r["active"] else " (removed)"),
            status,
            str(r["latest_version"] or ""),
            r["last_update_posted"] or "",
            (r["title"] or "")[:70],
        )
    out.print(table)


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
    with c.session() as session:
        sync_engine.seed_from_config(session, c.settings.trials)
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
        typer.Option("--as-of", help="The record as it stood on this date (YYYY-MM-DD)."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Show a trial's current key fields."""
    nct = parse_ids([nct_id])[0]
    c = ctx_of(typer_ctx)
    try:
        with c.session() as session:
            data = views.show(session, nct, as_of=as_of)
    except (views.UnknownTrial, views.NoSuchVersion) as exc:
        fail(str(exc))
    if json_:
        print_json(data)
        return
    if not data["version"]:
        state = "not found at the registry" if not data["found"] else "not synced yet"
        out.print(f"{nct}: {state}")
        return
    e = data["enrollment"]
    lines = [
        ("title", data["title"]),
        ("status", data["status"]),
        ("enrollment", f"{e['count']} ({e['type']})" if e["count"] is not None else ""),
        ("phases", ", ".join(data["phases"])),
        ("start", data.get("start_date")),
        ("primary completion", data.get("primary_completion_date")),
        ("completion", data.get("completion_date")),
        ("last update posted", data.get("last_update_posted")),
        ("sponsor", data.get("sponsor")),
        ("sites", data.get("site_count")),
        ("version", f"{data['version']} of {data['latest_version']}"),
    ]
    out.print(f"[bold]{nct}[/bold]" + (f" as of {as_of}" if as_of else ""))
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
        print_json(rows)
        return
    if not rows:
        out.print(f"{nct}: no versions stored yet")
    for r in rows:
        if not r["fetched"]:
            labels = ", ".join(r["module_labels"]) or "modules not listed"
            out.print(
                f"[dim]  ·  registry v{r['registry_version']}  {r['registry_date'] or ''}  "
                f"{r['overall_status'] or ''}  known, not fetched ({labels})[/dim]",
                highlight=False,
            )
            continue
        origin = r["origin"]
        if r["registry_version"] is not None:
            origin += f" (registry v{r['registry_version']})"
        when = r["registry_date"] or r["last_update_posted"] or ""
        out.print(
            f"[bold]v{r['version']}[/bold]  fetched {r['fetched_at'][:19]}  "
            f"last update posted {when}  {origin}",
            highlight=False,
        )
        for line in r["summaries"]:
            out.print(f"    {line}", highlight=False)


@app.command()
def status(typer_ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show the last runs and their outcome."""
    c = ctx_of(typer_ctx)
    with c.session() as session:
        report = views.status(session)
    if json_:
        print_json(report)
        return
    runs = report.pop("runs")
    extra = report
    for key, value in extra.items():
        out.print(f"{key}: {value}", highlight=False)
    if not runs:
        out.print("no runs yet (run: trialwatch sync)")
        return
    table = Table(
        "run",
        "kind",
        "started",
        "outcome",
        "requests",
        "fetched",
        "new versions",
        "changes",
        "errors",
    )
    for r in runs:
        table.add_row(
            str(r["id"]),
            r["kind"],
            (r["started"] or "")[:19],
            r["outcome"],
            str(r["requests"]),
            str(r["fetched"]),
            str(r["new_versions"]),
            str(r["changes"]),
            str(len(r["errors"])),
        )
    out.print(table)


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
    """Show what changed between two versions, grouped by category, old beside new."""
    nct = parse_ids([nct_id])[0]
    c = ctx_of(typer_ctx)
    try:
        with c.session() as session:
            data = views.diff(session, nct, from_, to)
    except (views.UnknownTrial, views.NoSuchVersion) as exc:
        fail(str(exc))
    if json_:
        print_json(data["changes"])
        return
    from sync.render import print_diff

    print_diff(out, data)


@db_app.command("upgrade")
def db_upgrade(typer_ctx: typer.Context) -> None:
    """Upgrade the database schema to the latest revision."""
    c = ctx_of(typer_ctx)
    eng = db.make_engine(c.settings.database_url_resolved)
    before = db.current_revision(eng)
    db.upgrade(eng)
    out.print(
        f"database at {db.current_revision(eng)} (was {before or 'empty'}): "
        f"{eng.url.render_as_string(hide_password=True)}"
    )


# feature commands (each module adds its commands to `app`)
cli_watch.register(app)
cli_daemon.register(app)
cli_history.register(app)
cli_web.register(app)


def _one_line(message: str) -> None:
    err.print(f"[red]error:[/red] {' '.join(message.split())}", highlight=False, markup=True)


def main() -> None:
    """Console entry point: user errors (usage, config) become one line and exit code 2, a
    database that cannot be used one line and exit code 1; never a traceback for them."""
    import sqlalchemy.exc

    # Typer carries its own copy of click: its exceptions are these, not click's.
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()  # `trialwatch` alone: the help
        sys.exit(exc.exit_code)
    except UsageError as exc:
        where = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        _one_line(f"{exc.format_message()}{where}")
        sys.exit(2)
    except ClickException as exc:
        _one_line(exc.format_message())
        sys.exit(exc.exit_code)
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

