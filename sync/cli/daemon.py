"""CLI commands of the daemon issue: `daemon`, `digest`, `ack` and `notify test`."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sync.cli.common import JsonOpt, ctx_of, err, fail, out, parse_ids, print_json
from sync.config import ConfigError, Settings
from sync.report import digest as dg
from sync.report import review
from sync.report.channels import mask_apprise_logs, parse_channels
from sync.store import database as db

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from sync.web.server import Background

notify_app = typer.Typer(help="Notifications (apprise URLs in notify.urls or "
                         "TRIALWATCH_NOTIFY_URLS).", no_args_is_help=True)  # fmt: skip


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(),
                "message": record.getMessage(),
            }
        )


def _daemon_logging(json_lines: bool, verbose: bool) -> None:
    """One line per run on stderr, whatever the root logger's level."""
    logger = logging.getLogger("trialwatch.daemon")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    if not verbose:
        # The run's own line says what went wrong; the engine's warnings would repeat it.
        logging.getLogger("sync.ingest.run").setLevel(logging.ERROR)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


def daemon(
    typer_ctx: typer.Context,
    json_: Annotated[
        bool, typer.Option("--json", help="Log one JSON object per line instead of text.")
    ] = False,
    serve: Annotated[
        bool,
        typer.Option("--serve", help="Also serve the web app (web.host, web.port)."),
    ] = False,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="One cycle and stop (a check, and the full sync or digest if one is overdue): "
            "for a timer or cron job. Exit code 1 if a job failed.",
        ),
    ] = False,
) -> None:
    """Run in the foreground: freshness checks, full syncs and digests on the configured schedule.

    Stops cleanly on SIGTERM or SIGINT. Only one daemon runs against a database.
    """
    from sync.daemon import service as daemon_mod

    c = ctx_of(typer_ctx)
    if once and serve:
        fail("--once and --serve do not go together: the web app is served by `trialwatch serve`")
    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    _daemon_logging(json_, verbose)
    try:
        daemon_mod.check_schedule(c.settings)
        lock = daemon_mod.start_leader(c.settings, c.engine)
    except ConfigError as exc:
        fail(str(exc))
    except daemon_mod.AlreadyRunning as exc:
        fail(str(exc))
    with lock:
        # Inside the lock: a second daemon never takes the port; a taken port exits 2 (the
        # lock is released on the way out).
        web = _start_web(c.settings, c.engine) if serve else None
        runner = daemon_mod.Daemon(c.settings, c.engine)
        try:
            code = runner.run(lock, once=once)
        finally:
            if web is not None:
                web.stop()
    raise typer.Exit(code)


