"""The compression of stored records, without the database: what a worker process needs to
compress a record as the store would (sync.store.codec adds the stored dictionaries)."""

from __future__ import annotations

from typing import Any

import zstandard

WHOLE = "zstd"
TRAINED = "zstd-trained"  # whole, with the trained dictionary the snapshot's dict_id names
DELTA = "zstd-dict"  # with the keyframe (base_version) as a raw-content dictionary
WHOLE_ENCODINGS = frozenset({WHOLE, TRAINED})

# Small edits against the keyframe at level 9 (they are tiny); whole records, all of an
# initial load, at level 3: 6x less CPU than 9 for about 8% more bytes.
DELTA_LEVEL = 9
WHOLE_LEVEL = 3
# zstd's own default size. On the samples (five-fold, held out): 18.6% of the JSON at level 3
# against 25.2% without a dictionary; 64 KB gave 18.9%, 32 KB 20.0%.
DICT_SIZE = 112_640


def is_whole(encoding: str) -> bool:
    return encoding in WHOLE_ENCODINGS


def ready(data: bytes) -> zstandard.ZstdCompressionDict:
    """A stored dictionary's bytes, ready to compress whole records with."""
    zdict = zstandard.ZstdCompressionDict(data)
    # Compressing a record with a dictionary otherwise digests the dictionary each time.
    zdict.precompute_compress(level=WHOLE_LEVEL)
    return zdict


def encode(raw: bytes, keyframe_raw: bytes | None = None, trained: Any = None) -> tuple[str, bytes]:
    """(encoding, body): against the keyframe when one is given, else whole (with the
    trained dictionary, anything with a `zdict`, when there is one)."""
    if keyframe_raw is not None:
        zdict = zstandard.ZstdCompressionDict(
            keyframe_raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        return DELTA, zstandard.ZstdCompressor(level=DELTA_LEVEL, dict_data=zdict).compress(raw)
    if trained is not None:
        return TRAINED, zstandard.ZstdCompressor(
            level=WHOLE_LEVEL, dict_data=trained.zdict
        ).compress(raw)
    return WHOLE, zstandard.ZstdCompressor(level=WHOLE_LEVEL).compress(raw)


def decode(
    encoding: str,
    body: bytes,
    keyframe_raw: bytes | None = None,
    trained: Any = None,
) -> bytes:
    if encoding == WHOLE:
        return zstandard.ZstdDecompressor().decompress(body)
    if encoding == TRAINED:
        if trained is None:
            raise ValueError("a zstd-trained body needs its dictionary")
        return zstandard.ZstdDecompressor(dict_data=trained.zdict).decompress(body)
    if encoding == DELTA:
        if keyframe_raw is None:
            raise ValueError("a zstd-dict body needs its keyframe")
        zdict = zstandard.ZstdCompressionDict(
            keyframe_raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        return zstandard.ZstdDecompressor(dict_data=zdict).decompress(body)
    raise ValueError(f"unknown snapshot encoding {encoding!r}")
