"""Why a run ended, kept on local disk when its database was lost before it could say so.

A run that loses its database cannot write its own end on its row. It leaves the reason in a
small file instead, and the next run of its kind, which closes runs left "running", stores it
there: the run reads as failed for a database error, not as a process that ended mid-run.
Beside a SQLite file (or, when that disk is full, in the user's state folder); for PostgreSQL
in the user's state folder, one folder per database.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import suppress
from datetime import datetime
from pathlib import Path

import orjson
from sqlalchemy.engine import Engine


def folder(engine: Engine) -> Path:
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database)).resolve()
        return path.with_name(path.name + ".unrecorded")
    return _state_folder(engine)


def _state_folder(engine: Engine) -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    where = engine.url.render_as_string(hide_password=True).encode()
    return Path(state) / "trialwatch" / f"unrecorded-{hashlib.sha256(where).hexdigest()[:16]}"


def folders(engine: Engine) -> list[Path]:
    """Where reasons are kept, first choice first: beside a SQLite file, then (when its disk
    is full, the very error the reason is about) the user's state folder."""
    return list(dict.fromkeys([folder(engine), _state_folder(engine)]))


def note(engine: Engine, run_id: int, started_at: datetime, reason: str) -> bool:
    """Keep the reason run_id ended; False when even that cannot be written anywhere."""
    data = orjson.dumps({"started_at": started_at.isoformat(), "reason": reason})
    for target in folders(engine):
        try:
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
            scratch = target / f".{run_id}.tmp"
            try:
                scratch.write_bytes(data)
                scratch.replace(target / f"{run_id}.json")
            finally:
                with suppress(OSError):
                    scratch.unlink()
        except OSError:
            continue
        return True
    return False


def pending(engine: Engine) -> dict[int, tuple[str, str]]:
    """The reasons kept: run id -> (its started_at, as written, the reason)."""
    found: dict[int, tuple[str, str]] = {}
    for target in reversed(folders(engine)):
        with suppress(OSError):
            for entry in target.glob("*.json"):
                with suppress(OSError, ValueError, TypeError, KeyError):
                    data = orjson.loads(entry.read_bytes())
                    found[int(entry.stem)] = (str(data["started_at"]), str(data["reason"]))
    return found


def forget(engine: Engine, run_ids: list[int]) -> None:
    """Remove the reasons now stored on their rows (or of runs no longer running)."""
    for target in folders(engine):
        for run_id in run_ids:
            with suppress(OSError):
                (target / f"{run_id}.json").unlink()
        with suppress(OSError):
            target.rmdir()  # only when empty
