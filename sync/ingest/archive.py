"""Reading the registry's whole-registry archive: validated, streamed one entry at a time.

The archive (`ctg-studies.json.zip`) holds one full JSON record an entry, in folders by the
ID's last two digits (`35/NCT02252835.json`). A truncated download still looks like a zip
until its central directory is read, so the archive is opened by its central directory (at
its end: a cut archive has none and is refused before anything is read), and each entry's
CRC-32 is checked as it is read (zipfile checks it at the end of each entry's stream): a
damaged entry stops the load with an error, never a load that reads as complete. Nothing is
unpacked to disk; one entry at a time is in memory.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

# An entry of a study: the folder is the ID's last two digits.
ENTRY = re.compile(r"(?:^|/)(\d\d)/(NCT\d{8})\.json$")


class ArchiveError(Exception):
    """The archive is not whole (truncated, corrupt, or not the registry's archive)."""


class ArchiveReader:
    """One archive on disk, its central directory read and checked; entries by position."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            size = path.stat().st_size
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise ArchiveError(f"no archive at {path}") from None
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ArchiveError(
                f"{path.name} is not a whole zip archive (truncated or corrupt: {exc}); "
                "nothing was loaded from it"
            ) from None
        infos = [i for i in self._zip.infolist() if not i.is_dir()]
        # In the order of the file: one forward pass over the disk.
        infos.sort(key=lambda i: i.header_offset)
        names = [i.filename for i in infos]
        if not infos or not any(ENTRY.search(n) for n in names):
            self._zip.close()
            raise ArchiveError(f"{path.name} holds no study records (NNN/NCT########.json)")
        for info in infos:
            if info.header_offset + info.compress_size > size:
                self._zip.close()
                raise ArchiveError(
                    f"{path.name}: entry {info.filename} ends past the end of the file "
                    "(truncated); nothing was loaded from it"
                )
        self._infos = infos
        digest = hashlib.sha256(str(size).encode())
        for info in infos:
            digest.update(f"{info.filename}:{info.CRC}:{info.file_size};".encode())
        # The same archive again (a resumed load), or another one (a new load).
        self.fingerprint = digest.hexdigest()[:32]

    def __len__(self) -> int:
        return len(self._infos)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def entries(self, start: int = 0) -> Iterator[tuple[int, str, bytes]]:
        """(position, name, bytes) of each entry from `start` on, each checked against its
        CRC-32 as it is read; ArchiveError at the first that is not whole."""
        for index in range(start, len(self._infos)):
            info = self._infos[index]
            try:
                with self._zip.open(info) as stream:
                    data = stream.read()
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
                raise ArchiveError(
                    f"{self.path.name}: entry {info.filename} is corrupt ({exc}); the load "
                    f"stopped there, {index:,} of {len(self._infos):,} entries loaded"
                ) from None
            yield index, info.filename, data


def nct_of_entry(name: str) -> str | None:
    """The NCT ID an entry's name gives (None for a name outside the layout)."""
    m = ENTRY.search(name)
    if m is None or m.group(2)[-2:] != m.group(1):
        return None
    return m.group(2)
