"""Every ```sh block of the README and of the manual (docs/**/*.md) runs, command by command,
against the fake registry, so that they stay true: each file on a database of its own, seeded
alike. A block added later is run too, unless SKIPPED names it with a reason."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from sync.testing.factory import with_last_update, with_site
from tests.support import PROJECT_ROOT as ROOT
from tests.support.studies import NEUK, all_studies

README = ROOT / "README.md"
# The README first, then the manual's pages.
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]

# A line of a block that cannot run here, and why. A block with one of them is skipped whole
# (its other lines may depend on it, e.g. an `export`).
SKIPPED = {
    "make run": "the build itself: `make test` runs this suite, `make run` needs the real registry",
    "notify test": "sends to example.org; tests/integration/test_notify.py runs `notify test` "
    "against local receivers",
    "trialwatch serve": "serves until stopped; tests/integration/test_web_serve.py runs `serve` "
    "and `daemon --serve` as processes and stops them with SIGTERM",
    "daemon --serve": "serves until stopped; tests/integration/test_web_serve.py runs it",
    "podman ": "no container engine here: tests/outside/test_container.py runs the Containerfile's "
    "steps and its CMD",
    "make test": "runs this suite itself",
    "pip wheel": "builds the wheel and installs it into a fresh venv: tests/outside/test_wheel.py "
    "does that outside the tree and runs the installed trialwatch from an empty folder",
    "db.example.org": "needs a PostgreSQL server of that name; every command of this suite runs "
    "on PostgreSQL too (TRIALWATCH_TEST_DATABASE_URL)",
}
# Exit codes other than 0 that the README states for a command.
EXPECTED_EXIT: dict[str, int] = {}


def sh_blocks(text: str) -> list[tuple[int, list[str]]]:
    """The ```sh blocks: (line number of the fence, lines), continuation lines joined."""
    blocks: list[tuple[int, list[str]]] = []
    for m in re.finditer(r"^```sh\n(.*?)^```$", text, re.DOTALL | re.MULTILINE):
        lines: list[str] = []
        pending = ""
        for raw in m.group(1).splitlines():
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1] + " "
                continue
            lines.append(pending + raw)
            pending = ""
        blocks.append((text.count("\n", 0, m.start()) + 1, [x for x in lines if x.strip()]))
    return blocks


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _blocks(page: Path = README) -> list[tuple[int, list[str]]]:
    return sh_blocks(page.read_text(encoding="utf-8"))


def _skip_of(lines: list[str]) -> str | None:
    return next((why for key, why in SKIPPED.items() if any(key in x for x in lines)), None)


# The pages with a block to run: one test each (a page without one has nothing to check here).
RUN_PAGES = [p for p in PAGES if any(_skip_of(lines) is None for _, lines in _blocks(p))]
# The README on both databases; the manual's pages on SQLite (each page seeds a database of its
# own, about 4 s: every command's PostgreSQL side is tested by its own tests).
RUNS = [
    pytest.param(page, db, id=f"{db}-{_name(page)}")
    for page in RUN_PAGES
    for db in (("sqlite", "postgresql") if page == README else ("sqlite",))
]


def test_the_readme_and_the_manual_have_command_blocks_each_run_or_skipped_with_a_reason() -> None:
    readme = _blocks()
    assert len(readme) >= 4
    assert len([x for _, lines in readme for x in lines if "trialwatch " in x]) >= 10
    every = [(page, lines) for page in PAGES for _, lines in _blocks(page)]
    assert len([x for _, lines in every for x in lines if "trialwatch " in x]) >= 60
    for page, lines in every:
        if _skip_of(lines) is not None:
            continue  # the reason covers the whole block
        for line in lines:
            words = shlex.split(line, comments=True)
            known = not words or words[0] == "export" or words[0].endswith("trialwatch")
            assert known, f"{_name(page)}: command not run by tests/test_readme.py: {line}"
    assert {_name(p) for p in RUN_PAGES} >= {"README.md", "docs/getting-started.md"}


def _seed(cli, fake_ctgov) -> None:  # type: ignore[no-untyped-def]
    """A registry with the README's trials and similar studies, and a database where
    NCT07366658 has three polled versions (over 43 changes: `ack 42 43` finds them)."""
    cli.write_config((ROOT / "config.toml").read_text(encoding="utf-8"))
    for study in all_studies():
        fake_ctgov.put(with_last_update(study, "2025-05-01"))
    assert cli("sync").exit_code == 0
    for day, first in (("2025-09-01", 0), ("2026-11-20", 25)):
        study = fake_ctgov.get(NEUK)
        for i in range(first, first + 25):
            study = with_site(study, f"Site {i}", "Houston", "United States")
        fake_ctgov.put(with_last_update(study, day))
        fake_ctgov.bump()
        # --full: these last-update dates are older than the fake registry's data date.
        assert cli("sync", "--full").exit_code == 0
    assert cli("history", NEUK, "--json").json()[-1]["version"] == 3


def _run_line(cli, where: str, line: str, env: dict[str, str], cwd: Path) -> None:  # type: ignore[no-untyped-def]
    words = shlex.split(line, comments=True)
    if not words:
        return
    if words[0] == "export":
        name, _, value = words[1].partition("=")
        env[name] = value
        return
    assert words[0].endswith("trialwatch"), line
    old_env, old_cwd = cli.env, Path.cwd()
    cli.env = {**cli.env, **env}
    os.chdir(cwd)  # relative --out files land in the test's folder
    try:
        r = cli(*words[1:])
    finally:
        os.chdir(old_cwd)
        cli.env = old_env
    expected = next((code for cmd, code in EXPECTED_EXIT.items() if cmd in line), 0)
    assert r.exit_code == expected, f"{where}: {line}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize(("page", "db_url"), RUNS, indirect=["db_url"])
def test_every_block_runs(cli, fake_ctgov, tmp_path: Path, page: Path) -> None:  # type: ignore[no-untyped-def]
    _seed(cli, fake_ctgov)
    ran = 0
    for start, lines in _blocks(page):
        if _skip_of(lines) is not None:
            continue
        env: dict[str, str] = {}
        for line in lines:
            _run_line(cli, f"{_name(page)}:{start}", line, env, tmp_path)
            ran += 1
            # What a command says it writes is there: a file, or a directory of tables.
            words = shlex.split(line, comments=True)
            out = words[words.index("--out") + 1] if "--out" in words else None
            if out is not None:
                written = (tmp_path / out).read_text(encoding="utf-8")
                if out.endswith(".html"):
                    assert written.lower().startswith("<!doctype html>"), line
    assert ran >= 1


@pytest.mark.parametrize("key", sorted(SKIPPED))
def test_every_skip_still_matches_a_block(key: str) -> None:
    blocks = [lines for page in PAGES for _, lines in _blocks(page)]
    assert any(key in line for lines in blocks for line in lines), key
