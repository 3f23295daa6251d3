"""Reading the registry's whole-registry archive: validated, streamed one entry at a time.

The archive (`ctg-studies.json.zip`) holds one full JSON record an entry, in folders by the
ID's last two digits (`35/NCT02252835.json`). A truncated download still looks like a zip
until its central directory is read, so the archive is opened by its central directory (at
its end: a cut archive has none and is refused before anything is read), and each entry's
CRC-32 is checked as it is read: a damaged entry stops the load with an error, never a load
that reads as complete. Nothing is unpacked to disk; one entry at a time is in memory.

The central directory is read here, not by `zipfile`: its ZipInfo objects (about 560 bytes
an entry) held ~334 MB at the registry's 597,913 entries. Here each entry is its offset,
sizes, CRC and method in typed arrays and its name in one byte string: ~60 bytes an entry.
An entry is read by its position (`read`), from any process that opens the file: the
workers of sync.ingest.pool read their own entries, the parent only the directory.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# An entry of a study: the folder is the ID's last two digits.
ENTRY = re.compile(r"(?:^|/)(\d\d)/(NCT\d{8})\.json$")

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD_SIG = b"PK\x05\x06"
_Z64_LOCATOR = struct.Struct("<4sLQL")
_Z64_LOCATOR_SIG = b"PK\x06\x07"
_Z64_EOCD = struct.Struct("<4sQ2H2L4Q")
_Z64_EOCD_SIG = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # a central directory record, before its name
_CENTRAL_SIG = b"PK\x01\x02"
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # a local file header
_LOCAL_SIG = b"PK\x03\x04"
_STORED, _DEFLATED = 0, 8
_MAX_COMMENT = 65_535
_READ = 4 * 1024 * 1024  # the directory is read in pieces, never whole


class ArchiveError(Exception):
    """The archive is not whole (truncated, corrupt, or not the registry's archive)."""


class _NotZip(Exception):
    pass


def _end_of_directory(f: BinaryIO, size: int) -> tuple[int, int]:
    """(entries, where the central directory starts), from the end records (zip64 too)."""
    tail_len = min(size, _EOCD.size + _MAX_COMMENT)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(_EOCD_SIG)
    while at >= 0 and at + _EOCD.size > len(tail):
        at = tail.rfind(_EOCD_SIG, 0, at)
    if at < 0:
        raise _NotZip("File is not a zip file")
    _, disk, _, _, count, _, offset, _ = _EOCD.unpack_from(tail, at)
    if disk != 0:
        raise _NotZip("archives on several disks are not supported")
    eocd_pos = size - tail_len + at
    loc = eocd_pos - _Z64_LOCATOR.size
    if loc >= 0:
        f.seek(loc)
        sig, _, z64_pos, _ = _Z64_LOCATOR.unpack(f.read(_Z64_LOCATOR.size))
        if sig == _Z64_LOCATOR_SIG:
            f.seek(z64_pos)
            rec = f.read(_Z64_EOCD.size)
            if len(rec) < _Z64_EOCD.size or rec[:4] != _Z64_EOCD_SIG:
                raise _NotZip("its zip64 end record is missing")
            fields = _Z64_EOCD.unpack(rec)
            count, offset = fields[7], fields[9]
    if offset > size:
        raise _NotZip("its central directory starts past the end of the file")
    return count, offset


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """The real sizes and offset of an entry whose directory record says 0xFFFFFFFF."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if usize == 0xFFFFFFFF:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF:
                offset = values.pop(0)
            break
        at += 4 + length
    return usize, csize, offset


class _Directory:
    """The entries (directories left out), in the order of the file: typed arrays."""

    def __init__(self) -> None:
        self.offsets = array("Q")
        self.csizes = array("Q")
        self.usizes = array("Q")
        self.crcs = array("L")
        self.methods = array("H")
        self.flags = array("H")
        self.name_at = array("Q", [0])
        self.names = bytearray()

    def add(self, name: bytes, fields: tuple[int, ...]) -> None:
        offset, csize, usize, crc, method, flags = fields
        self.offsets.append(offset)
        self.csizes.append(csize)
        self.usizes.append(usize)
        self.crcs.append(crc)
        self.methods.append(method)
        self.flags.append(flags)
        self.names += name
        self.name_at.append(len(self.names))

    def sorted(self) -> _Directory:
        order = sorted(range(len(self.offsets)), key=self.offsets.__getitem__)
        if all(a < b for a, b in zip(order, order[1:], strict=False)):
            return self
        out = _Directory()
        for i in order:
            out.add(
                bytes(self.names[self.name_at[i] : self.name_at[i + 1]]),
                (self.offsets[i], self.csizes[i], self.usizes[i], self.crcs[i],
                 self.methods[i], self.flags[i]),
            )  # fmt: skip
        return out


def _decode_name(raw: bytes, flags: int) -> str:
    # As zipfile: UTF-8 when the entry says so, else the old DOS code page; cut at a NUL.
    name = raw.decode("utf-8" if flags & 0x800 else "cp437")
    nul = name.find("\x00")
    return name[:nul] if nul >= 0 else name


def _read_directory(f: BinaryIO, size: int) -> _Directory:
    count, start = _end_of_directory(f, size)
    found = _Directory()
    f.seek(start)
    buf = b""
    pos = 0
    seen = 0
    while seen < count:
        if len(buf) - pos < _CENTRAL.size:
            buf = buf[pos:] + f.read(_READ)
            pos = 0
            if len(buf) < _CENTRAL.size:
                raise _NotZip(f"its central directory ends after {seen:,} of {count:,} entries")
        fields = _CENTRAL.unpack_from(buf, pos)
        if fields[0] != _CENTRAL_SIG:
            raise _NotZip(f"bad central directory record {seen + 1:,}")
        flags, method, crc = fields[5], fields[6], fields[9]
        csize, usize = fields[10], fields[11]
        name_len, extra_len, comment_len = fields[12], fields[13], fields[14]
        offset = fields[18]
        need = _CENTRAL.size + name_len + extra_len + comment_len
        if len(buf) - pos < need:
            buf = buf[pos:] + f.read(max(_READ, need))
            pos = 0
            if len(buf) < need:
                raise _NotZip(f"its central directory ends inside entry {seen + 1:,}")
        name = buf[pos + _CENTRAL.size : pos + _CENTRAL.size + name_len]
        if 0xFFFFFFFF in (csize, usize, offset):
            extra = buf[pos + _CENTRAL.size + name_len : pos + _CENTRAL.size + name_len + extra_len]
            usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
        pos += need
        seen += 1
        if not name.endswith(b"/"):
            found.add(name, (offset, csize, usize, crc, method, flags))
    return found.sorted()


class ArchiveReader:
    """One archive on disk, its central directory read and checked; entries by position."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            size = path.stat().st_size
            with path.open("rb") as f:
                d = _read_directory(f, size)
        except FileNotFoundError:
            raise ArchiveError(f"no archive at {path}") from None
        except (_NotZip, OSError, ValueError, struct.error) as exc:
            raise ArchiveError(
                f"{path.name} is not a whole zip archive (truncated or corrupt: {exc}); "
                "nothing was loaded from it"
            ) from None
        self._d = d
        n = len(d.offsets)
        if not n or not any(ENTRY.search(self.name(i)) for i in range(n)):
            raise ArchiveError(f"{path.name} holds no study records (NNN/NCT########.json)")
        for i in range(n):
            if d.offsets[i] + d.csizes[i] > size:
                raise ArchiveError(
                    f"{path.name}: entry {self.name(i)} ends past the end of the file "
                    "(truncated); nothing was loaded from it"
                )
        digest = hashlib.sha256(str(size).encode())
        for i in range(n):
            digest.update(f"{self.name(i)}:{d.crcs[i]}:{d.usizes[i]};".encode())
        # The same archive again (a resumed load), or another one (a new load).
        self.fingerprint = digest.hexdigest()[:32]
        self._file: BinaryIO | None = None

    def __len__(self) -> int:
        return len(self._d.offsets)

    def name(self, index: int) -> str:
        d = self._d
        return _decode_name(bytes(d.names[d.name_at[index] : d.name_at[index + 1]]), d.flags[index])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def spec(self, index: int) -> EntrySpec:
        """What another process needs to read entry `index` from the file (read_entry)."""
        d = self._d
        return (index, self.name(index), d.offsets[index], d.csizes[index], d.usizes[index],
                d.crcs[index], d.methods[index], d.flags[index])  # fmt: skip

    def read(self, index: int) -> bytes:
        """Entry `index`'s bytes, checked against its CRC-32; ArchiveError when not whole."""
        if self._file is None:
            self._file = self.path.open("rb")
        return read_entry(self._file, self.spec(index), len(self), self.path.name)

    def entries(self, start: int = 0) -> Iterator[tuple[int, str, bytes]]:
        """(position, name, bytes) of each entry from `start` on, each checked against its
        CRC-32 as it is read; ArchiveError at the first that is not whole."""
        for index in range(start, len(self)):
            yield index, self.name(index), self.read(index)


# (position, name, offset of its local header, compressed size, size, CRC-32, method, flags)
EntrySpec = tuple[int, str, int, int, int, int, int, int]


def read_entry(f: BinaryIO, spec: EntrySpec, total: int, archive: str) -> bytes:
    """One entry's bytes from the open archive file, checked; ArchiveError when not whole."""
    index, name, offset, csize, usize, crc, method, flags = spec
    try:
        f.seek(offset)
        header = f.read(_LOCAL.size)
        if len(header) < _LOCAL.size or header[:4] != _LOCAL_SIG:
            raise ValueError("bad local header")
        name_len, extra_len = _LOCAL.unpack(header)[10:12]
        f.seek(offset + _LOCAL.size + name_len + extra_len)
        packed = f.read(csize)
        if len(packed) < csize:
            raise EOFError("the file ends inside the entry")
        if flags & 0x1:
            raise ValueError("encrypted")
        if method == _STORED:
            data = packed
        elif method == _DEFLATED:
            inflater = zlib.decompressobj(-15)
            data = inflater.decompress(packed, usize + 1)
            if not inflater.eof:
                raise zlib.error("the compressed data ends early")
        else:
            raise ValueError(f"compression method {method} is not supported")
        del packed
        if len(data) != usize:
            raise ValueError(f"{len(data)} bytes where {usize} were announced")
        if zlib.crc32(data) != crc:
            raise ValueError(f"Bad CRC-32 for file {name!r}")
    except (zlib.error, EOFError, OSError, ValueError, struct.error) as exc:
        raise ArchiveError(
            f"{archive}: entry {name} is corrupt ({exc}); the load "
            f"stopped there, {index:,} of {total:,} entries loaded"
        ) from None
    return data


def nct_of_entry(name: str) -> str | None:
    """The NCT ID an entry's name gives (None for a name outside the layout)."""
    m = ENTRY.search(name)
    if m is None or m.group(2)[-2:] != m.group(1):
        return None
    return m.group(2)
