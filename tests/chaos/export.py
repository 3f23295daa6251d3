"""Export attacks: foreign targets, kills at the steps of an export, a full disk under it.

A database in state A is exported to the target (the old export); then it moves to state B
(a changed status and site, a new study, a new watch event: every table differs) and the
export under attack writes B. Afterwards the target must hold A whole or B whole, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy.engine import Engine
from sqlmodel import select

from models import Watch, WatchEvent
from models.db import session_scope
from sync.ingest.run import run_sync, track
from sync.report import export
from sync.report import export_target as places
from sync.report.export_sql import TABLES
from sync.testing.factory import make_study, nct, with_last_update, with_status
from sync.testing.fakectgov import FakeRegistry
from tests.chaos import harness, procs

STUDIES = 20
SITES = 5


# -- the kill switch's export points (installed by tests.chaos.killhook in the child) ------------


def install_hook(point: str, tick: Callable[[], None]) -> None:
    """Patch the export from outside so that `tick` runs at each occurrence of `point`."""
    from sync.report import export as ex

    # Before #22 the rows, the sinks and the per-table renames all lived in export.py: the
    # same points there, so that the attacks can be shown to break that code.
    rows: Any = ex
    with contextlib.suppress(ImportError):
        from sync.report import export_rows as rows

    if point == "export_batch":  # rows handed to the scratch DuckDB file
        flush = rows._Sink.flush

        def counted_flush(self: Any) -> None:
            had = bool(self.buffer)
            flush(self)
            if had:
                tick()

        rows._Sink.flush = counted_flush
    elif point == "export_table" and not hasattr(ex, "_copy_table"):  # a table renamed in
        replace = os.replace

        def counted_replace(a: Any, b: Any) -> None:
            replace(a, b)
            tick()

        ex.os.replace = counted_replace  # type: ignore[attr-defined]
    elif point == "export_table":  # a table's file written into the new folder
        copy = ex._copy_table

        def counted_copy(*args: Any) -> None:
            copy(*args)
            tick()

        ex._copy_table = counted_copy
    elif point == "export_swap":  # new and old exchanged; the old not yet removed
        exchange = places.exchange

        def counted_exchange(a: Path, b: Path) -> None:
            exchange(a, b)
            tick()

        places.exchange = counted_exchange
    else:  # export_aside, export_in: the two renames where the exchange is unsupported

        def unsupported(a: Path, b: Path) -> None:
            raise OSError(errno.EINVAL, "RENAME_EXCHANGE unsupported here (chaos)")

        rename = places.rename
        step = "-old-" if point == "export_aside" else "-new-"
        places.exchange = unsupported

        def counted_rename(a: Path, b: Path) -> None:
            rename(a, b)
            if step in (b.name if step == "-old-" else a.name):
                tick()

        places.rename = counted_rename


# -- the database and its two states ----------------------------------------------------------


def _study(
    i: int, *, status: str = "RECRUITING", extra_site: bool = False, sites_n: int = SITES
) -> dict[str, Any]:
    sites = [(f"Site {i}-{k}", "Paris", "France") for k in range(sites_n)]
    if extra_site:
        sites.append((f"Site {i}-new", "Lyon", "France"))
    return make_study(nct(i), status=status, sites=sites)


@dataclass
class World:
    engine: Engine
    fake: FakeRegistry
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        url = self.engine.url.render_as_string(hide_password=False)
        return procs.cli_env(self.fake, url, self.tmp, **extra)

    def state_a(self, studies: int = STUDIES, sites: int = SITES) -> None:
        with session_scope(self.engine) as s:
            track(s, [nct(i) for i in range(1, studies + 1)])
            watch = Watch(name="exports", params={"term": "x"})
            s.add(watch)
            s.flush()
            s.add(
                WatchEvent(
                    watch_id=watch.id, nct_id=nct(1), event="entered", reason="r", summary="x"
                )
            )
        for i in range(1, studies + 1):
            self.fake.put(_study(i, sites_n=sites))
        self._sync()

    def state_b(self) -> None:
        changed = with_status(_study(2, extra_site=True), "SUSPENDED")
        self.fake.put(with_last_update(changed, "2026-11-02"))
        self.fake.put(_study(1000))
        with session_scope(self.engine) as s:
            track(s, [nct(1000)])
            watch = s.exec(select(Watch).where(Watch.name == "exports")).one()
            s.add(
                WatchEvent(watch_id=watch.id, nct_id=nct(3), event="left", reason="r", summary="x")
            )
        self._sync(full=True)

    def _sync(self, full: bool = False) -> None:
        self.fake.bump()
        with harness.make_client(self.fake) as client:
            assert run_sync(self.engine, client, full=full).outcome == "ok"


@contextmanager
def world(engine: Engine, tmp: Path) -> Iterator[World]:
    from sync.testing.fakectgov import serve

    with serve() as fake:
        yield World(engine, fake, tmp)


# -- what a reader finds ------------------------------------------------------------------------


Tables = dict[str, list[tuple[Any, ...]]]


def read_dir(folder: Path, fmt: str = "parquet") -> Tables:
    con = duckdb.connect()
    try:
        source = "read_parquet" if fmt == "parquet" else "read_csv_auto"
        return {
            t: sorted(
                con.execute(f"SELECT * FROM {source}('{folder / f'{t}.{fmt}'}')").fetchall(),
                key=repr,
            )
            for t in TABLES
        }
    finally:
        con.close()


def read_file(path: Path) -> Tables:
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def reference(engine: Engine, where: Path, as_file: bool) -> Tables:
    """What a clean export of the database's present state holds."""
    target = where / ("ref.duckdb" if as_file else "ref")
    export.export(engine, target)
    return read_file(target) if as_file else read_dir(target)


def which(found: Tables | None, old: Tables, new: Tables) -> str:
    if found is None:
        return "absent"
    if found == old:
        return "old whole"
    if found == new:
        return "new whole"
    mixed = [t for t in TABLES if found[t] == old[t]]
    return f"MIXED (old {', '.join(mixed) or 'none'})"


def scratch_beside(target: Path) -> list[str]:
    """Names next to the target that are an export's scratch (hidden, trialwatch-...)."""
    prefix = f".{target.name}."
    return sorted(n for n in os.listdir(target.parent) if n.startswith(prefix))


def size_of(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.exists():
            total += p.stat().st_size
    return total


# -- a small real filesystem that fills up -------------------------------------------------------


@contextmanager
def small_disk(where: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` (the tests run as root, as CI does)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, f"a full-disk test mounts a tmpfs (as root): {mounted.stderr}"
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_up(disk: Path, leave: int) -> Path:
    """A file that takes all of the disk's free space but `leave` bytes."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as f:
        block = b"\0" * 65536
        todo = max(0, free - leave)
        while todo > 0:
            f.write(block[: min(len(block), todo)])
            todo -= min(len(block), todo)
    return filler
