"""trialwatch as a user gets it: the sdist and wheel built from a copy of the tree, installed into
a fresh venv outside it, run from an empty folder with nothing of the checkout on its path.

Built and installed once per test session, whatever the number of xdist workers (a file lock on
the session's shared temporary folder): the venv takes half a minute, its dependencies from the
package index through pip's cache as usual.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 600


def tree_files(root: Path = ROOT) -> list[str]:
    """The tree as a fresh clone has it, plus files not committed yet (not the ignored ones)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return sorted({p for p in out.decode().split("\0") if p and os.path.lexists(root / p)})


def copy_tree(dest: Path, files: list[str], root: Path = ROOT) -> Path:
    """Copy files (links stay links: models/migrations is one) into dest."""
    for rel in files:
        src, dst = root / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)
    return dest


def clean_env(home: Path, venv: Path | None = None, **extra: str) -> dict[str, str]:
    """A user's environment: no PYTHONPATH, no project venv, no TRIALWATCH_* of the caller."""
    path = "/usr/local/bin:/usr/bin:/bin"
    env = {
        "PATH": f"{venv / 'bin'}:{path}" if venv else path,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    # pip's own settings (index, cache, certificates) are the machine's, as a user's would be.
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    env.update(extra)
    return env


def run(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
            f"stderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def pip_env() -> dict[str, str]:
    """pip with the caller's HOME (its cache and configuration), nothing of the project venv."""
    return clean_env(Path(os.environ.get("HOME", "/root")))


def make_venv(path: Path) -> Path:
    """A fresh venv of the base interpreter (not the project's venv), with its own pip."""
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", str(path)], cwd=path.parent, env=pip_env())
    return path


def pip_install(venv: Path, *targets: str, cwd: Path) -> None:
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *targets],
        cwd=cwd, env=pip_env(), timeout=BUILD_TIMEOUT)  # fmt: skip


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path
    venv: Path  # the wheel installed, with its dependencies

    @property
    def trialwatch(self) -> str:
        return str(self.venv / "bin" / "trialwatch")


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's temporary folder every xdist worker shares."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_and_install(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = shared_dir(tmp_path_factory) / "outside"
    root.mkdir(exist_ok=True)
    done = root / "built.json"
    with FileLock(str(root / "build.lock")):
        if done.exists():
            info = json.loads(done.read_text())
            return Built(Path(info["sdist"]), Path(info["wheel"]), Path(info["venv"]))
        src = copy_tree(root / "src", tree_files())
        dist = root / "dist"
        # build: the sdist, then the wheel from the unpacked sdist (so the sdist is complete).
        run([sys.executable, "-m", "build", "--outdir", str(dist), str(src)],
            cwd=root, env=pip_env(), timeout=BUILD_TIMEOUT)  # fmt: skip
        (sdist,), (wheel,) = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
        venv = make_venv(root / "venv")
        pip_install(venv, str(wheel), cwd=root)
        done.write_text(json.dumps({"sdist": str(sdist), "wheel": str(wheel), "venv": str(venv)}))
        return Built(sdist, wheel, venv)
