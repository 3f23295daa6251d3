"""A first load from the registry's archive: its entries in batches, resumable by entry.

Each batch is stored by the caller's `ingest` (a mirror's own page path) in one transaction
with the position reached, so a load killed anywhere resumes at the first entry not committed:
nothing lost, nothing stored twice. The archive's data date, the newest `lastUpdatePostDate`
in it, is kept with the position: the API delta that closes the load starts from it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from sqlalchemy.engine import Engine
from sqlmodel import Session

from models.db import session_scope
from sync.core import record
from sync.ingest.archive import ArchiveReader, nct_of_entry
from sync.ingest.memory import collector_paused, release_memory
from sync.store import snapshots as store

STATE_KEY = "archive_load:{}"

# (done, total, label): entries stored of the archive's.
Progress = Callable[[int, int, str], None]


@dataclass
class LoadState:
    """How far a load from one archive (by its fingerprint) has come, stored durably."""

    fingerprint: str = ""
    done: int = 0
    newest: str = ""
    complete: bool = False


def load_state(session: Session, key: str) -> LoadState:
    raw = store.get_meta(session, STATE_KEY.format(key))
    if not isinstance(raw, dict):
        return LoadState()
    return LoadState(
        fingerprint=str(raw.get("fingerprint") or ""),
        done=int(raw.get("done") or 0),
        newest=str(raw.get("newest") or ""),
        complete=bool(raw.get("complete")),
    )


def save_state(session: Session, key: str, state: LoadState) -> None:
    store.set_meta(session, STATE_KEY.format(key), asdict(state))


def loaded(engine: Engine, key: str) -> str | None:
    """The data date of an archive load that completed (None while none has)."""
    with session_scope(engine) as session:
        state = load_state(session, key)
    return state.newest or None if state.complete else None


@dataclass
class Batching:
    records: int = 250
    bytes: int = 24 * 1024 * 1024


def load_archive(
    engine: Engine,
    reader: ArchiveReader,
    key: str,
    *,
    ingest: Callable[[Session, list[dict[str, Any]]], Any],
    error: Callable[[str], None],
    batching: Batching | None = None,
    progress: Progress | None = None,
    transaction: Callable[[], AbstractContextManager[Session]] | None = None,
) -> str | None:
    """Store the archive's entries from where the last load of it stopped; returns its data
    date (None for an archive of records without one). ArchiveError (a damaged entry) stops
    it with every batch before the damage committed and the position kept. `transaction`:
    the caller's transaction of one batch (a run's, that counts its figures when it commits).
    """
    batching = batching or Batching()
    transaction = transaction or (lambda: session_scope(engine))
    with session_scope(engine) as session:
        state = load_state(session, key)
    if state.fingerprint != reader.fingerprint:
        state = LoadState(fingerprint=reader.fingerprint)
    if state.complete:
        return state.newest or None
    total = len(reader)
    batch: list[dict[str, Any]] = []
    size = 0

    def commit(upto: int) -> None:
        nonlocal batch, size
        with transaction() as session:
            if batch:
                ingest(session, batch)
            state.done = upto
            save_state(session, key, state)
        batch, size = [], 0
        release_memory()
        if progress is not None:
            progress(upto, total, "archive")

    with collector_paused():
        for index, name, raw in reader.entries(state.done):
            study = _study(name, raw, error)
            weight = len(raw)
            del raw
            if study is None:
                continue
            posted = record.last_update_posted(study)
            if isinstance(posted, str) and posted > state.newest:
                state.newest = posted
            batch.append(study)
            size += weight
            if len(batch) >= batching.records or size >= batching.bytes:
                commit(index + 1)
        state.complete = True
        commit(total)
    return state.newest or None


def _study(name: str, raw: bytes, error: Callable[[str], None]) -> dict[str, Any] | None:
    """An entry's record, or None (reported) for one that is not a study record."""
    try:
        study = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        error(f"archive entry {name}: not JSON ({exc}); not stored")
        return None
    if not isinstance(study, dict):
        error(f"archive entry {name}: not a study record; not stored")
        return None
    try:
        nct = record.nct_id_of(study)
    except record.RecordError as exc:
        error(f"archive entry {name}: {exc}; not stored")
        return None
    expected = nct_of_entry(name)
    if expected is not None and expected != nct:
        error(f"archive entry {name} holds {nct}; stored as {nct}")
    return study
