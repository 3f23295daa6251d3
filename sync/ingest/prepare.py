"""A record made ready to store, without the database: parsed, checked, its received-form hash,
key fields, membership facts and compressed body. The one place this is done, in the parent
(a small run) or in the workers of sync.ingest.pool (a large one): both store the same bytes.

Nothing here imports the database layer: a worker process starts with the core, orjson and
zstandard alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import zstandard

from sync.core import record
from sync.core.membership import summary_of
from sync.ingest.archive import ArchiveError, EntrySpec, nct_of_entry, read_entry
from sync.store import compression

# The dictionary new whole records are compressed with: (its row ID, its bytes), or None when
# the database has none yet (the body then comes back uncompressed: the parent trains one).
DictSpec = tuple[int, bytes] | None


@dataclass(slots=True)
class Prepared:
    """One record ready for the writer. `unfit`: why it cannot be a first version (reported,
    not stored); `encoding` None: `body` is the record's JSON, not yet compressed."""

    nct: str
    posted: Any  # lastUpdatePostDate as sent (a str in any sound record)
    listed: dict[str, Any]  # the trial row's copies (record.listed_fields)
    submitted: str | None
    digest: str
    raw_size: int
    encoding: str | None
    body: bytes
    dict_id: int | None
    member: tuple[str | None, str | None, dict[str, Any] | None]
    unfit: str | None = None

    def raw(self, trained: Any = None) -> bytes:
        """The record's JSON as stored (decompressed with `trained` when it needs it)."""
        if self.encoding is None:
            return self.body
        return compression.decode(self.encoding, self.body, trained=trained)

    def study(self, trained: Any = None) -> dict[str, Any]:
        doc = orjson.loads(self.raw(trained))
        assert isinstance(doc, dict)
        return doc


def prepare(
    study: dict[str, Any],
    zdict: Any = None,
    dict_id: int | None = None,
    *,
    raw: bytes | None = None,
) -> Prepared:
    """A study (its NCT ID already checked) made ready, compressed with `zdict` (anything
    with a `.zdict`, as codec.Trained) when given. `raw`: its JSON when already made."""
    nct = record.nct_id_of(study)
    posted = record.last_update_posted(study)
    member = summary_of(study)
    unfit = None
    if not isinstance(study.get("protocolSection"), dict):
        unfit = f"{nct}: record without protocolSection; not stored"
    elif problems := record.shape_problems(study):
        unfit = f"{nct}: record with fields of the wrong type; not stored: {problems[0]}"
    if unfit is not None:
        return Prepared(nct, posted, {}, None, "", 0, None, b"", None, member, unfit)
    try:
        keys = record.key_fields(study)
        body = orjson.dumps(study) if raw is None else raw
        digest = record.received_hash(study)  # a first version: see record.RECEIVED_FORM
    except (TypeError, ValueError, AttributeError) as exc:
        unfit = f"{nct}: record could not be stored: {exc}"
        return Prepared(nct, posted, {}, None, "", 0, None, b"", None, member, unfit)
    size = len(body)
    encoding: str | None = None
    if zdict is not None:
        encoding, body = compression.encode(body, trained=zdict)
    return Prepared(
        nct,
        posted,
        record.listed_fields(keys),
        keys["last_update_submitted"],
        digest,
        size,
        encoding,
        body,
        dict_id if zdict is not None else None,
        member,
    )


def study_of_entry(name: str, raw: bytes, error: Callable[[str], None]) -> dict[str, Any] | None:
    """An archive entry's record, or None (reported) for one that is not a study record."""
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


# -- in a worker process


class _Dict:
    """A dictionary as codec.Trained has it (what compression.encode takes)."""

    def __init__(self, data: bytes) -> None:
        self.zdict = compression.ready(data)


_DICTS: dict[tuple[int, int], _Dict] = {}
_FILES: dict[str, BinaryIO] = {}


def _dict_of(spec: DictSpec) -> tuple[_Dict | None, int | None]:
    if spec is None:
        return None, None
    dict_id, data = spec
    # The row ID and zstd's own ID: a database made again can reuse a row ID.
    key = (dict_id, zstandard.ZstdCompressionDict(data).dict_id())
    if key not in _DICTS:
        _DICTS.clear()
        _DICTS[key] = _Dict(data)
    return _DICTS[key], dict_id


# An entry's outcome: (position, what to report, Prepared or None when not a study record).
Outcome = tuple[int, list[str], Prepared | None]


def prepare_entries(
    path: str, specs: list[EntrySpec], total: int, spec: DictSpec
) -> tuple[list[Outcome], str | None]:
    """Read, check and prepare these archive entries (in a worker): their outcomes up to the
    first damaged one, and what is wrong with that one (None when all are whole)."""
    f = _FILES.get(path)
    if f is None:
        for old in _FILES.values():
            old.close()
        _FILES.clear()
        f = _FILES[path] = Path(path).open("rb")  # noqa: SIM115  (kept open for the next)
    zdict, dict_id = _dict_of(spec)
    out: list[Outcome] = []
    for entry in specs:
        index, name = entry[0], entry[1]
        try:
            raw = read_entry(f, entry, total, os.path.basename(path))
        except ArchiveError as exc:
            return out, str(exc)
        said: list[str] = []
        study = study_of_entry(name, raw, said.append)
        del raw
        out.append((index, said, prepare(study, zdict, dict_id) if study is not None else None))
    return out, None


def prepare_raws(raws: list[bytes], spec: DictSpec) -> list[Prepared]:
    """Prepare records the parent has parsed and serialised (in a worker): `raws` are their
    JSON as stored (orjson.dumps of the parsed record), kept as the body."""
    zdict, dict_id = _dict_of(spec)
    return [prepare(orjson.loads(raw), zdict, dict_id, raw=raw) for raw in raws]
