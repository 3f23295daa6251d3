"""The trialwatch command line: the app, its global options, its command groups, and errors as
one line (data to stdout, logs to stderr)."""

from __future__ import annotations

import logging
import re
import signal
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

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
from sync.core.stops import Stopped, raise_stopped

if TYPE_CHECKING:
    import sync.config as sync_config
else:
    # Imported when an error reaches their `except` clause: `--version` imports neither.
    sync_config = lazy.module("sync.config")

# The commands, one module per group, in the order `--help` lists them; a module is imported
# when one of its commands runs.
_MODULES = {
    "sync.cli.trials": ("add", "remove", "list", "show", "history", "diff"),
    "sync.cli.runs": ("sync", "status", "db"),
    "sync.cli.watch": ("watch", "similar"),
    "sync.cli.daemon": ("daemon", "digest", "ack", "notify"),
    "sync.cli.backfill": ("backfill",),
    "sync.cli.outcomes": ("outcomes",),
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
    from rich.markup import escape  # imported by common's Console already: no start-up cost

    err.print(f"[red]error:[/red] {escape(' '.join(message.split()))}", highlight=False,
              markup=True)  # fmt: skip


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


def _database_error(exc: Exception) -> tuple[str, int] | None:
    """The line and exit code for a database error: 2 for a database this trialwatch cannot
    use as it is (a missing driver, not a database, a newer schema, read-only for a command
    that writes), 1 for one that failed now (a server that cannot be reached); None for an
    error that is not the database's."""
    import sqlalchemy.exc

    from sync.store import database as db

    if isinstance(exc, db.DatabaseUnusable):
        return str(exc), 2
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and (read_only := db.read_only_write(exc)):
        return read_only, 2
    if isinstance(exc, sqlalchemy.exc.OperationalError):
        first = (str(exc.orig or exc).strip().splitlines() or ["unknown error"])[0]
        if first.startswith("database is locked"):
            return (
                "the database is busy: another process held its write lock longer than "
                "database.busy_timeout_seconds; try again when it has finished"
            ), 1
        if notes := getattr(exc, "__notes__", None):
            # Lost under a run (sync.store.runs): what became of the run.
            return f"the database was lost mid-run: {first}; {notes[-1]}", 1
        return f"the database cannot be used: {first}", 1
    return None


def _interrupted(exc: Stopped) -> NoReturn:
    """One line for a command stopped by a signal (what became of a run under way, when one
    was), and the shell's exit code for it: 128 + the signal's number (130, 143)."""
    notes = getattr(exc, "__notes__", None) or ["nothing was left half-done"]
    err.print(f"interrupted: {notes[-1]}", highlight=False, markup=False)
    named = signal.Signals.__members__.get(exc.signal_name)
    sys.exit(128 + named.value if named else 1)


def main() -> None:
    """Console entry point: user errors (usage, config, a database that cannot be used as it
    is) become one line and exit code 2, a database server that cannot be reached one line and
    exit code 1; never a traceback for them."""

    click_exception, usage_error = _click_classes()
    # Ctrl-C and SIGTERM as Stopped, not KeyboardInterrupt (which Typer turns into a silent
    # exit 130) nor the default end without a word: the run under way is recorded as failed,
    # and the command ends below with one line (the daemon and `serve` install their own).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, raise_stopped)
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
    except Stopped as exc:
        _interrupted(exc)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted", highlight=False)
        sys.exit(130)
    except OSError as exc:
        if exc.filename is None:
            raise
        _one_line(f"{exc.strerror or exc}: {exc.filename}")
        sys.exit(2)
    except Exception as exc:
        said = _database_error(exc)
        if said is None:
            raise
        _one_line(said[0])
        sys.exit(said[1])
    sys.exit(code if isinstance(code, int) else 0)
