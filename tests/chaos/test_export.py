"""Exports that cannot lose data: foreign targets, SIGKILL mid-export, a full disk under it."""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sync.report import export_target as places
from sync.store.runs import ENDED
from tests.chaos import procs
from tests.chaos.export import (
    STUDIES,
    fill_up,
    read_dir,
    read_file,
    reference,
    scratch_beside,
    size_of,
    small_disk,
    which,
    world,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("kind_engine", ["sqlite"], indirect=True),
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _foreign(path: Path, kind: str) -> None:
    if kind == "a CSV renamed":
        path.write_text("nct_id,note\nNCT00000001,mine\n" * 2000, encoding="utf-8")
    else:
        with duckdb.connect(str(path)) as con:
            con.execute("CREATE TABLE budget AS SELECT range AS id FROM range(5000)")
            con.execute("CREATE TABLE trials (nct_id VARCHAR, note VARCHAR)")


def _one_line(stderr: str) -> str:
    lines = [x for x in stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- targets that are not trialwatch exports ---------------------------------------------------


@pytest.mark.parametrize("kind", ["a CSV renamed", "another DuckDB database"])
@pytest.mark.parametrize("force", [False, True])
def test_full_export_onto_a_foreign_file(
    kind_engine: Any, tmp_path: Path, record_property: Any, kind: str, force: bool
) -> None:
    with world(kind_engine, tmp_path) as w:
        w.state_a()
        target = tmp_path / "out" / "mine.duckdb"
        target.parent.mkdir()
        _foreign(target, kind)
        before = _digest(target)
        done = procs.run(["export", str(target), *(["--force"] if force else [])], w.env())
        if force:
            assert done.code == 0, done.stderr
            assert read_file(target) == reference(kind_engine, tmp_path, as_file=True)
            outcome = "replaced by the export"
        else:
            assert done.code == 2, (done.code, done.stderr)
            line = _one_line(done.stderr)
            assert "not a trialwatch export" in line and "--force" in line, line
            assert _digest(target) == before
            outcome = "untouched"
        assert scratch_beside(target) == []
    record_property(
        "chaos",
        {
            "table": "export",
            "attack": f"full export onto {kind}" + (" --force" if force else ""),
            "exit": done.code,
            "target after": outcome,
            "scratch left": 0,
        },
    )


@pytest.mark.parametrize("kind", ["a CSV renamed", "another DuckDB database"])
def test_since_into_a_foreign_file(
    kind_engine: Any, tmp_path: Path, record_property: Any, kind: str
) -> None:
    with world(kind_engine, tmp_path) as w:
        w.state_a()
        target = tmp_path / "mine.duckdb"
        _foreign(target, kind)
        before = _digest(target)
        done = procs.run(["export", str(target), "--since", "2026-01-01"], w.env())
        assert done.code == 2, (done.code, done.stderr)
        line = _one_line(done.stderr)
        # Not "export everything to it first": that would destroy it.
        assert "another path" in line and "export everything" not in line, line
        assert _digest(target) == before
    record_property(
        "chaos",
        {
            "table": "export",
            "attack": f"--since into {kind}",
            "exit": done.code,
            "target after": "untouched",
            "scratch left": 0,
        },
    )


def test_a_folder_of_other_files(kind_engine: Any, tmp_path: Path, record_property: Any) -> None:
    with world(kind_engine, tmp_path) as w:
        w.state_a()
        target = tmp_path / "papers"
        target.mkdir()
        (target / "notes.txt").write_text("mine", encoding="utf-8")
        done = procs.run(["export", str(target)], w.env())
        assert done.code == 2, done.stderr
        assert "(files notes.txt)" in _one_line(done.stderr)
        assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    record_property(
        "chaos",
        {
            "table": "export",
            "attack": "folder export onto a folder of other files",
            "exit": done.code,
            "target after": "untouched",
            "scratch left": 0,
        },
    )


# -- SIGKILL mid-export ------------------------------------------------------------------------

DIR_POINTS = [
    "export_batch:1",
    "export_batch:4",
    "export_table:1",
    "export_table:2",
    "export_table:4",
    "export_table:5",
    "export_swap:1",
    "export_aside:1",
    "export_in:1",
]


@pytest.mark.parametrize("point", DIR_POINTS)
def test_kill_a_folder_export(
    kind_engine: Any, tmp_path: Path, record_property: Any, point: str
) -> None:
    with world(kind_engine, tmp_path) as w:
        w.state_a()
        target = tmp_path / "out" / "tables"
        old = reference(kind_engine, tmp_path / "a", as_file=False)
        assert procs.run(["export", str(target)], w.env()).code == 0
        w.state_b()
        new = reference(kind_engine, tmp_path / "b", as_file=False)
        done = procs.run(["export", str(target)], w.env(TW_KILL_AT=point))
        assert done.code == -signal.SIGKILL, (done.code, done.stderr[-2000:])
        after = which(read_dir(target) if target.exists() else None, old, new)
        left = scratch_beside(target)
        left_bytes = size_of([target.parent / n for n in left])
        if after == "absent":
            # Killed between the two renames (no RENAME_EXCHANGE): the old folder is aside,
            # whole, and the next export (or a reader's `clean`) puts it back first.
            assert point == "export_aside:1", left
            places.clean(target)
            after = "absent, old whole put back: " + which(read_dir(target), old, new)
            assert after.endswith("old whole")
        else:
            assert after in ("old whole", "new whole"), after
        rerun = procs.run(["export", str(target)], w.env())
        assert rerun.code == 0, rerun.stderr
        assert read_dir(target) == new
        assert scratch_beside(target) == [], scratch_beside(target)
        assert sorted(p.name for p in target.parent.iterdir()) == ["tables"]
    record_property(
        "chaos",
        {
            "table": "export",
            "attack": f"kill a folder export at {point}",
            "exit": "SIGKILL",
            "target after": after,
            "scratch left": f"{len(left)} ({left_bytes:,} B), removed by the next",
        },
    )


@pytest.mark.parametrize(
    ("point", "since"),
    [("export_batch:1", False), ("export_batch:4", False), ("export_batch:2", True)],
)
def test_kill_a_file_export(
    kind_engine: Any, tmp_path: Path, record_property: Any, point: str, since: bool
) -> None:
    with world(kind_engine, tmp_path) as w:
        w.state_a()
        target = tmp_path / "out" / "history.duckdb"
        old = reference(kind_engine, tmp_path / "a", as_file=True)
        assert procs.run(["export", str(target)], w.env()).code == 0
        w.state_b()
        new = reference(kind_engine, tmp_path / "b", as_file=True)
        args = ["export", str(target), *(["--since", "2026-01-01"] if since else [])]
        done = procs.run(args, w.env(TW_KILL_AT=point))
        assert done.code == -signal.SIGKILL, (done.code, done.stderr[-2000:])
        after = which(read_file(target), old, new)
        assert after == "old whole", after
        left = scratch_beside(target)
        left_bytes = size_of([target.parent / n for n in left])
        rerun = procs.run(args, w.env())
        assert rerun.code == 0, rerun.stderr
        assert read_file(target) == new
        assert scratch_beside(target) == [], scratch_beside(target)
    record_property(
        "chaos",
        {
            "table": "export",
            "attack": f"kill a {'--since ' if since else ''}file export at {point}",
            "exit": "SIGKILL",
            "target after": after,
            "scratch left": f"{len(left)} ({left_bytes:,} B), removed by the next",
        },
    )


# -- a full disk -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["file", "--since file", "folder"])
@pytest.mark.parametrize("leave", [0, 64 * 1024])
def test_full_disk_under_an_export(
    kind_engine: Any, tmp_path: Path, record_property: Any, shape: str, leave: int
) -> None:
    with world(kind_engine, tmp_path) as w, small_disk(tmp_path / "disk") as disk:
        w.state_a(studies=300, sites=20)  # an export of a few MB: more than the space left
        as_file = shape != "folder"
        target = disk / ("history.duckdb" if as_file else "tables")
        assert procs.run(["export", str(target)], w.env()).code == 0
        old = read_file(target) if as_file else read_dir(target)
        w.state_b()
        fill_up(disk, leave)
        args = ["export", str(target), *(["--since", "2026-01-01"] if "since" in shape else [])]
        done = procs.run(args, w.env())
        assert done.code == 2, (done.code, done.stdout, done.stderr[-2000:])
        line = _one_line(done.stderr)
        assert "no space left on the device" in line and "is unchanged" in line, line
        assert (read_file(target) if as_file else read_dir(target)) == old
        assert scratch_beside(target) == [], scratch_beside(target)
    record_property(
        "chaos",
        {
            "table": "export",
            "attack": f"full disk under a {shape} export ({leave // 1024} KiB free)",
            "exit": done.code,
            "target after": "old whole",
            "scratch left": 0,
        },
    )


def test_exports_are_runs(kind_engine: Any, tmp_path: Path, record_property: Any) -> None:
    """An export is a run of kind export: ok with what it wrote, failed with why it did not
    (a refused target), and one SIGKILLed mid-way is closed by the next run; `status` lists
    them all."""
    with world(kind_engine, tmp_path) as w:
        w.state_a()
        target = tmp_path / "out" / "all.duckdb"
        assert procs.run(["export", str(target)], w.env()).code == 0
        foreign = tmp_path / "out" / "theirs.duckdb"
        _foreign(foreign, "csv")
        refused = procs.run(["export", str(foreign)], w.env())
        assert refused.code == 2, refused.stderr
        killed = procs.run(["export", str(target)], w.env(TW_KILL_AT="export_batch:1"))
        assert killed.code == -signal.SIGKILL, killed.stderr[-2000:]
        assert procs.run(["export", str(target)], w.env()).code == 0
        status = procs.run(["status", "--json"], w.env())
        assert status.code == 0, status.stderr
    runs = [r for r in json.loads(status.stdout)["runs"] if r["kind"] == "export"][::-1]
    assert [r["outcome"] for r in runs] == ["ok", "failed", "failed", "ok"], runs
    ok, no, cut, again = runs
    assert ok["fetched"] == again["fetched"] == STUDIES and ok["finished"], ok
    assert no["errors"] == [_one_line(refused.stderr).removeprefix("error: ")], no["errors"]
    assert cut["errors"] == [ENDED] and cut["finished"], cut
    record_property(
        "chaos",
        {
            "table": "export",
            "attack": "exports as runs: ok, refused, SIGKILL, then again",
            "exit": "0, 2, SIGKILL, 0",
            "target after": "status: " + ", ".join(r["outcome"] for r in runs),
            "scratch left": "-",
        },
    )
