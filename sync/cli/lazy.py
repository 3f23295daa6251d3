"""Start-up kept small: each command imports only what it uses.

A command group's module (and, through it, SQLAlchemy, DuckDB, FastAPI, …) is imported when
one of its commands is run or the help lists them all; `trialwatch --version` imports none.
`module` and `attr` stand for a module or one of its names until first used.
"""

from __future__ import annotations

import importlib
from collections.abc import MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup


class _LazyModule:
    """A module imported on its first attribute access (importlib's LazyLoader would import
    the parent packages at once: `sqlalchemy` for `sqlalchemy.exc`)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


class _LazyAttr:
    """A callable (function or class) of a module, imported when first called."""

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(self._module), self._name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy {self._module}.{self._name}>"


def module(name: str) -> Any:
    return _LazyModule(name)


def attr(module_name: str, name: str) -> Any:
    return _LazyAttr(module_name, name)


class LazyGroup(TyperGroup):
    """The root command group: `COMMANDS` names each command's module (whose `register(app)`
    adds it to a Typer app), imported when the command is looked up; listing every command
    (help, a typo's suggestions, `.commands`) imports them all, in the modules' order."""

    COMMANDS: dict[str, str] = {}
    # Called with each module's Typer app once its commands are registered.
    finish: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loaded: set[str] = set()
        super().__init__(*args, **kwargs)

    def _load(self, module_name: str) -> None:
        if module_name in self._loaded:
            return
        self._loaded.add(module_name)
        sub = typer.Typer(rich_markup_mode=None)
        importlib.import_module(module_name).register(sub)
        if self.finish is not None:
            self.finish(sub)
        group = typer.main.get_group(sub)
        for name, command in group.commands.items():
            if self.COMMANDS.get(name) != module_name:
                msg = f"{module_name} registers {name!r}: add it to LazyGroup.COMMANDS"
                raise RuntimeError(msg)
            self._commands[name] = command

    def _load_all(self) -> None:
        for module_name in dict.fromkeys(self.COMMANDS.values()):
            self._load(module_name)

    # Typer's click (its own copy in newer releases) is reached through TyperGroup, not named.
    @property  # type: ignore[override]
    def commands(self) -> MutableMapping[str, Any]:
        self._load_all()
        # The order of the help: commands first, then the groups (as Typer lists them).
        ordered = sorted(self._commands.items(), key=lambda kv: hasattr(kv[1], "commands"))
        return dict(ordered)

    @commands.setter
    def commands(self, value: MutableMapping[str, Any]) -> None:
        self._commands = dict(value)

    def add_command(self, cmd: Any, name: str | None = None) -> None:
        self._commands[name or cmd.name] = cmd

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        module_name = self.COMMANDS.get(cmd_name)
        if module_name is not None:
            self._load(module_name)
        return self._commands.get(cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)
