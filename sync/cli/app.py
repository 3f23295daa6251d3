"""The trialwatch command line: the app, its global options, its command groups, and errors as
one line (data to stdout, logs to stderr)."""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from sync import __version__
from sync.cli import help as cli_help
from sync.cli import lazy
from sync.cli.common import (
    Ctx,
    err,
    fail,
    out,
)

if TYPE_CHECKING:
    import sqlalchemy.exc as sqlalchemy_exc

    import sync.config as sync_config
else:
    # Imported when an error reaches their `except` clause: `--version` imports neither.
    sqlalchemy_exc = lazy.module("sqlalchemy.exc")
    sync_config = lazy.module("sync.config")

# The commands, one module per group, in the order `--help` lists them; a module is imported
# when one of its commands runs.
_MODULES = {
    "sync.cli.trials": ("add", "remove", "list", "show", "history", "diff"),
    "sync.cli.runs": ("sync", "status", "db"),
    "sync.cli.watch": ("watch", "similar"),
    "sync.cli.daemon": ("daemon", "digest", "ack", "notify"),
    "sync.cli.backfill": ("backfill",),
    "sync.cli.export": ("export",),
    "sync.cli.web": ("serve",),
}


class _Commands(lazy.LazyGroup):
    COMMANDS = {name: module for module, names in _MODULES.items() for name in names}
    finish = staticmethod(cli_help.finish)


app = typer.Typer(
    name="trialwatch",
    help="Keep a versioned copy of ClinicalTrials.gov records and report what changed.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,  # see cli_help
    cls=_Commands,
)


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
    except sync_config.ConfigError as exc:
        fail(str(exc))
    typer_ctx.obj = c


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
    except sync_config.ConfigError as exc:
        _one_line(str(exc))
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        sys.exit(130)
    except sqlalchemy_exc.OperationalError as exc:
        first = (str(exc.orig or exc).strip().splitlines() or ["unknown error"])[0]
        _one_line(f"the database cannot be used: {first}")
        sys.exit(1)
    except OSError as exc:
        if exc.filename is None:
            raise
        _one_line(f"{exc.strerror or exc}: {exc.filename}")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
