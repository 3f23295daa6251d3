"""A whole-registry mirror's first load from the registry's archive (SQLite and PostgreSQL):
downloaded resumably, validated, stored by entry in batches and resumed by entry, closed by an
API delta from the archive's data date; truncated and corrupt archives are errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from models import Snapshot, SyncRun, Trial
from models.db import session_scope
from sync.config import ApiSettings, Settings, WatchConfig
from sync.core import record
from sync.ingest import archive_load
from sync.ingest.archive import ArchiveReader
from sync.registry.client import CtgovClient
from sync.store import snapshots as store
from sync.testing import archive as fake_archive
from sync.testing.factory import nct, registry_study
from sync.testing.fakectgov import FakeRegistry
from sync.watches import definitions as watches
from sync.watches import mirror
from sync.watches import runner as discover
from tests.support.stored import counts

N = 60
BATCH = 10
FIRST_DAY = date(2026, 9, 1)
ARCHIVE_PATH = fake_archive.ARCHIVE_PATH


def day_of(i: int) -> str:
    return (FIRST_DAY + timedelta(days=i // 6)).isoformat()


NEWEST = day_of(N)
LATER = (date.fromisoformat(NEWEST) + timedelta(days=3)).isoformat()


def fill(fake: FakeRegistry, n: int = N) -> None:
    for i in range(1, n + 1):
        fake.put(registry_study(i, day_of(i)))


def published(fake: FakeRegistry) -> bytes:
    """N studies, and the registry's archive of them (in memory)."""
    fill(fake)
    whole = fake.publish_archive()
    assert isinstance(whole, bytes)
    return whole


@pytest.fixture
def mclient(fake_ctgov: FakeRegistry, api_settings: ApiSettings) -> Iterator[CtgovClient]:
    settings = api_settings.model_copy(update={"mirror_page_size": BATCH, "max_attempts": 3})
    with CtgovClient(fake_ctgov.base_url, fake_ctgov.history_url, settings) as c:
        yield c


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"))


def add_mirror(engine: sa.Engine, name: str = "everything", source: bool | str = True) -> None:
    with session_scope(engine) as session:
        cfg = watches.check(name, {"mirror": True, "from_archive": source})
        watches.add_watch(session, cfg, set())


def run(engine: sa.Engine, client: CtgovClient, settings: Settings) -> mirror.MirrorResult:
    (result,) = discover.run_watches(engine, client, ["everything"], settings=settings)
    assert isinstance(result, mirror.MirrorResult)
    return result


def latest(engine: sa.Engine, nct_id: str) -> int:
    with session_scope(engine) as s:
        trial = s.exec(select(Trial).where(Trial.nct_id == nct_id)).one()
        return int(trial.latest_version or 0)


def mirror_state(engine: sa.Engine) -> dict[str, Any]:
    with session_scope(engine) as s:
        watch = watches.get_watch(s, "everything")
        state = store.get_meta(s, mirror.STATE_KEY.format(watch.id))
    return state or {}


def scope_pages(fake: FakeRegistry) -> list[dict[str, str]]:
    """The /studies pages of the mirror's scope (not the ID listing, not /version)."""
    return [r.params for r in fake.requests if r.path == "/api/v2/studies"]


def test_the_first_load_comes_from_the_archive_and_the_api_delta_catches_later_updates(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient, settings: Settings
) -> None:
    fill(fake_ctgov)
    fake_ctgov.publish_archive()
    # After the archive was made: one study updated, one new.
    updated = nct(7)
    study = registry_study(7, LATER)
    study["protocolSection"]["identificationModule"]["briefTitle"] = "Retitled after the archive"
    fake_ctgov.put(study)
    fresh = registry_study(N + 1, LATER)
    fake_ctgov.put(fresh)
    add_mirror(engine)

    result = run(engine, mclient, settings)

    assert result.outcome == "ok", result.error
    assert result.complete
    assert counts(engine) == (N + 1, N + 2, N + 2)
    assert latest(engine, updated) == 2
    assert latest(engine, nct(N + 1)) == 1
    downloads = [r for r in fake_ctgov.requests if r.path == ARCHIVE_PATH]
    assert len(downloads) == 1
    # The API was asked only from the archive's data date less a day, never for everything.
    windows = [p.get("filter.advanced", "") for p in scope_pages(fake_ctgov)]
    assert windows and all(
        w == f"AREA[LastUpdatePostDate]RANGE[{date.fromisoformat(NEWEST) - timedelta(days=1)},MAX]"
        for w in windows
    )
    # The archive is the data directory's only while it is loaded.
    assert not list((settings.data_path / "archive").glob("*"))
    assert mirror_state(engine)["complete"] is True

    # The next run is an ordinary delta: no download again.
    fake_ctgov.bump()
    again = run(engine, mclient, settings)
    assert again.outcome == "ok" and again.mode == "delta"
    assert len([r for r in fake_ctgov.requests if r.path == ARCHIVE_PATH]) == 1


