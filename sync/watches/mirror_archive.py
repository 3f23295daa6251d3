"""A whole-registry mirror's first load from the registry's archive instead of API pages.

Chosen per watch (`from_archive`: true to download the archive into the data directory, or
the path of an archive already on disk). The archive is downloaded (resumable), its central
directory checked, its entries stored in batches through the mirror's own page path,
resumably by entry; the mirror's mark is then the archive's data date minus the usual day of
overlap, and the mirror's normal API load from that mark closes the first load: a study the
registry updated after making its archive is fetched by the API. A downloaded archive is
deleted once loaded, and at once when it proves damaged (the next run downloads it again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from sync.config import Settings
from sync.core.progress import ProgressLine
from sync.ingest import archive_load
from sync.ingest import pool as workers
from sync.ingest.archive import ArchiveError, ArchiveReader
from sync.ingest.prepare import DictSpec, Prepared
from sync.registry.archive import ARCHIVE_NAME, discard, download_archive
from sync.registry.client import CtgovClient
from sync.store import lease

log = logging.getLogger(__name__)

ARCHIVE_DIR = "archive"
KEY = "mirror:{}"

Progress = Callable[[int, int, str], None]
# A batch of prepared records stored, with a way to have record i of it whole again.
PreparedIngest = Callable[[Session, list[Prepared], Callable[[int], dict[str, Any] | None]], Any]
# (label, unit) -> a progress callback for the time of one phase (the CLI's bar, or lines).
ProgressFactory = Callable[[str, str], AbstractContextManager[Progress]]


def chosen(params: dict[str, Any]) -> bool:
    return bool(params.get("from_archive"))


def archive_file(params: dict[str, Any], settings: Settings) -> tuple[Path, bool]:
    """Where the archive is, and whether it is trialwatch's to download (and delete)."""
    source = params.get("from_archive")
    if isinstance(source, str):
        path = Path(source).expanduser()
        return (path if path.is_absolute() else settings.base_dir / path), False
    return settings.data_path / ARCHIVE_DIR / ARCHIVE_NAME, True


def log_lines(settings: Settings) -> ProgressFactory:
    """Progress as a log line every progress_seconds (the daemon, a sync's hook)."""

    @contextmanager
    def factory(label: str, unit: str) -> Iterator[Progress]:
        yield ProgressLine(label, unit, log.info, interval=settings.progress_seconds)

    return factory


def first_load(
    engine: Engine,
    client: CtgovClient,
    watch_id: int,
    params: dict[str, Any],
    settings: Settings,
    *,
    ingest: Callable[[Session, list[dict[str, Any]]], Any],
    error: Callable[[str], None],
    transaction: Callable[[], AbstractContextManager[Session]],
    progress: ProgressFactory | None = None,
    prepared: PreparedIngest | None = None,
    spec: Callable[[], DictSpec] | None = None,
) -> str | None:
    """Load the mirror from the archive (or finish loading it); returns the archive's data
    date. DownloadError / ArchiveError when the archive cannot be had whole. `prepared` and
    `spec`: the mirror's way to store batches prepared by workers, and the dictionary they
    compress with; given, a large enough load is made with a pool (api.workers)."""
    key = KEY.format(watch_id)
    done = archive_load.loaded(engine, key)
    if done is not None:
        return done
    progress = progress or log_lines(settings)
    path, ours = archive_file(params, settings)
    if ours and not path.exists():
        with progress("downloading the registry's archive", "MB") as bar:
            # Nothing is committed while it downloads: the run's heartbeat is kept meanwhile.
            download_archive(client, path, progress=lease.beating(engine, bar))
    api = client.settings
    try:
        with (
            ArchiveReader(path) as reader,
            progress("loading the archive", "studies") as bar,
            ExitStack() as stack,
        ):
            pooled = None
            count = workers.worker_count(api.workers)
            if prepared and spec and workers.wanted(len(reader), count, api.pool_min_records):
                pool = stack.enter_context(workers.Pool(count))
                pooled = archive_load.Pooled(pool, prepared, spec)
            newest = archive_load.load_archive(
                engine,
                reader,
                key,
                ingest=ingest,
                error=error,
                batching=archive_load.Batching(api.mirror_page_size, api.mirror_page_bytes),
                progress=bar,
                transaction=transaction,
                pooled=pooled,
            )
    except ArchiveError:
        if ours:
            discard(path)
        raise
    if ours:
        discard(path)
    return newest
