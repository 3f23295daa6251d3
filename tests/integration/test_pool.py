"""Both cores: an archive load made by a pool of workers stores exactly what the single process
stores (the same trials, versions, hashes, compressed bodies, dictionary and members, byte for
byte), on SQLite and PostgreSQL, from real records; and the compact central-directory reader
reads what zipfile reads."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from models import CompressionDict, Snapshot, Trial, WatchMatch, db
from models.db import session_scope
from sync.config import ApiSettings, Settings
from sync.ingest import pool
from sync.ingest.archive import ArchiveReader
from sync.registry.client import CtgovClient
from sync.testing import archive as fake_archive
from sync.testing.factory import registry_study
from sync.testing.fakectgov import FakeRegistry
from sync.watches import definitions as watches
from sync.watches import mirror
from sync.watches import runner as discover

N = 500
BATCH = 120  # the first batch trains the dictionary; the ones in flight meanwhile have none
UNFIT = 7  # a record with a field of the wrong type: reported, not stored, either way


def _studies() -> list[dict[str, Any]]:
    out = []
    for i in range(1, N + 1):
        study = registry_study(i, f"2026-10-{1 + i % 28:02d}")
        if i == UNFIT:
            study["protocolSection"]["identificationModule"]["briefTitle"] = 12
        out.append(study)
    return out


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("archive") / fake_archive.ARCHIVE_NAME
    return fake_archive.write_archive(_studies(), path)


def _load(engine: sa.Engine, fake: FakeRegistry, archive: Path, tmp: Path, workers: int) -> Any:
    with session_scope(engine) as session:
        cfg = watches.check("everything", {"mirror": True, "from_archive": str(archive)})
        watches.add_watch(session, cfg, set())
    api = ApiSettings(
        requests_per_second=1000.0,
        retry_wait_initial=0.01,
        retry_wait_max=0.05,
        mirror_page_size=BATCH,
        workers=workers,
        pool_min_records=1,
    )
    with CtgovClient(fake.base_url, fake.history_url, api) as client:
        (result,) = discover.run_watches(
            engine, client, ["everything"], settings=Settings(data_dir=str(tmp / "data"))
        )
    assert isinstance(result, mirror.MirrorResult)
    return result


def _rows(engine: sa.Engine) -> dict[str, Any]:
    """What a load stored, by NCT ID (row IDs aside); the dictionary by its bytes."""
    with session_scope(engine) as s:
        dicts = {d.id: bytes(d.data) for d in s.exec(select(CompressionDict))}
        trials = {t.id: t for t in s.exec(select(Trial))}
        snaps = {
            (trials[x.trial_id].nct_id, x.version): (
                x.content_hash, x.canon_version, x.encoding, bytes(x.body), x.raw_size,
                x.last_update_posted, x.last_update_submitted, x.origin,
                dicts.get(x.dict_id) if x.dict_id else None,
            )
            for x in s.exec(select(Snapshot))
        }  # fmt: skip
        members = {
            m.nct_id: (m.title, m.status, m.info, m.left_at) for m in s.exec(select(WatchMatch))
        }
        by_nct = {
            t.nct_id: (t.title, t.status, t.last_update_posted, t.latest_version, t.source,
                       t.registry_state, t.active)
            for t in trials.values()
        }  # fmt: skip
    return {"trials": by_nct, "snapshots": snaps, "members": members, "dicts": len(dicts)}


def test_a_pooled_archive_load_stores_what_the_single_process_stores(
    engine: sa.Engine, fake_ctgov: FakeRegistry, archive: Path, tmp_path: Path
) -> None:
    for study in _studies():
        fake_ctgov.put(study)
    single = db.make_engine(f"sqlite:///{tmp_path}/single.db")
    db.upgrade(single)
    one = _load(single, fake_ctgov, archive, tmp_path / "one", workers=1)
    reference = _rows(single)
    single.dispose()

    pool.LAST_WORKERS = 0
    both = _load(engine, fake_ctgov, archive, tmp_path / "two", workers=2)
    assert pool.LAST_WORKERS == 2, "the load was not made by the pool"
    pooled = _rows(engine)

    assert reference["dicts"] == 1 and len(reference["snapshots"]) == N - 1
    assert pooled == reference
    # The closing API delta fetches the newest day's studies again, unchanged, either way.
    assert (both.fetched, both.new_versions) == (one.fetched, one.new_versions)
    assert both.new_versions == N - 1
    assert both.error == one.error and "wrong type" in (both.error or ""), both.error


def test_the_compact_directory_reads_what_zipfile_reads(archive: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.header_offset)
        expected = [(i.filename, zf.read(i)) for i in infos]
    with ArchiveReader(archive) as reader:
        got = [(name, data) for _, name, data in reader.entries()]
        assert reader.spec(3)[2] == infos[3].header_offset
    assert got == expected
