"""The registry's whole-registry archive, as the fake serves it.

`GET /api/v2/studies/download?format=json.zip` answers `ctg-studies.json.zip`: one entry per
study, the full JSON record as `GET /studies/{nctId}` gives it, in folders by the ID's last two
digits (`35/NCT02252835.json`), deflated (DESIGN.md, measured 2026-08-10). It is not in the
OpenAPI spec; every filter answers 400. What the fake adds: Range requests (206, or ignored
when `FakeRegistry.archive_ranges` is off), a cut connection after so many bytes
(`archive_cuts`), and archives made truncated or corrupt (`truncated`, `corrupted`).
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from sync.testing.fakectgov import FakeRegistry, _Handler

ARCHIVE_PATH = "/api/v2/studies/download"
ARCHIVE_NAME = "ctg-studies.json.zip"
ARCHIVE_PARAMS = {"format": "json.zip"}
CHUNK = 256 * 1024
# Fast enough for benchmark sizes; the registry's ratio (2.53 GB of 10.3) is deflate's.
COMPRESS_LEVEL = 1


def entry_name(nct_id: str) -> str:
    """`35/NCT02252835.json`: the folder is the ID's last two digits."""
    return f"{nct_id[-2:]}/{nct_id}.json"


def _nct_of(study: dict[str, Any]) -> str:
    return str(study["protocolSection"]["identificationModule"]["nctId"])


def write_archive(studies: Iterable[dict[str, Any] | bytes], dest: Path) -> Path:
    """An archive of these records at `dest`, written as they come (one in memory at a time:
    benchmark sizes stay small); a study given twice is stored once, its last copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with zipfile.ZipFile(
        dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
    ) as zf:
        for study in studies:
            raw = study if isinstance(study, bytes) else orjson.dumps(study)
            doc = orjson.loads(raw) if isinstance(study, bytes) else study
            name = entry_name(_nct_of(doc))
            if name in seen:
                raise ValueError(f"{name} twice in one archive")
            seen.add(name)
            zf.writestr(name, raw)
    return dest


def build_archive(studies: Iterable[dict[str, Any] | bytes]) -> bytes:
    """The same archive, in memory."""
    with tempfile.TemporaryDirectory() as tmp:
        return write_archive(studies, Path(tmp) / ARCHIVE_NAME).read_bytes()


def sample_archive(n: int, dest: Path, day: str = "2026-11-19") -> Path:
    """An archive of n studies made from the real samples (factory.registry_study), last
    updated on `day`."""
    from sync.testing.factory import registry_study

    return write_archive((registry_study(i, day) for i in range(1, n + 1)), dest)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The archive cut short, as an interrupted download leaves it: its central directory is
    gone, though its first entries are whole (a stream reader would take them)."""
    return data[: int(len(data) * keep)]


def corrupted(data: bytes, entry: int = -1, *, kind: str = "data") -> bytes:
    """The archive with entry `entry` damaged: `data` flips bytes in its compressed data (the
    inflater fails or the CRC does not match), `crc` changes its stored CRC-32 (the data
    inflates fine; only the check catches it)."""
    with zipfile.ZipFile(_BytesFile(data)) as zf:
        infos = zf.infolist()
    info = infos[entry]
    out = bytearray(data)
    if kind == "crc":
        bad = (info.CRC ^ 0xFFFFFFFF) & 0xFFFFFFFF
        # The local header's CRC at offset 14, and the central directory's at 16.
        struct.pack_into("<I", out, info.header_offset + 14, bad)
        struct.pack_into("<I", out, _central_record(data, info.filename) + 16, bad)
        return bytes(out)
    if kind != "data":
        raise ValueError(f"unknown corruption {kind!r}: data or crc")
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    middle = start + info.compress_size // 2
    for i in range(middle, min(middle + 8, start + info.compress_size)):
        out[i] ^= 0x5A
    return bytes(out)


def _central_record(data: bytes, name: str) -> int:
    """Where the central directory record of entry `name` starts."""
    encoded = name.encode()
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_len] == encoded:
            return at
        at = data.find(b"PK\x01\x02", at + 4)
    raise LookupError(name)


