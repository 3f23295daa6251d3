"""The `export` command: the stored history as Parquet, CSV or DuckDB tables for analysis."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sync.cli import lazy
from sync.cli.common import JsonOpt, ctx_of, fail, out, parse_ids, print_json, progress_bar

if TYPE_CHECKING:
    from sync.aact import export as aact
    from sync.report import export, export_run
else:
    export = lazy.module("sync.report.export")  # DuckDB and PyArrow: for export alone
    export_run = lazy.module("sync.report.export_run")
    aact = lazy.module("sync.aact.export")


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_(
        typer_ctx: typer.Context,
        target: Annotated[
            Path,
            typer.Argument(
                help="A directory (one file per table) or FILE.duckdb (tables and views).",
                show_default=False,
            ),
        ],
        fmt: Annotated[
            str | None,
            typer.Option(
                "--format",
                help="parquet (default) or csv, for a directory; aact: AACT's tables with "
                "every version, into FILE.duckdb or as Parquet files; aact-txt: those as "
                "pipe-delimited files with a schema file.",
            ),
        ] = None,
        trials: Annotated[
            list[str] | None,
            typer.Option("--trial", help="Only this tracked trial (repeat for more)."),
        ] = None,
        watch: Annotated[
            str | None, typer.Option("--watch", help="Only the members of this watch.")
        ] = None,
        since: Annotated[
            str | None,
            typer.Option(
                "--since",
                help="Only studies with something new since this date (YYYY-MM-DD); "
                "into an existing .duckdb file (or, with --format aact or aact-txt, an "
                "earlier AACT export) their rows are replaced.",
            ),
        ] = None,
        force: Annotated[
            bool,
            typer.Option(
                "--force",
                help="Replace a target that exists and is not a trialwatch export.",
            ),
        ] = False,
        json_: JsonOpt = False,
    ) -> None:
        """Write the trials, versions, changes, sites and watch events as analysis tables."""
        if trials and watch:
            fail("give --trial or --watch, not both")
        try:
            sel = export.Selection(
                trials=parse_ids(trials or []),
                watch=watch,
                since=export.parse_since(since) if since is not None else None,
            )
            c = ctx_of(typer_ctx)
            engine = c.engine
            mode = fmt or ("duckdb" if target.suffix == ".duckdb" else "parquet")
            with progress_bar("exporting") as progress:
                # Recorded as a run of kind export (status lists it, the next run closes one
                # that was killed).
                if fmt in aact.FORMATS:
                    summary = export_run.recorded(
                        engine, mode,
                        lambda tick: aact.export_aact(engine, target, sel, tick, force, fmt),
                        progress,
                    )  # fmt: skip
                else:
                    summary = export_run.recorded(
                        engine, mode,
                        lambda tick: export.export(engine, target, fmt, sel, tick, force=force),
                        progress,
                    )  # fmt: skip
        except export.ExportError as exc:
            fail(str(exc))
        if json_:
            print_json(summary.to_dict())
            return
        from rich.text import Text

        from sync.cli.table import print_wrapped

        rows = ", ".join(f"{name} {n:,}" for name, n in summary.tables.items())
        verb = "updated" if summary.merged else "wrote"
        print_wrapped(out, Text(f"{verb} {summary.target} ({summary.format}): {rows}"), hang=2)
        if summary.views:
            print_wrapped(out, Text(f"views: {', '.join(summary.views)}"), hang=2)