def _start_web(settings: Settings, engine: Engine) -> Background:
    """The web app in a thread of the daemon's process (a single-box deployment)."""
    from sync.web.server import Background, bind, warnings

    host, port = settings.web.host, settings.web.port
    try:
        sock = bind(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    log = logging.getLogger("trialwatch.daemon")
    for warning in warnings(settings, host):
        log.warning(warning)
    web = Background(settings, sock, engine).start()
    log.info(f"web app serving on {web.url}")
    return web


def digest(
    typer_ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help="Start: 7d, 24h, 2w, 30m ago, or a date (2026-11-01).")
    ] = "7d",
    until: Annotated[
        str | None,
        typer.Option("--until", help="End (default now); a date means the end of that day."),
    ] = None,
    trial: Annotated[
        list[str] | None, typer.Option("--trial", help="Only this trial (repeatable).")
    ] = None,
    watch: Annotated[
        str | None, typer.Option("--watch", help="Only the trials and events of this watch.")
    ] = None,
    unreviewed: Annotated[
        bool, typer.Option("--unreviewed", help="Only changes not acknowledged yet.")
    ] = False,
    format_: Annotated[
        str | None, typer.Option("--format", "-f", help="md (the default), html, json or atom.")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
    max_trials: Annotated[
        int | None,
        typer.Option(
            "--max-trials",
            min=0,
            help="Trials in detail, most important first (default: [digest] max_trials, 25); "
            "the rest are counted. 0: all. JSON always holds every trial.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """The changes in a window, grouped by trial, most severe first; watch events; run health."""
    from sync.report.render import FORMATS, render

    if json_ and format_ is not None and format_.lower() != "json":
        fail(
            f"--json prints the JSON digest; --format {format_} asks for another: "
            "give one of them"
        )
    fmt = "json" if json_ else (format_ or "md").lower()
    if fmt not in FORMATS:
        fail(f"--format: {format_!r} is not one of {', '.join(FORMATS)}")
    c = ctx_of(typer_ctx)
    with c.session() as session:
        # "24h ago" by the database's clock, the one changes and runs are stamped with: a
        # process whose own clock is off still selects what was stored in the last 24 hours.
        now = db.database_now(session)
    try:
        start = dg.parse_when(since, now)
        end = dg.parse_when(until, now, end=True) if until else now
    except dg.DigestError as exc:
        fail(str(exc))
    if start >= end:
        fail(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")
    ids = parse_ids(trial) if trial else []
    sel = dg.Selection(since=start, until=end, trials=ids, watch=watch, unreviewed=unreviewed)
    from sync.store import views

    try:
        with c.session() as session:
            views.require_tracked(session, ids)
            data = dg.build_digest(
                session,
                sel,
                now=now,
                # JSON holds every trial, with its timeline; HTML shows only the capped view.
                with_timeline=True if fmt == "json" else "shown" if fmt == "html" else False,
                base_url=c.settings.web.base_url,
                max_trials=c.settings.digest.max_trials if max_trials is None else max_trials,
            )
    except (dg.DigestError, views.UnknownTrial) as exc:
        fail(str(exc))
    text = render(data, fmt)
    if out_file is not None:
        try:
            out_file.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"--out: cannot write {out_file}: {exc.strerror or exc}")
        err.print(f"wrote {out_file}: {dg.headline(data)}", highlight=False, markup=False)
    else:
        if fmt == "md":
            # Read in a terminal or a pipe: wrapped to the width (the file and mails keep
            # their lines; Markdown renders both the same).
            from sync.cli.table import fit_markdown

            text = fit_markdown(text, out.width)
        sys.stdout.write(text)
    if not data["health"]["clean"] and fmt != "json":
        err.print(f"[yellow]warning:[/yellow] {data['health']['note']}", highlight=False)


def ack(
    typer_ctx: typer.Context,
    change_ids: Annotated[
        list[str] | None, typer.Argument(help="Change IDs (from digest or diff --json).")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every unreviewed change (and watch event).")
    ] = False,
    trial: Annotated[
        list[str] | None, typer.Option("--trial", help="With --all: only this trial (repeatable).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Mark changes reviewed; `digest --unreviewed` shows only the rest."""
    if all_ and change_ids:
        fail("give change IDs or --all, not both")
    if not all_ and not change_ids:
        fail("give change IDs to acknowledge, or --all")
    if trial and not all_:
        fail("--trial goes with --all")
    wanted: list[int] = []
    for raw in change_ids or []:
        try:
            value = int(raw.lstrip("#"))
        except ValueError:
            fail(f"{raw!r} is not a change ID (a number, as digest shows it: #42)")
        wanted.append(value)
    ids = parse_ids(trial) if trial else []
    c = ctx_of(typer_ctx)
    from sync.store import views

    try:
        with c.session() as session:
            views.require_tracked(session, ids)
            result = review.acknowledge(session, wanted, all_=all_, trials=ids)
    except views.UnknownTrial as exc:
        fail(str(exc))
    if json_:
        print_json(result.__dict__)
    else:
        n = len(result.acknowledged)
        out.print(f"acknowledged {n} change{'s' if n != 1 else ''}"
                  + (f" and {result.watch_events} watch events" if result.watch_events else ""))
        if result.already:
            from sync.cli.table import print_wrapped

            print_wrapped(out, f"already acknowledged: {', '.join(map(str, result.already))}",
                          hang=2)
        for cid in result.unknown:
            err.print(f"no change with ID {cid}")
    if result.unknown and not result.acknowledged and not result.already:
        raise typer.Exit(2)


@notify_app.command("test")
def notify_test(typer_ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Send a test message to every configured notification URL."""
    from sync.report import notify

    c = ctx_of(typer_ctx)
    urls = c.settings.notify.urls
    if not urls:
        fail("no notification URLs: set notify.urls in the config or TRIALWATCH_NOTIFY_URLS")
    _, masker = parse_channels(urls)
    mask_apprise_logs(masker, show=logging.getLogger().isEnabledFor(logging.INFO))
    outcomes = notify.send_test(c.settings)
    if json_:
        print_json([{"channel": o.channel, "status": o.status, "error": o.error}
                    for o in outcomes])  # fmt: skip
    else:
        from rich.text import Text

        from sync.cli.table import print_wrapped

        for o in outcomes:
            # A channel is a URL: folded, not cut, when it is longer than the width.
            if o.status == "sent":
                print_wrapped(out, Text(f"sent: {o.channel}"), hang=2)
            else:
                failed = Text("failed:", style="red") + Text(f" {o.channel}: {o.error}")
                print_wrapped(out, failed, hang=2)
    if any(o.status != "sent" for o in outcomes):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("daemon")(daemon)
    app.command("digest")(digest)
    app.command("ack")(ack)
    app.add_typer(notify_app, name="notify")