def test_an_archive_on_disk_is_loaded_and_kept(
    engine: sa.Engine,
    fake_ctgov: FakeRegistry,
    mclient: CtgovClient,
    settings: Settings,
    tmp_path: Path,
) -> None:
    fill(fake_ctgov)
    path = fake_ctgov.publish_archive(tmp_path / "given" / fake_archive.ARCHIVE_NAME)
    assert isinstance(path, Path)
    add_mirror(engine, source=str(path))

    result = run(engine, mclient, settings)

    assert result.outcome == "ok", result.error
    assert counts(engine) == (N, N, N)
    assert path.exists()
    assert not [r for r in fake_ctgov.requests if r.path == ARCHIVE_PATH]


class Killed(BaseException):
    """A kill in the middle of a batch: nothing of the batch commits."""


def test_a_load_killed_between_batches_resumes_at_the_first_entry_not_stored(
    engine: sa.Engine,
    fake_ctgov: FakeRegistry,
    mclient: CtgovClient,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill(fake_ctgov)
    path = fake_ctgov.publish_archive(tmp_path / fake_archive.ARCHIVE_NAME)
    add_mirror(engine, source=str(path))
    real_ingest = mirror._Mirror.ingest
    calls = {"n": 0}

    def dying(self: mirror._Mirror, session: Any, studies: Any, *, announce: bool) -> str:
        calls["n"] += 1
        if calls["n"] == 4:
            real_ingest(self, session, studies, announce=announce)
            raise Killed  # inside the transaction: the fourth batch never commits
        return real_ingest(self, session, studies, announce=announce)

    monkeypatch.setattr(mirror._Mirror, "ingest", dying)
    with pytest.raises(Killed):
        run(engine, mclient, settings)
    assert counts(engine) == (3 * BATCH, 3 * BATCH, 3 * BATCH)
    assert mirror_state(engine).get("complete") is not True

    monkeypatch.setattr(mirror._Mirror, "ingest", real_ingest)
    read: list[int] = []
    real_entries = ArchiveReader.entries

    def counted(self: ArchiveReader, start: int = 0) -> Iterator[tuple[int, str, bytes]]:
        for item in real_entries(self, start):
            read.append(item[0])
            yield item

    monkeypatch.setattr(ArchiveReader, "entries", counted)
    result = run(engine, mclient, settings)

    assert result.outcome == "ok", result.error
    assert read == list(range(3 * BATCH, N))
    assert counts(engine) == (N, N, N)


def test_a_truncated_archive_is_an_error_and_nothing_is_loaded(
    engine: sa.Engine,
    fake_ctgov: FakeRegistry,
    mclient: CtgovClient,
    settings: Settings,
    tmp_path: Path,
) -> None:
    whole = published(fake_ctgov)
    path = tmp_path / fake_archive.ARCHIVE_NAME
    path.write_bytes(fake_archive.truncated(whole))
    add_mirror(engine, source=str(path))

    result = run(engine, mclient, settings)

    assert result.outcome == "failed"
    assert "not a whole zip archive" in (result.error or "")
    assert not result.complete
    assert counts(engine) == (0, 0, 0)
    assert not scope_pages(fake_ctgov)  # no API load passed off as the archive's


def test_a_truncated_download_is_refused_and_fetched_again_next_run(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient, settings: Settings
) -> None:
    whole = published(fake_ctgov)
    fake_ctgov.archive = fake_archive.truncated(whole, 0.8)  # served with its honest length
    add_mirror(engine)

    failed = run(engine, mclient, settings)
    assert failed.outcome == "failed" and "truncated" in (failed.error or "")
    assert counts(engine) == (0, 0, 0)
    assert not list((settings.data_path / "archive").glob("*"))

    fake_ctgov.archive = whole
    result = run(engine, mclient, settings)
    assert result.outcome == "ok", result.error
    assert counts(engine) == (N, N, N)


@pytest.mark.parametrize("kind", ["data", "crc"])
def test_a_corrupt_entry_stops_the_load_unfinished_and_a_good_archive_finishes_it(
    engine: sa.Engine,
    fake_ctgov: FakeRegistry,
    mclient: CtgovClient,
    settings: Settings,
    kind: str,
) -> None:
    whole = published(fake_ctgov)
    fake_ctgov.archive = fake_archive.corrupted(whole, 25, kind=kind)
    add_mirror(engine)

    failed = run(engine, mclient, settings)
    assert failed.outcome == "failed"
    assert "is corrupt" in (failed.error or "")
    assert not failed.complete and mirror_state(engine).get("complete") is not True
    # The batches before the damaged entry are stored, the damaged one's batch is not.
    assert counts(engine) == (20, 20, 20)
    assert not scope_pages(fake_ctgov)

    fake_ctgov.archive = whole
    result = run(engine, mclient, settings)
    assert result.outcome == "ok", result.error
    assert counts(engine) == (N, N, N)


def test_a_cut_download_resumes_by_range(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient, settings: Settings
) -> None:
    whole = published(fake_ctgov)
    fake_ctgov.archive_cuts = [len(whole) // 3, 100]
    add_mirror(engine)

    result = run(engine, mclient, settings)

    assert result.outcome == "ok", result.error
    downloads = [r for r in fake_ctgov.requests if r.path == ARCHIVE_PATH]
    assert [(r.status, r.range) for r in downloads] == [
        (200, None),
        (206, f"bytes={len(whole) // 3}-"),
        (206, f"bytes={len(whole) // 3 + 100}-"),
    ]
    assert counts(engine) == (N, N, N)


def test_a_server_without_ranges_gets_the_download_again_from_the_start(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient, settings: Settings
) -> None:
    whole = published(fake_ctgov)
    fake_ctgov.archive_ranges = False
    fake_ctgov.archive_cuts = [len(whole) // 2]
    add_mirror(engine)

    result = run(engine, mclient, settings)

    assert result.outcome == "ok", result.error
    downloads = [r for r in fake_ctgov.requests if r.path == ARCHIVE_PATH]
    assert [r.status for r in downloads] == [200, 200]
    assert counts(engine) == (N, N, N)


def test_the_archives_data_date_is_its_newest_update(tmp_path: Path, engine: sa.Engine) -> None:
    studies = [registry_study(i, day_of(i)) for i in range(1, 13)]
    path = fake_archive.write_archive(studies, tmp_path / fake_archive.ARCHIVE_NAME)
    stored: list[str] = []
    with ArchiveReader(path) as reader:
        assert len(reader) == 12
        newest = archive_load.load_archive(
            engine,
            reader,
            "test",
            ingest=lambda _s, batch: stored.extend(record.nct_id_of(s) for s in batch),
            error=pytest.fail,
        )
    assert newest == max(day_of(i) for i in range(1, 13))
    assert sorted(stored) == sorted(nct(i) for i in range(1, 13))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from_archive": True}, "needs mirror"),
        ({"mirror": True, "cond": "lymphoma", "from_archive": True}, "whole-registry"),
    ],
)
def test_from_archive_is_for_a_whole_registry_mirror(params: dict[str, Any], message: str) -> None:
    with pytest.raises(watches.InvalidWatch, match=message):
        watches.check("w", params)


def test_watch_add_from_archive_then_watch_run_loads_it_end_to_end(
    cli: Any, fake_ctgov: FakeRegistry, tmp_path: Path
) -> None:
    fill(fake_ctgov)
    fake_ctgov.publish_archive()
    cli.env["TRIALWATCH_DATA_DIR"] = str(tmp_path / "data")
    cli.env["TRIALWATCH_PROGRESS_SECONDS"] = "0.001"
    cli.env["TRIALWATCH_API__MIRROR_PAGE_SIZE"] = str(BATCH)
    added = cli("watch", "add", "everything", "--mirror", "--from-archive", "--json")
    assert added.exit_code == 0, added.stderr
    assert added.json()["query"] == {"mirror": True, "from_archive": True}

    ran = cli("watch", "run", "everything", "--json")

    assert ran.exit_code == 0, ran.stderr
    (watch,) = ran.json()["watches"]
    assert watch["outcome"] == "ok" and watch["complete"] is True
    # The archive's N, and the closing delta's last two days again (the same content).
    assert watch["new_versions"] == N and watch["matches"] == N and watch["fetched"] > N
    # Not a terminal: progress lines on stderr.
    assert "loading the archive: " in ran.stderr
    assert len([r for r in fake_ctgov.requests if r.path == ARCHIVE_PATH]) == 1


def test_watch_add_with_an_archive_file_stores_its_absolute_path(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    added = cli(
        "watch", "add", "everything", "--mirror", "--from-archive",
        "--archive-file", "ctg.zip", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert added.json()["query"]["from_archive"] == str(tmp_path / "ctg.zip")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mirror", "--archive-file", "x.zip"], "--archive-file needs --from-archive"),
        (["--mirror", "--cond", "lymphoma", "--from-archive"], "whole-registry mirror"),
        (["--cond", "lymphoma", "--from-archive"], "needs mirror"),
    ],
)
def test_from_archive_misuse_is_one_line_exit_2(cli: Any, args: list[str], message: str) -> None:
    result = cli("watch", "add", "w", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_the_runs_record_counts_the_archive_batches_that_committed(
    engine: sa.Engine, fake_ctgov: FakeRegistry, mclient: CtgovClient, tmp_path: Path
) -> None:
    whole = published(fake_ctgov)
    fake_ctgov.archive = fake_archive.corrupted(whole, 25)
    cfg = WatchConfig.model_validate({"name": "everything", "mirror": True, "from_archive": True})
    settings = Settings(data_dir=str(tmp_path / "data"), watches=[cfg])

    done = discover.run_recorded(engine, mclient, settings, ["everything"])
    run_id, results = done.run_id, done.results

    assert [r.outcome for r in results] == ["failed"]
    with session_scope(engine) as s:
        row = s.get(SyncRun, run_id)
        assert row is not None
        kept = s.exec(
            select(func.count()).select_from(Snapshot).where(col(Snapshot.run_id) == run_id)
        ).one()
    assert kept == 20
    assert (row.outcome, row.fetched, row.new_versions) == ("failed", 20, 20)
