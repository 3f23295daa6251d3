"""`make test` sets itself up: .ci/prereqs installs Debian's chromium and openssl as root, and
otherwise stops with one line saying what to install. The real chromium stays installed: the
script is pointed at a missing path, and `id` and `apt-get` are stand-ins on PATH that record
what they were asked."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT as ROOT

PREREQS = ROOT / ".ci" / "prereqs"


def _tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _run(
    tmp_path: Path, *, uid: int, apt_works: bool = True
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    chromium = tmp_path / "chromium"
    log = tmp_path / "apt.log"
    _tool(bin_dir, "id", f'[ "$1" = -u ] && echo {uid}')
    # The stand-in apt-get "installs" chromium where the script looks for it.
    install = f"touch {chromium}; chmod +x {chromium}" if apt_works else "exit 100"
    _tool(bin_dir, "apt-get", f'echo "$@" >> {log}\ncase "$*" in *install*) {install};; esac')
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TRIALWATCH_CHROMIUM": str(chromium),
    }
    done = subprocess.run(
        ["bash", str(PREREQS)], capture_output=True, text=True, env=env, timeout=30
    )
    return done, chromium, log


def test_not_root_stops_with_one_line_saying_what_to_install(tmp_path: Path) -> None:
    done, chromium, log = _run(tmp_path, uid=1000)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: the tests need chromium: run 'apt-get install chromium' as root (Debian), "
        "then make test again"
    ]
    assert not log.exists() and not chromium.exists()


def test_root_installs_what_is_missing(tmp_path: Path) -> None:
    done, chromium, log = _run(tmp_path, uid=0)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]
    assert chromium.exists()


def test_root_with_a_failing_install_stops(tmp_path: Path) -> None:
    done, chromium, _ = _run(tmp_path, uid=0, apt_works=False)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("error: apt-get install chromium failed")


def test_nothing_missing_does_nothing(tmp_path: Path) -> None:
    chromium = tmp_path / "chromium"
    chromium.write_text("")
    chromium.chmod(0o755)
    env = {**os.environ, "TRIALWATCH_CHROMIUM": str(chromium)}
    done = subprocess.run(["bash", str(PREREQS)], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("target", ["test", "chaos"])
def test_make_runs_the_prerequisites_before_the_tests(target: str) -> None:
    done = subprocess.run(
        ["make", "-n", target], capture_output=True, text=True, cwd=ROOT, timeout=30
    )
    lines = done.stdout.splitlines()
    prereq = next(i for i, line in enumerate(lines) if ".ci/prereqs" in line)
    pytest_line = next(i for i, line in enumerate(lines) if "pytest" in line)
    assert prereq < pytest_line


def test_ci_adds_nothing_but_postgresql() -> None:
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "apt-get" not in text and "chromium" not in text
    assert text.rstrip().endswith("make test")
