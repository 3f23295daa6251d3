"""How a stored record is compressed: whole (with a dictionary trained on registry records
when the database has one) or against its keyframe, and back."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import sqlalchemy as sa
import zstandard
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from models import CompressionDict
from sync.store.compression import (  # noqa: F401  (the codec's names, one place)
    DELTA,
    DELTA_LEVEL,
    DICT_SIZE,
    TRAINED,
    WHOLE,
    WHOLE_ENCODINGS,
    WHOLE_LEVEL,
    decode,
    encode,
    is_whole,
    ready,
)

# Fewer records than this train a dictionary that knows one sponsor's wording, not the
# registry's: wait for a larger page.
TRAIN_MIN_SAMPLES = 100
TRAIN_MIN_BYTES = 1_000_000
# Training time grows with the samples (a page of 250 records, 8.5 MB: 0.47 s); the held-out
# figure above came from 1.4 MB of records, so a page's first 4 MB are plenty.
TRAIN_MAX_BYTES = 4_000_000

Executor = Session | Connection


@dataclass(frozen=True)
class Trained:
    """A stored dictionary, ready to compress and decompress with."""

    id: int
    zdict: zstandard.ZstdCompressionDict


# Dictionaries never change once stored: one load per database and process. The key holds
# the database's URL, and each frame's dictionary ID is checked against the cached one, so a
# database dropped and made again under the same URL is read right.
_CACHE: dict[tuple[str, int], Trained] = {}
_LOCK = threading.Lock()


def _database(db: Executor) -> str:
    bind = db.get_bind() if isinstance(db, Session) else db
    return bind.engine.url.render_as_string(hide_password=True)


def _ready(row_id: int, data: bytes) -> Trained:
    return Trained(id=row_id, zdict=ready(data))


def dictionary(db: Executor, dict_id: int, zstd_id: int | None = None) -> Trained:
    """Stored dictionary `dict_id`, cached; `zstd_id` (from a frame or the row) checks that
    the cached copy is this database's, not that of one made again under the same URL or of
    a row rolled back."""
    key = (_database(db), dict_id)
    cached = _CACHE.get(key)
    if cached is not None and (zstd_id is None or cached.zdict.dict_id() == zstd_id):
        return cached
    data = db.execute(
        sa.select(col(CompressionDict.data)).where(col(CompressionDict.id) == dict_id)
    ).scalar_one_or_none()
    if data is None:
        raise ValueError(f"compression dictionary {dict_id} is missing")
    trained = _ready(dict_id, data)
    with _LOCK:
        _CACHE[key] = trained
    return trained


def for_body(db: Executor, dict_id: int, body: bytes) -> Trained:
    """The dictionary a zstd-trained body was compressed with."""
    return dictionary(db, dict_id, zstandard.get_frame_parameters(body).dict_id)


def current(db: Executor) -> Trained | None:
    """The dictionary new whole records are compressed with: the latest trained, or None."""
    latest = db.execute(
        sa.select(col(CompressionDict.id), col(CompressionDict.zstd_id))
        .order_by(col(CompressionDict.id).desc())
        .limit(1)
    ).first()
    return dictionary(db, int(latest[0]), int(latest[1])) if latest is not None else None


def train(session: Session, samples: list[bytes]) -> Trained | None:
    """Train and store a dictionary on these records (JSON as stored): the first
    TRAIN_MIN_SAMPLES of them and more up to TRAIN_MAX_BYTES. None when they are too few to
    stand for the registry."""
    if len(samples) < TRAIN_MIN_SAMPLES or sum(len(s) for s in samples) < TRAIN_MIN_BYTES:
        return None
    pieces: list[bytes | bytearray | memoryview] = []
    taken = 0
    for sample in samples:
        if taken >= TRAIN_MAX_BYTES and len(pieces) >= TRAIN_MIN_SAMPLES:
            break
        pieces.append(sample)
        taken += len(sample)
    try:
        zdict = zstandard.train_dictionary(DICT_SIZE, pieces, level=WHOLE_LEVEL)
    except zstandard.ZstdError:
        return None  # zstd found too little to learn from: records stay compressed alone
    row = CompressionDict(
        zstd_id=zdict.dict_id(), samples=len(pieces), sample_bytes=taken, data=zdict.as_bytes()
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    trained = _ready(row.id, row.data)
    with _LOCK:
        _CACHE[(_database(session), row.id)] = trained
    return trained


def dictionaries(db: Executor) -> dict[int, Trained]:
    """Every stored dictionary by ID (for readers that decode many snapshots)."""
    rows = db.execute(sa.select(col(CompressionDict.id), col(CompressionDict.zstd_id))).all()
    return {int(i): dictionary(db, int(i), int(z)) for i, z in rows}
