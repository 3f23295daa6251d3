"""Help as a new user reads it: plain flags, one example per command, --version, and usage
errors that say what to do, through the real console entry point."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import typer

from sync import __version__
from sync.cli.app import app
from sync.cli.help import EXAMPLES
from tests.support.cli import tw


def _commands() -> list[tuple[str, Any]]:
    """Every command path below `trialwatch`, with its click command."""
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(group: Any, prefix: str) -> None:
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                walk(cmd, f"{prefix}{name} ")
            else:
                found.append((f"{prefix}{name}", cmd))

    walk(root, "")
    return found


def test_every_command_has_one_example_that_parses() -> None:
    commands = _commands()
    assert len(commands) >= 20
    missing = [path for path, _ in commands if path not in EXAMPLES]
    assert not missing, f"add an example to sync/cli_help.EXAMPLES for: {missing}"
    for path, cmd in commands:
        words = shlex.split(EXAMPLES[path])
        assert words[0] == "trialwatch"
        # The example names its own command and its options exist (click parses them).
        args = [w for w in words[1:] if not w.startswith("--config") and "/srv/" not in w]
        assert " ".join(args).startswith(path), EXAMPLES[path]
        ctx = cmd.make_context(path, args[len(path.split()) :], resilient_parsing=True)
        assert ctx.command is cmd


@pytest.mark.parametrize("path", ["", "list", "watch list", "digest", "db upgrade"])
def test_help_is_plain_with_an_example(path: str) -> None:
    done = tw(*path.split(), "--help")
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout
    assert "╭" not in done.stdout  # no Rich panels: plain click help that pipes well
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    if path:
        assert f"Example:\n    {EXAMPLES[path]}" in done.stdout


def test_version() -> None:
    done = tw("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"trialwatch {__version__}")


def test_global_option_after_the_command_says_where_it_goes(tmp_path) -> None:
    done = tw("list", "--config", str(tmp_path / "x.toml"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: No such option: --config: --config is a global option, it goes before the "
        "command: trialwatch --config … list …"
    ]
    done = tw("watch", "list", "-v")
    assert done.returncode == 2
    assert "trialwatch -v … watch list …" in done.stderr
    # An option that exists nowhere points at the command's help instead.
    done = tw("list", "--bogus")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: No such option: --bogus (see: trialwatch list --help)"


def test_every_command_takes_json() -> None:
    """The README says so: a script can ask any command for JSON."""
    missing = [
        path for path, cmd in _commands() if "--json" not in {o for p in cmd.params for o in p.opts}
    ]
    assert missing == []
