"""Where an export goes: what is at the target, scratch names beside it, and the one swap.

An export never writes under the target's own name until it is complete. Its scratch files and
folders sit next to the target, in the same folder (so that a rename is atomic), under hidden
names that say whose they are: `.NAME.trialwatch-KIND-PID[.ext]`. A killed export leaves them
behind; the next export to the same target removes those of processes no longer running.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson

from sync.report.export_sql import TABLES

# What marks a trialwatch export: a one-row table in a DuckDB file, a hidden file in a folder.
MARKER_TABLE = "trialwatch_export"
MARKER_FILE = ".trialwatch-export.json"
WRITER = "trialwatch"
SCHEMA = 1
MARKER_SQL = (
    f"CREATE TABLE {MARKER_TABLE} (writer VARCHAR, schema INTEGER, written_at TIMESTAMPTZ, "
    "updated_at TIMESTAMPTZ, trialwatch_version VARCHAR)"
)
DUCKDB_MAGIC = b"DUCK"  # at offset 8 of every DuckDB database file

_SCRATCH = re.compile(r"\.trialwatch-(?P<kind>[a-z]+)-(?P<pid>\d+)(?:[.].*)?")
# Scratch names of exports before 0.1 kept them (beside the file, inside the folder).
_OLD_FILE_SCRATCH = re.compile(r"\.(?P<pid>\d+)\.tmp(?:\..*)?")
_OLD_DIR_SCRATCH = re.compile(
    r"\.(?:trialwatch-export\.\d+\.duckdb(?:\.wal)?|[a-z_]+\.\d+\.(?:parquet|csv))"
)
_TABLE_FILE = re.compile(rf"(?:(?:{'|'.join(TABLES)})\.(?:parquet|csv)|schema\.csv)")


class TargetError(ValueError):
    """The target cannot be written as asked (a user can fix it: another path, --force)."""


@dataclass
class Found:
    """What is at the target now."""

    exists: bool = False
    export: bool = False  # a trialwatch export (written by this or an earlier version)
    foreign: list[str] | None = None  # names in it that trialwatch did not write
    why: str = ""  # why it is not an export, in words


def scratch(target: Path, kind: str, suffix: str = "") -> Path:
    """A hidden name next to the target for this process's `kind` of scratch."""
    return target.parent / f".{target.name}.trialwatch-{kind}-{os.getpid()}{suffix}"


# -- what is there --------------------------------------------------------------------------


def inspect_file(target: Path) -> Found:
    """A `.duckdb` target: absent, empty, a trialwatch export, or something else."""
    if not target.exists():
        return Found()
    if target.stat().st_size == 0:
        return Found()  # an empty file holds nothing to lose
    with target.open("rb") as f:
        head = f.read(12)
    if head[8:12] != DUCKDB_MAGIC:
        return Found(exists=True, why="not a DuckDB file")
    try:
        con = duckdb.connect(str(target), read_only=True)
    except duckdb.Error as exc:
        raise TargetError(
            f"cannot open {target} to check it is a trialwatch export: {first_line(exc)}"
        ) from None
    try:
        names = {
            r[0]: r[1]
            for r in con.execute(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_schema = 'main'"
            ).fetchall()
        }
        marked = False
        if MARKER_TABLE in names:
            row = con.execute(
                f"SELECT count(*) FROM {MARKER_TABLE} WHERE writer = ?", [WRITER]
            ).fetchone()
            marked = bool(row and row[0])
        columns = _columns(con)
    finally:
        con.close()
    from sync.report.export_sql import VIEWS

    ours = {*TABLES, *VIEWS, MARKER_TABLE}
    ours |= {f"_new_{t}" for t in TABLES}  # staged by an export before 0.1, killed
    legacy = all(columns.get(t) == [c for c, _ in TABLES[t]] for t in TABLES)
    if not (marked or legacy):
        return Found(exists=True, why=f"tables {_names(sorted(names))}")
    return Found(exists=True, export=True, foreign=sorted(set(names) - ours))


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall():
        out.setdefault(table, []).append(column)
    return out


def inspect_dir(target: Path) -> Found:
    """A folder target: absent, empty, a trialwatch export, or a folder of other things."""
    if not target.exists():
        return Found()
    if not target.is_dir():
        raise TargetError(f"{target} is a file: name a folder, or FILE.duckdb for DuckDB")
    names = sorted(os.listdir(target))
    marked = MARKER_FILE in names and _marker_is_ours(target / MARKER_FILE)
    others = [
        n
        for n in names
        if n != MARKER_FILE and not _TABLE_FILE.fullmatch(n) and not _OLD_DIR_SCRATCH.fullmatch(n)
    ]
    if marked or not others:
        return Found(exists=True, export=True, foreign=others)
    return Found(exists=True, why=f"files {_names(others)}", foreign=others)


