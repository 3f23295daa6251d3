"""The wheel is the product: built from the tree, installed into a fresh venv outside it, and run
from an empty folder on SQLite (the default database location) and on PostgreSQL against the fake
registry: db upgrade, add, sync, list, history, diff, digest, export, serve, daemon --once."""

from __future__ import annotations

import json
import signal
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from sync.testing.factory import make_study, nct, with_last_update, with_status
from tests.outside.installed import ROOT, Built, build_and_install, clean_env, run
from tests.support.fixtures import registry_env, reset_pg


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_and_install(tmp_path_factory)


def _product_inits() -> set[str]:
    """The __init__.py of every package of the tree but the test support."""
    inits = {str(p.relative_to(ROOT)) for top in ("sync", "models") for p in (ROOT / top).rglob("__init__.py")}  # noqa: E501
    return {p for p in inits if not p.startswith("sync/testing/")}


def test_wheel_holds_the_product_and_nothing_else(built: Built) -> None:
    names = set(zipfile.ZipFile(built.wheel).namelist())
    tops = {n.split("/")[0] for n in names}
    assert tops == {"models", "sync", f"{built.wheel.name.split('-py3')[0]}.dist-info"}
    # The migrations, under the package (never a top-level `alembic`, the library's name).
    versions = {p.name for p in (ROOT / "alembic" / "versions").glob("*.py")}
    assert versions and {f"models/migrations/versions/{v}" for v in versions} <= names
    assert {"models/migrations/env.py", "models/migrations/script.py.mako"} <= names
    # Every package, template and data file read at run time; no test support.
    data = [
        *(ROOT / "sync" / "report" / "templates").iterdir(),
        *(ROOT / "sync" / "web" / "templates").iterdir(),
        *(ROOT / "sync" / "web" / "static").iterdir(),
        ROOT / "sync" / "watches" / "similar_vocabulary.toml",
    ]
    missing = ({str(p.relative_to(ROOT)) for p in data} | _product_inits()) - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    assert not [n for n in names if n.startswith(("sync/testing", "tests/", "bench/"))]

    sdist = {n.split("/", 1)[1] for n in tarfile.open(built.sdist).getnames() if "/" in n}
    assert {f"models/migrations/versions/{v}" for v in versions} <= sdist
    assert not [n for n in sdist if n.startswith(("sync/testing", "tests/", "bench/"))]


def test_installed_imports_nothing_of_the_checkout(built: Built, tmp_path: Path) -> None:
    code = (
        "import importlib.util, sync, models.db as d; "
        "print(sync.__file__); print(d.migrations_dir()); "
        "print(importlib.util.find_spec('sync.testing'))"
    )
    python = str(built.venv / "bin" / "python")
    out = run([python, "-c", code], cwd=tmp_path, env=clean_env(tmp_path, built.venv))
    pkg, migrations, testing = out.stdout.splitlines()
    site = str(built.venv / "lib")
    assert pkg.startswith(site) and migrations.startswith(site), out.stdout
    assert Path(migrations, "env.py").is_file() and testing == "None"


class Installed:
    """The installed trialwatch, run from an empty folder with a home of its own."""

    def __init__(self, built: Built, tmp: Path, fake, extra: dict[str, str]) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
        self.built = built
        self.cwd = tmp / "empty"
        self.home = tmp / "home"
        self.cwd.mkdir()
        self.home.mkdir()
        self.env = clean_env(self.home, built.venv, **registry_env(fake), **extra)

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = run([self.built.trialwatch, *args], cwd=self.cwd, env=self.env, check=False)
        assert proc.returncode == code, (
            f"trialwatch {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def json(self, *args: str):  # type: ignore[no-untyped-def]
        return json.loads(self(*args, "--json").stdout)


def _serve_once(tw: Installed, trial: str) -> None:
    """`serve` on a free port: a page and a feed answered, then SIGTERM stops it with 0."""
    proc = subprocess.Popen(
        [tw.built.trialwatch, "serve", "--port", "0", "--json"],
        cwd=tw.cwd, env=tw.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            text += line
            if line.startswith("}"):
                break
        assert text, f"serve printed nothing: {proc.stderr.read() if proc.stderr else ''}"
        url = json.loads(text)["url"]
        page = httpx.get(f"{url}/trials/{trial}", timeout=10)
        assert page.status_code == 200 and trial in page.text
        feed = httpx.get(f"{url}/feeds/changes.atom", timeout=10)
        assert feed.status_code == 200 and "<feed" in feed.text and trial in feed.text
        static = httpx.get(f"{url}/static/app.css", timeout=10)
        assert static.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_installed_wheel_from_an_empty_folder(
    backend: str, built: Built, fake_ctgov, tmp_path: Path, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    extra: dict[str, str] = {}
    if backend == "postgresql":
        url = request.getfixturevalue("pg_database")
        reset_pg(url)
        extra["TRIALWATCH_DATABASE_URL"] = url
    tw = Installed(built, tmp_path, fake_ctgov, extra)
    one, two = nct(1), nct(2)
    fake_ctgov.put(make_study(one))
    fake_ctgov.put(make_study(two))

    assert tw("--version").stdout.startswith("trialwatch ")
    upgraded = tw("db", "upgrade").stdout
    assert "database at 0" in upgraded and "was empty" in upgraded
    if backend == "sqlite":
        # No config, no URL: the XDG data folder of the user, and the command says so.
        db_file = tw.home / ".local" / "share" / "trialwatch" / "trialwatch.db"
        # A long path is folded to the width: read it with the folds undone.
        assert str(db_file) in "".join(upgraded.split()) and db_file.is_file()
    # The folder it was run from stays empty, and is not named.
    assert str(tw.cwd) not in "".join(upgraded.split()) and not list(tw.cwd.iterdir())

    assert "added" in tw("add", one, two).stdout
    first = tw.json("sync")
    assert first["outcome"] == "ok" and first["new_versions"] == 2
    fake_ctgov.put(with_last_update(with_status(fake_ctgov.get(one), "COMPLETED"), "2026-11-30"))
    fake_ctgov.bump()
    second = tw.json("sync")
    assert second["outcome"] == "ok" and second["new_versions"] == 1

    listed = {r["nct_id"]: r for r in tw.json("list")}
    assert listed[one]["latest_version"] == 2 and listed[two]["latest_version"] == 1
    history = tw("history", one).stdout
    assert "v2" in history and "COMPLETED" in history
    assert "COMPLETED" in json.dumps(tw.json("diff", one))
    digest = tw("digest", "--since", "30d").stdout
    assert one in digest

    exported = tmp_path / "export.duckdb"
    tw("export", str(exported))
    import duckdb

    with duckdb.connect(str(exported), read_only=True) as con:
        assert con.execute("select count(*) from trials").fetchone() == (2,)
    tw("export", str(tmp_path / "tables"))
    assert (tmp_path / "tables" / "trials.parquet").is_file()

    _serve_once(tw, one)

    fake_ctgov.put(with_last_update(with_status(fake_ctgov.get(two), "COMPLETED"), "2026-12-01"))
    fake_ctgov.bump()
    daemon = tw("daemon", "--once")
    # Two syncs and two exports (exports are runs) came before: the daemon's sync is run 5.
    assert "sync run 5 ok" in daemon.stderr and "one cycle done" in daemon.stderr
    status = tw.json("status")
    assert status["daemon"]["state"] == "stopped"
    last = status["runs"][0]
    assert (last["trigger"], last["outcome"], last["new_versions"]) == ("daemon", "ok", 1)
    if backend == "sqlite":
        assert status["database"] == f"sqlite:///{db_file}"
