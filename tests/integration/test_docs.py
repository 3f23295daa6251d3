"""The manual (docs/, MkDocs with the Material theme) builds with --strict, and its reference
pages are complete: every command and option of the CLI in docs/reference/cli.md, every setting
and TRIALWATCH_ variable in docs/reference/config.md. The README stays a front door."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import PROJECT_ROOT as ROOT

CLI_REFERENCE = ROOT / "docs" / "reference" / "cli.md"
CONFIG_REFERENCE = ROOT / "docs" / "reference" / "config.md"
README_MAX_LINES = 150

# TRIALWATCH_ names in the code that are not variables a user sets, and why.
NOT_VARIABLES = {
    "TRIALWATCH_API": "the prefix of the [api] variables, as tests spell it",
    "TRIALWATCH_API__VERIFY": "a setting that does not exist: tests/integration/test_security.py "
    "checks that it is refused",
}


def test_the_manual_builds_with_strict(tmp_path: Path) -> None:
    """A broken link or anchor, a page missing from nav or a nav entry without a page fails."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet"]
        + ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    site = tmp_path / "site"
    pages = {p.relative_to(site).as_posix() for p in site.rglob("index.html")}
    assert {"index.html", "getting-started/index.html", "reference/cli/index.html"} <= pages
    assert (tmp_path / "site" / "img" / "digest.png").is_file()


def test_the_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count("\n") < README_MAX_LINES
    for page in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / page).is_file(), page
    # The screenshots live in docs/img/ (the manual's and the README's pictures).
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (ROOT / image).is_file(), image


# -- the command reference -------------------------------------------------------------------


def _commands() -> Iterator[tuple[str, Any]]:
    """Every leaf command of the app by its path (`watch add`), and the root as ``."""
    import typer

    from sync.cli.app import app

    root = typer.main.get_command(app)

    def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        subs = getattr(command, "commands", None)
        if not subs or not path:
            yield path, command
        for name, sub in (subs or {}).items():
            yield from walk(sub, f"{path} {name}".strip())

    yield from walk(root, "")


def _section(text: str, heading: str) -> str | None:
    """The text under `heading` (a whole line) down to the next heading of any level."""
    m = re.search(rf"^{re.escape(heading)}\n(.*?)(?=^#+ |\Z)", text, re.MULTILINE | re.DOTALL)
    return m.group(1) if m else None


def missing_from_cli_reference(text: str) -> list[str]:
    """What the page lacks: a command without its section, an option or argument not named in
    its command's section (in backticks)."""
    missing: list[str] = []
    for path, command in _commands():
        heading = f"### `trialwatch {path}`" if path else "## Global options"
        section = _section(text, heading)
        if section is None:
            missing.append(f"trialwatch {path}".strip())
            continue
        for param in command.params:
            if param.param_type_name == "option":
                names = [*param.opts, *param.secondary_opts]
            else:
                names = [param.name.upper()]
            for name in names:
                if f"`{name}`" not in section:
                    missing.append(f"trialwatch {path} {name}".replace("  ", " "))
    return missing


def test_every_command_and_option_is_in_the_reference() -> None:
    text = CLI_REFERENCE.read_text(encoding="utf-8")
    commands = [path for path, _ in _commands() if path]
    assert len(commands) >= 20 and "watch add" in commands and "db upgrade" in commands
    assert missing_from_cli_reference(text) == []


def test_the_reference_check_finds_what_is_missing() -> None:
    text = CLI_REFERENCE.read_text(encoding="utf-8")
    no_option = text.replace("`--only-modules`", "`--modules`")
    assert missing_from_cli_reference(no_option) == ["trialwatch backfill --only-modules"]
    no_command = text.replace("### `trialwatch watch events`", "### Watch events")
    assert missing_from_cli_reference(no_command) == ["trialwatch watch events"]


# -- the configuration reference -------------------------------------------------------------


def _settings() -> Iterator[tuple[str, str]]:
    """(dotted key, environment variable) of every setting, nested ones included."""
    from pydantic import BaseModel

    from sync.config import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    delimiter = Settings.model_config.get("env_nested_delimiter") or "__"
    for name, field in Settings.model_fields.items():
        if field.exclude:
            continue
        yield name, f"{prefix}{name}".upper()
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            for sub in kind.model_fields:
                yield f"{name}.{sub}", f"{prefix}{name}{delimiter}{sub}".upper()


def _variables_in_code() -> set[str]:
    names: set[str] = set()
    folders = ["sync", "models", "bench", "tests", ".ci"]
    files = [p for f in folders for p in (ROOT / f).rglob("*") if p.is_file()]
    files.append(ROOT / "Makefile")
    for path in files:
        if path.suffix in (".pyc", ".png") or "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        names |= set(re.findall(r"\bTRIALWATCH_[A-Z0-9_]*[A-Z0-9]\b", text))
    return names - set(NOT_VARIABLES)


def test_every_setting_and_variable_is_in_the_config_reference() -> None:
    text = CONFIG_REFERENCE.read_text(encoding="utf-8")
    settings = list(_settings())
    assert len(settings) >= 30
    # Sections (api, web, …) are documented by their keys; a top-level key in its own row.
    sections = ("api", "database", "schedule", "notify", "digest", "web", "aact", "watches")
    for key, variable in settings:
        if "." in key or key not in sections:
            assert f"`{key}`" in text, key
            assert f"`{variable}`" in text, variable
    from sync.config import WatchConfig

    watches = _section(text, "## `[[watches]]`: saved searches")
    assert watches is not None
    for key in WatchConfig.model_fields:
        assert f"| `{key}` |" in watches, f"watches: {key}"
    variables = _variables_in_code()
    assert {"TRIALWATCH_CONFIG", "TRIALWATCH_NOTIFY_URLS", "TRIALWATCH_DATABASE_URL"} <= variables
    for variable in sorted(variables):
        assert f"`{variable}`" in text, variable


@pytest.mark.parametrize("name", sorted(NOT_VARIABLES))
def test_every_exception_is_still_in_the_code(name: str) -> None:
    code = "\n".join(
        p.read_text(encoding="utf-8") for f in ("sync", "tests") for p in (ROOT / f).rglob("*.py")
    )
    assert name in code, name
