"""What every command module shares: the context, output helpers, ID parsing, progress."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sync.cli import lazy
from sync.core.ids import InvalidNCTId, normalise_many
from sync.core.progress import DEFAULT_INTERVAL, ProgressLine
from sync.core.util import Progress as ProgressFn

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from sync.config import Settings, load_settings
    from sync.registry.client import CtgovClient
    from sync.store import database as db
    from sync.watches.seed import apply_config_once
else:
    # Imported on first use: the settings, the database and the client cost most of a
    # command's start-up, and `--version` or `--help` needs none of them.
    load_settings = lazy.attr("sync.config", "load_settings")
    CtgovClient = lazy.attr("sync.registry.client", "CtgovClient")
    db = lazy.module("sync.store.database")
    apply_config_once = lazy.attr("sync.watches.seed", "apply_config_once")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

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
        s = self.settings
        eng = db.make_engine(s.database_url_resolved, timeouts=db.timeouts(s.database))
        db.ensure_schema(eng)
        # The config's trials and watches exist from the first command that reads the
        # database (`list` right after install shows them, "not synced yet"); a database this
        # user may only read is read as it is.
        if not db.read_only_reason(eng):
            apply_config_once(eng, self.settings)
        return eng

    def client(self) -> CtgovClient:
        s = self.settings
        return CtgovClient(s.api_url, s.history_url, s.api)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with db.session_scope(self.engine) as session:
            yield session

    def close(self) -> None:
        """Give the database connections back when the command ends (a PostgreSQL server
        counts them; a pool left to the garbage collector holds them for a while)."""
        if "engine" in self.__dict__:
            self.engine.dispose()


def ctx_of(typer_ctx: typer.Context) -> Ctx:
    obj = typer_ctx.find_root().obj
    assert isinstance(obj, Ctx)
    return obj


def fail(message: str, code: int = 2) -> NoReturn:
    # err soft-wraps: one line whatever the terminal width, so scripts can read it.
    # The message quotes input and registry text: its brackets are text, not Rich markup.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


def found_nothing(exc: Exception, json_: bool) -> NoReturn:
    """Valid input that finds nothing: one line (on stderr beside --json, which prints the
    exception's `data`), exit 0. Not bad input, not a failure."""
    if json_:
        print_json(getattr(exc, "data", None))
        err.print(str(exc), highlight=False, markup=False)
    else:
        out.print(str(exc), highlight=False, markup=False)
    raise typer.Exit(0)


def print_json(data: Any) -> None:
    # NON_STR_KEYS: a state's StrEnum as a key (changes by category) is written as its string.
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    sys.stdout.write(orjson.dumps(data, option=options, default=str).decode() + "\n")


def parse_ids(raw: list[str], where: str = "") -> list[str]:
    try:
        return normalise_many(raw, where)
    except InvalidNCTId as exc:
        fail(str(exc))


def _write_err(line: str) -> None:
    err.print(line, highlight=False, markup=False, soft_wrap=True)


@contextmanager
def progress_bar(
    label: str,
    unit: str = "",
    *,
    line: str | None = None,
    interval: float = DEFAULT_INTERVAL,
    requests: Callable[[], int] | None = None,
) -> Iterator[ProgressFn]:
    """A progress bar with the time left on stderr when it is a terminal; otherwise (a pipe, a
    log) one line every `interval` seconds: `sync: 1,200 of 10,000 IDs asked, 12 requests,
    ETA 2h 10m` (`line` names the run, `requests` counts its requests so far)."""
    if not err.is_terminal:
        yield ProgressLine(line or label, unit, _write_err, interval=interval, requests=requests)
        return
    columns: list[str | ProgressColumn] = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if unit:
        columns.append(TextColumn(unit))
    if requests is not None:
        columns.append(TextColumn("{task.fields[requests]:,} requests"))
    columns += [TimeElapsedColumn(), TextColumn("elapsed, ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=None, requests=0)

        def update(done: int, total: int, _what: str) -> None:
            asked = requests() if requests is not None else 0
            bar.update(task, completed=done, total=total, requests=asked)

        yield update
