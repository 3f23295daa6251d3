"""A first load from the registry's archive: its entries in batches, resumable by entry.

Each batch is stored by the caller's `ingest` (a mirror's own page path) in one transaction
with the position reached, so a load killed anywhere resumes at the first entry not committed:
nothing lost, nothing stored twice. The archive's data date, the newest `lastUpdatePostDate`
in it, is kept with the position: the API delta that closes the load starts from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from models.db import session_scope
from sync.core import record
from sync.ingest.archive import ArchiveError, ArchiveReader
from sync.ingest.memory import collector_paused, release_memory
from sync.ingest.pool import Pool
from sync.ingest.prepare import DictSpec, Prepared, prepare_entries, study_of_entry
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


@dataclass
class Pooled:
    """The archive's entries prepared in a pool's workers (sync.ingest.prepare), stored by
    `ingest` (a batch of Prepared, and a way to have any of them as a record again, from the
    archive); `spec` is the dictionary the workers compress with, asked before each task."""

    pool: Pool
    ingest: Callable[[Session, list[Prepared], Callable[[int], dict[str, Any] | None]], Any]
    spec: Callable[[], DictSpec]


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
    pooled: Pooled | None = None,
) -> str | None:
    """Store the archive's entries from where the last load of it stopped; returns its data
    date (None for an archive of records without one). ArchiveError (a damaged entry) stops
    it with every batch before the damage committed and the position kept. `transaction`:
    the caller's transaction of one batch (a run's, that counts its figures when it commits).
    `pooled`: the entries read and prepared in a pool's workers; the batches, what they store
    and the position stored with each are those of the single process.
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

    def commit_pooled(upto: int, items: list[tuple[int, Prepared]]) -> None:
        assert pooled is not None

        def again(i: int) -> dict[str, Any] | None:
            index = items[i][0]
            return study_of_entry(reader.name(index), reader.read(index), lambda _: None)

        with transaction() as session:
            if items:
                pooled.ingest(session, [item for _, item in items], again)
            state.done = upto
            save_state(session, key, state)
        release_memory()
        if progress is not None:
            progress(upto, total, "archive")

    if pooled is not None:
        _load_pooled(reader, state, pooled, batching, commit_pooled, error)
        return state.newest or None
    with collector_paused():
        for index, name, raw in reader.entries(state.done):
            study = study_of_entry(name, raw, error)
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


def _load_pooled(
    reader: ArchiveReader,
    state: LoadState,
    pooled: Pooled,
    batching: Batching,
    commit: Callable[[int, list[tuple[int, Prepared]]], None],
    error: Callable[[str], None],
) -> None:
    """The single process's loop, the entries read and prepared by the workers: the same
    batch boundaries (records and bytes of the usable entries), errors in the same order."""
    total = len(reader)
    path = str(reader.path)

    def task(start: int) -> Callable[[], tuple[Any, ...]]:
        def args() -> tuple[Any, ...]:
            specs = [reader.spec(i) for i in range(start, min(total, start + batching.records))]
            return path, specs, total, pooled.spec()

        return args

    def tasks() -> Iterator[Callable[[], tuple[Any, ...]]]:
        for start in range(state.done, total, batching.records):
            yield task(start)

    batch: list[tuple[int, Prepared]] = []
    size = 0
    with collector_paused():
        for outcomes, damaged in pooled.pool.ordered(prepare_entries, tasks()):
            for index, said, item in outcomes:
                for message in said:
                    error(message)
                if item is None:
                    continue
                if isinstance(item.posted, str) and item.posted > state.newest:
                    state.newest = item.posted
                batch.append((index, item))
                size += reader.spec(index)[4]
                if len(batch) >= batching.records or size >= batching.bytes:
                    commit(index + 1, batch)
                    batch, size = [], 0
            if damaged is not None:
                raise ArchiveError(damaged)
        state.complete = True
        commit(total, batch)
