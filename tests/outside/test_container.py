"""The Containerfile's steps, run without a container engine: its instructions read from the file
and carried out in a folder that plays the image's root (absolute paths moved under it), with a
fresh venv of the base interpreter as the image's Python. Then the container runs as the recipe
says (the volume with a config.toml, the registry and a port given from outside): its CMD syncs,
serves the web app and stops on its STOPSIGNAL with exit code 0."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from sync.testing.factory import make_study, nct
from tests.outside.installed import ROOT, clean_env, copy_tree, make_venv, run, tree_files
from tests.support.fixtures import registry_env

WAIT = 90.0


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs; comments dropped, continued lines joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    ))  # fmt: skip
    return [
        (head.upper(), rest.strip())
        for head, _, rest in (line.strip().partition(" ") for line in joined.splitlines())
        if head
    ]


def context_files(root: Path = ROOT) -> list[str]:
    """The files `COPY .` takes: the tree's, less what .dockerignore leaves out (the last
    pattern that matches a path or one of its folders decides, as Docker and Podman read it)."""
    patterns = [
        p.strip() for p in (root / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.lstrip().startswith("#")
    ]  # fmt: skip

    def kept(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        keep = True
        for pat in patterns:
            negate, pat = pat.startswith("!"), pat.removeprefix("!")
            if any(fnmatch.fnmatchcase(p, pat) for p in prefixes):
                keep = negate
        return keep

    return [f for f in tree_files(root) if kept(f)]


def test_context_is_the_sources_only() -> None:
    files = context_files()
    assert "pyproject.toml" in files and "models/migrations" in files
    assert any(f.startswith("alembic/versions/") for f in files)
    assert not [f for f in files if f.startswith(("tests/", "bench/", ".venv", "data/", ".git/"))]


def test_containerfile_steps_build_and_run_the_daemon_and_web_app(
    tmp_path: Path, fake_ctgov
) -> None:  # type: ignore[no-untyped-def]
    steps = instructions((ROOT / "Containerfile").read_text())
    kinds = [k for k, _ in steps]
    assert kinds[0] == "FROM" and kinds[-1] == "CMD", kinds
    image = re.fullmatch(r"python:(\d+)\.(\d+)-slim", steps[0][1])
    assert image, steps[0][1]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low = tuple(int(x) for x in requires.removeprefix(">=").split("."))
    assert (int(image[1]), int(image[2])) >= low, f"{steps[0][1]} is older than {requires}"

    fs = tmp_path / "root"  # the image's file system
    fs.mkdir()

    def host(path: str) -> Path:
        return fs / path.lstrip("/")

    def moved(text: str) -> str:
        # Every absolute path in a step moves under the image's root.
        return re.sub(r"(?<![\w./-])/(?=[\w.])", f"{fs}/", text)

    python = make_venv(tmp_path / "image-python")
    # pip's cache and settings are the machine's (HOME), so the dependencies come as fast as for
    # the wheel test; the step's own `rm -rf /root/.cache/pip` acts on the image's root.
    env = clean_env(Path.home(), python)
    cwd, cmd, stop, volumes, ports = fs, None, "SIGTERM", [], []
    for kind, arg in steps[1:]:
        if kind == "COPY":
            src, dest = shlex.split(arg)
            assert src == ".", f"COPY {arg}: the test knows only COPY . DEST"
            copy_tree(host(dest), context_files())
        elif kind == "RUN":
            run(["sh", "-c", moved(arg)], cwd=cwd, env=env, timeout=600)
        elif kind == "ENV":
            for pair in shlex.split(arg):
                key, _, value = pair.partition("=")
                env[key] = moved(value)
        elif kind == "WORKDIR":
            cwd = host(arg)
            cwd.mkdir(parents=True, exist_ok=True)
        elif kind == "VOLUME":
            volumes += shlex.split(arg)
        elif kind == "EXPOSE":
            ports += [int(p.split("/")[0]) for p in shlex.split(arg)]
        elif kind == "STOPSIGNAL":
            stop = arg
        elif kind == "CMD":
            cmd = json.loads(arg)
        else:
            pytest.fail(f"the test does not know the instruction {kind}")
    assert cmd and volumes and ports == [8787]
    assert not host("/src").exists()  # the build context is not left in the image

    # `podman run -v /srv/trialwatch:/srv/trialwatch -e ...`: the user's folder with its config,
    # the registry (here the fake one) and, for the test, any free port instead of 8787.
    volume = host(volumes[0])
    volume.mkdir(parents=True, exist_ok=True)
    trial = nct(7)
    fake_ctgov.put(make_study(trial))
    (volume / "config.toml").write_text(f'trials = ["{trial}"]\n', encoding="utf-8")
    env.update(registry_env(fake_ctgov), TRIALWATCH_WEB__PORT="0")
    log = tmp_path / "container.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        url = _wait_for_log(proc, log, r"web app serving on (\S+)")
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        base = f"http://127.0.0.1:{port}"
        runs = _wait_for(
            proc, log, lambda: [r for r in _get_json(f"{base}/api/runs")["runs"]
                                if r["outcome"] == "ok"],  # fmt: skip
        )
        assert runs[0]["new_versions"] == 1
        page = httpx.get(f"{base}/trials/{trial}", timeout=10)
        assert page.status_code == 200 and trial in page.text
    finally:
        proc.send_signal(getattr(signal, stop))
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, log.read_text()
    assert (volume / "data" / "trialwatch.db").is_file()  # TRIALWATCH_DATA_DIR, in the volume
    assert "Traceback" not in log.read_text()


def _get_json(url: str):  # type: ignore[no-untyped-def]
    try:
        r = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return {"runs": []}
    return r.json() if r.status_code == 200 else {"runs": []}


def _wait_for(proc: subprocess.Popen[bytes], log: Path, predicate):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"the container's command exited ({proc.returncode}):\n{log.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"timed out:\n{log.read_text()}")


def _wait_for_log(proc: subprocess.Popen[bytes], log: Path, pattern: str) -> str:
    def found() -> str | None:
        m = re.search(pattern, log.read_text())
        return m.group(1) if m else None

    return str(_wait_for(proc, log, found))