class _BytesFile:
    """Just enough of a file over bytes for zipfile (no copy, unlike BytesIO(bytes))."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: len(self.data)}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else min(len(self.data), self.pos + n)
        chunk = bytes(self.data[self.pos : end])
        self.pos = end
        return chunk

    def seekable(self) -> bool:
        return True


def publish(registry: FakeRegistry, dest: Path | None = None) -> bytes | Path:
    """The registry's archive of its studies as they are now (later puts are not in it, as
    a study updated after the registry made its archive); kept as a file when `dest`."""
    studies = [registry.get(n) for n in sorted(registry.ids(), key=entry_name)]
    made: bytes | Path
    if dest is not None:
        made = write_archive((s for s in studies if s is not None), dest)
    else:
        made = build_archive(s for s in studies if s is not None)
    registry.archive = made
    return made


def _size(archive: bytes | Path) -> int:
    return len(archive) if isinstance(archive, bytes) else archive.stat().st_size


def _range_start(header: str | None, size: int) -> int | None:
    """The first byte of `Range: bytes=N-` (the only form a resuming client sends); None for
    no range or one the fake does not serve (answered whole, as servers may)."""
    if not header or not header.startswith("bytes="):
        return None
    spec = header[len("bytes=") :]
    first, _, last = spec.partition("-")
    if not first.isdigit() or last or "," in spec:
        return None
    return int(first)


def serve(handler: _Handler, registry: FakeRegistry, params: dict[str, str]) -> int:
    """Answer one archive request; returns the status sent."""
    from sync.testing.fakectgov import _text

    if params != ARCHIVE_PARAMS:
        extra = sorted(set(params) - {"format"})
        message = (
            f"Parameter(s) not allowed for download: {', '.join(extra)}"
            if extra
            else "format must be json.zip"
        )
        handler._write(_text(400, message))
        return 400
    archive = registry.archive
    if archive is None:
        handler._write(_text(404, "Not Found: no archive published"))
        return 404
    size = _size(archive)
    start = _range_start(handler.headers.get("Range"), size) if registry.archive_ranges else None
    if start is not None and start >= size:
        response = _text(416, "Range Not Satisfiable", {"Content-Range": f"bytes */{size}"})
        handler._write(response)
        return 416
    headers = {
        "Content-Disposition": f'attachment; filename="{ARCHIVE_NAME}"',
        "ETag": registry.archive_etag,
    }
    if registry.archive_ranges:
        headers["Accept-Ranges"] = "bytes"
    status, offset = (206, start) if start is not None else (200, 0)
    if start is not None:
        headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
    cut = registry.archive_cuts.pop(0) if registry.archive_cuts else None
    handler.send_response(status)
    handler.send_header("Content-Type", "application/zip")
    handler.send_header("Content-Length", str(size - offset))
    for name, value in headers.items():
        handler.send_header(name, value)
    if cut is not None:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    budget = size - offset if cut is None else min(cut, size - offset)
    for chunk in _chunks(archive, offset, budget):
        handler.wfile.write(chunk)
        if registry.archive_delay:
            handler.wfile.flush()
            time.sleep(registry.archive_delay)
    handler.wfile.flush()
    if cut is not None:
        handler.connection.shutdown(2)
    return status


def _chunks(archive: bytes | Path, offset: int, budget: int) -> Iterable[bytes]:
    if isinstance(archive, bytes):
        view = memoryview(archive)[offset : offset + budget]
        for i in range(0, len(view), CHUNK):
            yield bytes(view[i : i + CHUNK])
        return
    with archive.open("rb") as f:
        f.seek(offset)
        left = budget
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def copy_to(archive: bytes | Path, dest: Path) -> Path:
    """The archive as a file on disk (a test's 'archive already downloaded')."""
    if isinstance(archive, bytes):
        dest.write_bytes(archive)
    else:
        shutil.copyfile(archive, dest)
    return dest
