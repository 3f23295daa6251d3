"""The trialwatch command line: thin commands over the library, data to stdout, logs to stderr."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from models import db
from sync import engine as sync_engine
from sync import views
from sync.config import ConfigError, Settings, load_settings
from sync.ctgov import CtgovClient
from sync.ids import InvalidNCTId, normalise_many

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="trialwatch",
    help="Keep a versioned copy of ClinicalTrials.gov records and report what changed.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class Ctx:
    """What commands share: settings, engine and API client, made on first use."""

    def __init__(self, config: str | None) -> None:
        self.config = config

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config)

    @cached_property
    def engine(self) -> Engine:
        eng = db.make_engine(self.settings.database_url_resolved)
        db.ensure_schema(eng)
        return eng

    def client(self) -> CtgovClient:
        s = self.settings
        return CtgovClient(s.api_url, s.history_url, s.api)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with db.session_scope(self.engine) as session:
            yield session


def ctx_of(typer_ctx: typer.Context) -> Ctx:
    obj = typer_ctx.find_root().obj
    assert isinstance(obj, Ctx)
    return obj


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def parse_ids(raw: list[str]) -> list[str]:
    try:
        return normalise_many(raw)
    except InvalidNCTId as exc:
        fail(str(exc))


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int, str], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not err.is_terminal:
        yield None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int, _what: str) -> None:
            bar.update(task, completed=done, total=total)

        yield update


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
    json_: JsonOpt = False,
) -> None:
    """Track trials (IDs are validated; a bad one adds nothing)."""
    ids = parse_ids(nct_ids)
    c = ctx_of(typer_ctx)
    with c.session() as session:
        added, already = sync_engine.track(session, ids, source="manual")
    if json_:
        print_json({"added": added, "already_tracked": already})
        return
    for nct in added:
        out.print(f"added {nct}")
    for nct in already:
        out.print(f"{nct} is already tracked")


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
    before = _watch_hook(c)
    with c.client() as client, progress_bar("syncing") as progress:
        summary = sync_engine.run_sync(
            c.engine,
            client,
            batch_size=c.settings.api.batch_size,
            full=full,
            progress=progress,
            before_fetch=before,
        )
    if json_:
        print_json(summary.to_dict())
    else:
        print_summary(summary)
    if summary.outcome != "ok":
        raise typer.Exit(1)


def _watch_hook(c: Ctx) -> Callable[[sync_engine.SyncSummary], None] | None:
    """The saved searches run inside the sync, before the fetch (see sync.discover)."""
    try:
        from sync import discover
    except ImportError:
        return None
    return discover.sync_hook(c.engine, c.settings)  # type: ignore[no-any-return]


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
        runs = views.runs(session)
        extra = _status_extra(session)
    if json_:
        print_json({"runs": runs, **extra})
        return
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


def _status_extra(session: Session) -> dict[str, Any]:
    try:
        from sync import daemon
    except ImportError:
        return {}
    return daemon.status_info(session)  # type: ignore[no-any-return]


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


def main() -> None:
    """Console entry point: user errors become one line and exit code 2."""
    try:
        app()
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
