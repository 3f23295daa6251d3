"""Exports that cannot lose data, cheaply: the behaviours tests/chaos/test_export.py attacks in
other processes (foreign targets refused unless --force, a folder swapped in whole, scratch
cleaned, a full disk said so), in-process on a small SQLite database, for every CI run."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from models import db as dbm
from sync.report import export
from sync.report import export_target as places
from tests.chaos.export import (
    World,
    fill_up,
    read_dir,
    read_file,
    reference,
    scratch_beside,
    small_disk,
    world,
)
from tests.support.fixtures import Cli, registry_env

STUDIES, SITES = 4, 2


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    """A SQLite database in state A (a few tracked studies, a watch event) and its registry."""
    engine = dbm.make_engine(f"sqlite:///{tmp_path / 'trialwatch.db'}")
    dbm.upgrade(engine)
    with world(engine, tmp_path) as found:
        found.state_a(studies=STUDIES, sites=SITES)
        yield found
    engine.dispose()


def _cli(w: World, tmp_path: Path) -> Cli:
    config = tmp_path / "cli.toml"
    config.write_text("", encoding="utf-8")
    env = {
        "TRIALWATCH_CONFIG": str(config),
        "TRIALWATCH_DATABASE_URL": w.engine.url.render_as_string(hide_password=False),
        **registry_env(w.fake),
    }
    return Cli(env, config)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(result: Any) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [x for x in result.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def _csv_renamed(path: Path) -> None:
    path.write_text("nct_id,note\nNCT00000001,mine\n" * 50, encoding="utf-8")


def _other_duckdb(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE budget AS SELECT range AS id FROM range(50)")


# -- targets that are not trialwatch exports ---------------------------------------------------


@pytest.mark.parametrize("make", [_csv_renamed, _other_duckdb], ids=["csv", "duckdb"])
def test_a_foreign_file_is_refused_in_one_line_and_left_as_it_was(
    w: World, tmp_path: Path, make: Any
) -> None:
    target = tmp_path / "mine.duckdb"
    make(target)
    before = _digest(target)
    line = _one_line(_cli(w, tmp_path)("export", str(target)))
    assert "not a trialwatch export" in line and "--force" in line
    assert _digest(target) == before and scratch_beside(target) == []


def test_force_replaces_a_foreign_file_with_a_whole_export(w: World, tmp_path: Path) -> None:
    target = tmp_path / "mine.duckdb"
    _other_duckdb(target)
    r = _cli(w, tmp_path)("export", str(target), "--force")
    assert r.exit_code == 0, r.stderr
    assert read_file(target) == reference(w.engine, tmp_path / "ref", as_file=True)
    with duckdb.connect(str(target), read_only=True) as con:
        names = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    assert "budget" not in names and places.MARKER_TABLE in names


def test_since_into_a_foreign_file_points_elsewhere_not_at_a_full_export(
    w: World, tmp_path: Path
) -> None:
    target = tmp_path / "mine.duckdb"
    _other_duckdb(target)
    before = _digest(target)
    line = _one_line(_cli(w, tmp_path)("export", str(target), "--since", "2026-01-01"))
    assert "another path" in line and "export everything" not in line
    assert _digest(target) == before


def test_a_folder_of_other_files_is_refused_then_replaced_with_force(
    w: World, tmp_path: Path
) -> None:
    target = tmp_path / "papers"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    cli = _cli(w, tmp_path)
    assert "(files notes.txt)" in _one_line(cli("export", str(target)))
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert cli("export", str(target), "--force").exit_code == 0
    assert read_dir(target) == reference(w.engine, tmp_path / "ref", as_file=False)
    assert not (target / "notes.txt").exists()


def test_an_export_with_tables_of_someone_else_is_refused(w: World, tmp_path: Path) -> None:
    target = tmp_path / "history.duckdb"
    export.export(w.engine, target)
    with duckdb.connect(str(target)) as con:
        con.execute("CREATE TABLE my_notes AS SELECT 1 AS x")
    with pytest.raises(export.ExportError, match=r"tables trialwatch did not write \(my_notes\)"):
        export.export(w.engine, target)
    # A merge (--since) leaves the others' tables alone: allowed.
    export.export(w.engine, target, sel=export.Selection(since=export.parse_since("2026-01-01")))
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("SELECT x FROM my_notes").fetchall() == [(1,)]


def test_its_own_exports_are_rewritten_without_force(w: World, tmp_path: Path) -> None:
    file, folder = tmp_path / "h.duckdb", tmp_path / "tables"
    for _ in range(2):
        export.export(w.engine, file)
        export.export(w.engine, folder)
    w.state_b()
    export.export(w.engine, file)
    export.export(w.engine, folder)
    assert read_file(file) == reference(w.engine, tmp_path / "b", as_file=True)
    assert read_dir(folder) == reference(w.engine, tmp_path / "b", as_file=False)
    assert scratch_beside(file) == [] and scratch_beside(folder) == []


# -- a folder appears whole or not at all ------------------------------------------------------


def _fail_on_table(monkeypatch: pytest.MonkeyPatch, nth: int) -> None:
    copy = export._copy_table
    done: list[str] = []

    def failing(con: Any, name: str, path: Path, fmt: str) -> None:
        if len(done) == nth:
            raise OSError(errno.EIO, "Input/output error (test)", str(path))
        copy(con, name, path, fmt)
        done.append(name)

    monkeypatch.setattr(export, "_copy_table", failing)


def test_a_folder_export_failing_mid_tables_leaves_the_old_folder_whole(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out" / "tables"
    export.export(w.engine, target)
    old = read_dir(target)
    w.state_b()
    _fail_on_table(monkeypatch, 3)  # trials, versions, changes written; sites fails
    with pytest.raises(export.ExportError, match="cannot write"):
        export.export(w.engine, target)
    assert read_dir(target) == old
    assert sorted(os.listdir(target.parent)) == ["tables"]


def test_where_the_atomic_exchange_is_unsupported_the_swap_still_ends_whole(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out" / "tables"
    export.export(w.engine, target)
    w.state_b()

    def unsupported(a: Path, b: Path) -> None:
        raise OSError(errno.EINVAL, "RENAME_EXCHANGE unsupported (test)")

    monkeypatch.setattr(places, "exchange", unsupported)
    export.export(w.engine, target)
    assert read_dir(target) == reference(w.engine, tmp_path / "b", as_file=False)
    assert sorted(os.listdir(target.parent)) == ["tables"]


def test_a_file_export_failing_leaves_the_old_file_and_no_scratch(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "history.duckdb"
    export.export(w.engine, target)
    before = _digest(target)
    w.state_b()

    def failing(*args: Any) -> None:
        raise duckdb.IOException("IO Error: could not write (test)")

    monkeypatch.setattr(export, "_create_views", failing)
    with pytest.raises(export.ExportError, match="cannot write"):
        export.export(w.engine, target)
    assert _digest(target) == before and scratch_beside(target) == []


# -- scratch left by killed exports ------------------------------------------------------------


def _dead_pid() -> int:
    """The id of a process that has ended."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_scratch_of_dead_exports_is_removed_and_a_live_ones_kept(w: World, tmp_path: Path) -> None:
    target = tmp_path / "tables"
    dead, live = _dead_pid(), os.getppid()
    (tmp_path / f".tables.trialwatch-new-{dead}").mkdir()
    (tmp_path / f".tables.trialwatch-new-{dead}" / "trials.parquet").write_bytes(b"x" * 4096)
    (tmp_path / f".tables.trialwatch-tmp-{dead}.duckdb").write_bytes(b"x" * 4096)
    (tmp_path / f".tables.trialwatch-spill-{dead}").mkdir()
    (tmp_path / f".tables.trialwatch-new-{live}").mkdir()
    export.export(w.engine, target)
    assert scratch_beside(target) == [f".tables.trialwatch-new-{live}"]
    assert read_dir(target) == reference(w.engine, tmp_path / "ref", as_file=False)


def test_a_folder_left_aside_by_a_killed_swap_is_put_back_first(w: World, tmp_path: Path) -> None:
    target = tmp_path / "tables"
    export.export(w.engine, target)
    old = read_dir(target)
    aside = tmp_path / f".tables.trialwatch-old-{_dead_pid()}"
    os.rename(target, aside)  # as a kill between the two renames leaves it
    assert places.clean(target) == []
    assert read_dir(target) == old and not aside.exists()


# -- a full disk -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["file", "folder"])
def test_a_full_disk_says_so_and_keeps_the_old_export(w: World, tmp_path: Path, shape: str) -> None:
    with small_disk(tmp_path / "disk", size="2m") as disk:
        target = disk / ("history.duckdb" if shape == "file" else "tables")
        cli = _cli(w, tmp_path)
        assert cli("export", str(target)).exit_code == 0
        old = read_file(target) if shape == "file" else read_dir(target)
        w.state_b()
        fill_up(disk, 0)
        line = _one_line(cli("export", str(target)))
        assert "no space left on the device" in line and "is unchanged" in line
        assert "Out of Memory" not in line
        assert (read_file(target) if shape == "file" else read_dir(target)) == old
        assert scratch_beside(target) == []
