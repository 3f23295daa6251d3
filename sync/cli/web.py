"""The `serve` command: the web app (pages, Atom feeds, JSON API) over the same database."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sync.cli.common import JsonOpt, ctx_of, err, fail, print_json


def serve(
    typer_ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to listen on (default: web.host, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port (default: web.port, 8787)."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Serve the web app: overview, trials, diffs, watches, Atom feeds and the JSON API."""
    from sync.web import server

    c = ctx_of(typer_ctx)
    web = c.settings.web
    try:
        sock = server.bind(host or web.host, web.port if port is None else port)
    except OSError as exc:
        fail(f"cannot listen on {host or web.host}:{web.port if port is None else port}: "
             f"{exc.strerror or exc}")  # fmt: skip
    for warning in server.warnings(c.settings, host or web.host):
        err.print(warning, highlight=False, markup=False)
    mode = "writes allowed with the token" if web.token else "read-only: no token in [web]"
    if json_:
        # For a script that starts the app and needs its address (with --port 0: a free port).
        print_json({"url": server.url_of(sock), "read_only": not web.token})
        sys.stdout.flush()
    # markup=False: "[web]" is the config's section, not a Rich style.
    err.print(f"serving on {server.url_of(sock)} ({mode}); Ctrl-C stops", highlight=False,
              markup=False)  # fmt: skip
    server.serve(c.settings, sock, c.engine)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
