"""`db aact-refresh` and `db aact-reader`: AACT's tables in the live PostgreSQL database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from sync.cli import lazy
from sync.cli.common import Ctx, JsonOpt, ctx_of, fail, out, print_json, progress_bar
from sync.cli.table import print_wrapped

if TYPE_CHECKING:
    from sync.aact import live
else:
    live = lazy.module("sync.aact.live")  # the AACT mappings: for these commands alone

READER = "trialwatch_aact_reader"


def after_run(c: Ctx) -> None:
    """The refresh after a sync or a backfill, when `[aact] live` is on."""
    if c.settings.aact.live:
        live.after_run(c.engine, enabled=True)


def aact_refresh(typer_ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Bring the AACT tables (PostgreSQL) up to the stored versions now."""
    c = ctx_of(typer_ctx)
    try:
        with progress_bar("refreshing", "studies") as progress:
            done = live.refresh(c.engine, progress)
    except live.LiveError as exc:
        fail(str(exc))
    if json_:
        print_json(done.to_dict())
        return
    rows = sum(done.rows.values())
    line = (
        f"AACT tables: {done.studies:,} studies refreshed ({done.versions:,} versions, "
        f"{rows:,} rows) in {done.seconds:.1f}s"
    )
    print_wrapped(out, Text(line), hang=2)


def aact_reader(
    typer_ctx: typer.Context,
    role: Annotated[str, typer.Argument(help="The role's name.", show_default=True)] = READER,
    json_: JsonOpt = False,
) -> None:
    """Make the read-only role of the AACT tables (PostgreSQL), or renew its grants."""
    c = ctx_of(typer_ctx)
    try:
        made = live.make_reader(c.engine, role)
    except live.LiveError as exc:
        fail(str(exc))
    if json_:
        print_json({"role": role, "created": made})
        return
    verb = "made" if made else "granted again"
    text = f"{role} {verb}: SELECT on aact_history, ctgov, as_of (GRANT {role} TO a user)"
    print_wrapped(out, Text(text), hang=2)


def register(db_app: typer.Typer) -> None:
    db_app.command("aact-refresh")(aact_refresh)
    db_app.command("aact-reader")(aact_reader)