def _marker_is_ours(path: Path) -> bool:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("writer") == WRITER


def refuse(target: Path, found: Found, *, partial: bool) -> str | None:
    """Why an export must not go to this target without --force, in one line; None: it may."""
    if not found.exists:
        return None
    merge = partial and target.suffix == ".duckdb"
    if not found.export:
        if merge:
            # Exporting everything to it first would destroy it: a new file, elsewhere.
            return (
                f"{target}: not a trialwatch export ({found.why}); start one at another "
                "path: trialwatch export NEW.duckdb"
            )
        return f"{target}: not a trialwatch export ({found.why}); --force replaces it"
    if found.foreign and not merge:  # a merge leaves the others' tables alone
        what = "tables" if target.suffix == ".duckdb" else "files"
        names = _names(found.foreign)
        return f"{target} holds {what} trialwatch did not write ({names}); --force replaces it"
    return None


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


# -- scratch left by killed exports ---------------------------------------------------------


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def leftovers(target: Path) -> list[Path]:
    """Scratch of exports to this target whose processes are gone (this one's are not)."""
    prefix = f".{target.name}"
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    found = []
    for name in names:
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        m = _SCRATCH.fullmatch(rest) or _OLD_FILE_SCRATCH.fullmatch(rest)
        if m and not _alive(int(m["pid"])):
            found.append(target.parent / name)
    return sorted(found)


def clean(target: Path) -> list[Path]:
    """Put back a folder a killed swap left aside, then remove the other leftovers."""
    found = leftovers(target)
    if not target.exists():
        for p in found:
            m = _SCRATCH.fullmatch(p.name[len(target.name) + 1 :])
            if m and m["kind"] == "old" and p.is_dir():
                rename(p, target)  # killed between the two renames: the old whole is back
                found.remove(p)
                break
    for p in found:
        remove(p)
    return found


def remove(path: Path) -> None:
    with suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def remove_all(paths: Iterable[Path]) -> None:
    for p in paths:
        with suppress(OSError):
            remove(p)


# -- putting the finished export in place ---------------------------------------------------


def fsync_tree(folder: Path) -> None:
    """The files of a finished folder on disk before it is renamed into place."""
    for name in os.listdir(folder):
        fd = os.open(folder / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> None:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); OSError where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        raise OSError(errno.ENOSYS, "renameat2 is not available") from None
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a))


def rename(a: Path, b: Path) -> None:
    os.rename(a, b)


def swap_in(new: Path, target: Path) -> None:
    """Make the finished folder `new` the target, in one step where the system allows.

    A target that is absent or empty is replaced by one rename. An existing one is exchanged
    with `new` atomically (renameat2); where that is unsupported, it is renamed aside first,
    then `new` is renamed in: a kill between leaves no target, and the next export puts the
    old folder back before anything else. The old folder is removed last.
    """
    if not target.exists() or (target.is_dir() and not os.listdir(target)):
        rename(new, target)
        fsync_dir(target.parent)
        return
    try:
        exchange(new, target)
        old = new
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        old = scratch(target, "old")
        rename(target, old)
        rename(new, target)
    fsync_dir(target.parent)
    remove(old)


def replace_file(new: Path, target: Path, found: Found) -> None:
    """Put a finished DuckDB file in place of the target (one rename), without its old WAL.

    A WAL beside the target belongs to the old file and DuckDB refuses to open the new one with
    it ("WAL does not match database file"). A trialwatch export's WAL is checkpointed into it
    first (so a kill before the rename loses nothing); another file's is moved aside.
    """
    wal = target.with_name(target.name + ".wal")
    if wal.exists():
        if found.export and found.exists:
            duckdb.connect(str(target)).close()  # replays and checkpoints the WAL
        if wal.exists():
            rename(wal, scratch(target, "wal"))
    os.replace(new, target)
    fsync_dir(target.parent)
    remove_all([scratch(target, "wal")])


# -- errors ---------------------------------------------------------------------------------


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def is_disk_full(exc: BaseException, where: Path) -> bool:
    """ENOSPC, however it reached us: an OSError, or DuckDB's text (it says "Out of Memory"
    when it cannot spill to a full disk, or cannot commit its WAL)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    if "No space left on device" in text or '"errno":"28"' in text:
        return True
    if isinstance(exc, duckdb.OutOfMemoryException):
        with suppress(OSError):
            return shutil.disk_usage(where).free < 64 * 1024 * 1024
    return False


def marker_json(fmt: str, tables: dict[str, int], since: str | None, at: str) -> bytes:
    from sync import __version__

    return orjson.dumps(
        {
            "writer": WRITER,
            "schema": SCHEMA,
            "format": fmt,
            "written_at": at,
            "since": since,
            "tables": tables,
            "trialwatch_version": __version__,
        },
        option=orjson.OPT_INDENT_2,
    )
