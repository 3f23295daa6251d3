"""Downloading the registry's whole-registry archive, resumable.

`GET /api/v2/studies/download?format=json.zip` (`ctg-studies.json.zip`, 2.53 GB when measured)
is not in the OpenAPI spec: best effort, like the history endpoints. The body goes to
`<dest>.part` as it arrives; an interrupted download (a cut connection, a killed process)
resumes from the bytes on disk with `Range: bytes=N-` and `If-Range` on the archive's ETag
where the server allows it (206), and starts over where it does not (200). Only a body of the
announced length becomes `<dest>`: a short one is never taken for the archive.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from sync.registry.client import RETRY_STATUSES, ApiError, ApiHTTPError, CtgovClient, short_url

log = logging.getLogger(__name__)

DOWNLOAD_PATH = "/studies/download"
DOWNLOAD_PARAMS = {"format": "json.zip"}
ARCHIVE_NAME = "ctg-studies.json.zip"
MB = 1024 * 1024

# (done, total, label): megabytes received of the archive's size.
Progress = Callable[[int, int, str], None]


class DownloadError(ApiError):
    """The archive could not be downloaded whole (after the allowed attempts)."""


def _read_state(path: Path) -> dict[str, str]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, str)} if isinstance(doc, dict) else {}


def _total_of(response: httpx.Response, offset: int) -> int | None:
    """The whole archive's size: from Content-Range on a 206, Content-Length on a 200."""
    if response.status_code == 206:
        _, _, total = response.headers.get("Content-Range", "").rpartition("/")
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length", "")
    return int(length) + offset if length.isdigit() else None


def download_archive(client: CtgovClient, dest: Path, *, progress: Progress | None = None) -> Path:
    """The archive at `dest`, downloaded (or finished) from the registry; DownloadError when
    it cannot be had whole within api.max_attempts tries in a row without progress."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")
    url = client.api_url + DOWNLOAD_PATH
    s = client.settings
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        etag = _read_state(meta).get("etag") if have else None
        headers = {"Accept": "application/zip"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if etag:
                headers["If-Range"] = etag
        try:
            if _fetch(client, url, headers, part, meta, have, progress):
                part.replace(dest)
                meta.unlink(missing_ok=True)
                return dest
            failures = 0  # it moved on: the next try resumes
        except (httpx.TransportError, _Retry) as exc:
            grew = (part.stat().st_size if part.exists() else 0) > have
            failures = 1 if grew else failures + 1
            if failures >= s.max_attempts:
                raise DownloadError(
                    f"the registry's archive could not be downloaded ({short_url(url)}): "
                    f"{exc or type(exc).__name__}; {_size(part)} kept, the next run resumes"
                ) from exc
            wait = min(s.retry_wait_max, s.retry_wait_initial * 2 ** (failures - 1))
            log.warning("archive download interrupted (%s); retrying in %.1fs", exc, wait)
            time.sleep(wait + random.uniform(0, min(1.0, wait)))


class _Retry(Exception):
    pass


def _size(part: Path) -> str:
    n = part.stat().st_size if part.exists() else 0
    return f"{n / MB:,.1f} MB"


def _fetch(
    client: CtgovClient,
    url: str,
    headers: dict[str, str],
    part: Path,
    meta: Path,
    have: int,
    progress: Progress | None,
) -> bool:
    """One request: True when the archive is whole on disk, False when it stopped short
    (having written something, or nothing to resume from); raises for a retryable failure."""
    with client.stream(url, DOWNLOAD_PARAMS, headers) as response:
        status = response.status_code
        if status == 416 and have:
            # Nothing past what is on disk: either it is whole (its size unknown here) or
            # the file changed; start again rather than guess.
            part.unlink(missing_ok=True)
            return False
        if status in RETRY_STATUSES:
            raise _Retry(f"HTTP {status}")
        if status not in (200, 206):
            body = response.read().decode(errors="replace")
            raise ApiHTTPError(status, str(response.url), body)
        offset = have if status == 206 else 0
        total = _total_of(response, offset)
        if total is None:
            raise DownloadError(f"{short_url(url)} answered without the archive's length")
        etag = response.headers.get("ETag", "")
        meta.write_text(json.dumps({"etag": etag, "total": str(total)}))
        done = offset
        with part.open("r+b" if offset else "wb") as f:
            f.seek(offset)
            f.truncate()
            try:
                for piece in response.iter_bytes():  # as it arrives: a cut keeps it all
                    f.write(piece)
                    done += len(piece)
                    if progress is not None:
                        progress(done // MB, max(1, total // MB), "archive")
            finally:
                f.flush()
        if done > total:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{short_url(url)} sent more than the {total} bytes it announced")
        if done < total:
            if done == offset:
                raise _Retry("the answer ended before its first byte")
            return False
        return True


def discard(dest: Path) -> None:
    """Forget a downloaded archive and any partial one (a corrupt archive is fetched again)."""
    for path in (
        dest,
        dest.with_name(dest.name + ".part"),
        dest.with_name(dest.name + ".part.json"),
    ):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
