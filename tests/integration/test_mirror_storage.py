"""A mirror's first versions: hashed in the received form, compressed with a dictionary trained
on the first large page, read back whole by every reader (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import orjson
import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from models import CompressionDict, Snapshot, Trial
from models.db import session_scope
from sync.config import ApiSettings, Settings
from sync.core import record
from sync.ingest import run as sync_engine
from sync.registry.client import CtgovClient
from sync.report import export
from sync.store import codec
from sync.store import snapshots as store
from sync.testing.factory import nct, registry_study
from sync.testing.fakectgov import FakeRegistry
from sync.watches import definitions as watches
from sync.watches import runner as discover

N = 150  # one page: enough records (and bytes) to train on
DAY = "2026-06-01"
TRACKED = 900  # a study outside the mirror, tracked by ID


@pytest.fixture
def mclient(fake_ctgov: FakeRegistry) -> Iterator[CtgovClient]:
    settings = ApiSettings(
        requests_per_second=1000, max_attempts=2, retry_wait_initial=0.01,
        retry_wait_max=0.02, mirror_page_size=N,
    )
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as c:
        yield c


def sync(engine: sa.Engine, client: CtgovClient) -> sync_engine.SyncSummary:
    summary = sync_engine.run_sync(
        engine, client, before_fetch=discover.sync_hook(engine, Settings(), client)
    )
    assert summary.outcome == "ok", summary.errors
    return summary


def _snapshots(engine: sa.Engine) -> dict[tuple[str, int], Snapshot]:
    with session_scope(engine) as s:
        rows = s.exec(
            select(Trial.nct_id, Snapshot).join(Snapshot, col(Snapshot.trial_id) == col(Trial.id))
        )
        return {(n, snap.version): snap for n, snap in rows}


def test_first_load_trains_a_dictionary_and_every_reader_decodes_with_it(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient, tmp_path
) -> None:
    served = {}
    for i in range(1, N + 1):
        study = registry_study(i, DAY)
        fake_ctgov.put(study)
        served[nct(i)] = study
    with session_scope(engine) as s:
        watches.add_watch(s, watches.check("everything", {"mirror": True}), set())
    sync(engine, mclient)

    with session_scope(engine) as s:
        dicts = list(s.exec(select(CompressionDict)))
    assert len(dicts) == 1 and codec.TRAIN_MIN_SAMPLES <= dicts[0].samples <= N
    assert dicts[0].samples == codec.TRAIN_MIN_SAMPLES or (
        codec.TRAIN_MAX_BYTES <= dicts[0].sample_bytes < codec.TRAIN_MAX_BYTES + 400_000
    )
    snaps = _snapshots(engine)
    assert len(snaps) == N
    assert {x.encoding for x in snaps.values()} == {codec.TRAINED}
    assert {x.dict_id for x in snaps.values()} == {dicts[0].id}
    # Stored in the received form, and read back byte for byte as the registry sent it.
    with session_scope(engine) as s:
        for (nct_id, _v), snap in snaps.items():
            assert snap.canon_version == record.RECEIVED_FORM
            assert snap.content_hash == record.received_hash(served[nct_id])
            assert store.record_of(s, snap) == served[nct_id]
    body = sum(len(x.body) for x in snaps.values())
    raw = sum(x.raw_size for x in snaps.values())
    alone = sum(len(codec.encode(orjson.dumps(st))[1]) for st in served.values())
    assert body < alone, (body, alone)  # the dictionary pays for itself on this page alone
    assert body / raw < 0.25

    # A trial tracked by ID later: its first version is compressed with the same dictionary.
    fake_ctgov.put(registry_study(TRACKED, DAY))
    with session_scope(engine) as s:
        sync_engine.track(s, [nct(TRACKED)])
    fake_ctgov.bump()
    # One mirrored study changes: its version 2 is a delta against the trained keyframe.
    changed = registry_study(5, fake_ctgov.data_timestamp[:10])
    changed["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    fake_ctgov.put(changed)
    summary = sync(engine, mclient)
    assert summary.changes >= 1 or any(w.get("changes") for w in summary.watches)
    snaps = _snapshots(engine)
    tracked = snaps[(nct(TRACKED), 1)]
    assert tracked.encoding == codec.TRAINED and tracked.dict_id == dicts[0].id
    v2 = snaps[(nct(5), 2)]
    assert v2.encoding == codec.DELTA and v2.base_version == 1
    with session_scope(engine) as s:
        assert store.record_of(s, v2) == changed
        # The change was found in the canonical form, the first version recomputed from its body.
        assert v2.canon_version == record.CANON_VERSION

    # The export decodes every version too.
    target = tmp_path / "mirror.duckdb"
    out = export.export(engine, target)
    assert out.tables["versions"] == N + 2
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute("SELECT count(*) FROM versions").fetchone() == (N + 2,)


def test_a_page_too_small_trains_nothing(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient
) -> None:
    for i in range(1, 21):
        fake_ctgov.put(registry_study(i, DAY))
    with session_scope(engine) as s:
        watches.add_watch(s, watches.check("everything", {"mirror": True}), set())
    sync(engine, mclient)
    with session_scope(engine) as s:
        assert list(s.exec(select(CompressionDict))) == []
    assert {x.encoding for x in _snapshots(engine).values()} == {codec.WHOLE}


def test_a_cached_dictionary_is_not_taken_for_another_databases(tmp_path) -> None:
    """A database dropped and made again at the same URL, its dictionary 1 written by another
    process: the frame's dictionary ID tells that the cached copy is not this one's."""
    import zstandard

    from models import db

    url = f"sqlite:///{tmp_path}/again.db"
    samples = [orjson.dumps(registry_study(i, DAY)) for i in range(1, N + 1)]
    engine = db.make_engine(url)
    db.upgrade(engine)
    with session_scope(engine) as s:
        first = codec.train(s, samples)  # this process caches it
    assert first is not None and first.id == 1
    engine.dispose()
    (tmp_path / "again.db").unlink()

    engine = db.make_engine(url)
    db.upgrade(engine)
    other = [x.replace(b"TW-MIRROR", b"ELSEWHERE") for x in samples]
    zdict = zstandard.train_dictionary(codec.DICT_SIZE, other)
    assert zdict.dict_id() != first.zdict.dict_id()
    with session_scope(engine) as s:  # as another process would write it
        s.add(CompressionDict(zstd_id=zdict.dict_id(), samples=N, sample_bytes=1,
                              data=zdict.as_bytes()))
    body = zstandard.ZstdCompressor(level=3, dict_data=zdict).compress(other[0])
    with session_scope(engine) as s:
        assert codec.decode(codec.TRAINED, body, trained=codec.for_body(s, 1, body)) == other[0]
        assert codec.current(s) is not None and codec.current(s).zdict.dict_id() == zdict.dict_id()
    engine.dispose()
