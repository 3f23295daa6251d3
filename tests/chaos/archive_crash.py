"""Crash attacks on a whole-registry mirror's first load from the archive: the CLI SIGKILLed
while it downloads the archive or while it stores its entries; the rerun resumes the download
by range and the load by entry, and stores every study exactly once, as served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from models import Meta
from models.db import session_scope
from sync.config import Settings
from sync.ingest import run as sync_engine
from sync.registry.archive import ARCHIVE_NAME
from sync.testing.archive import ARCHIVE_PATH
from sync.testing.fakectgov import FakeRegistry
from sync.watches import runner as discover
from tests.chaos import harness, procs
from tests.chaos.crash import CrashResult, _url
from tests.chaos.mirror_crash import STUDIES, assert_loaded, build, stored, sync_killed

BATCH = 100
# 2,000 real records are about 15 MB zipped: 58 pieces of 256 KB, 3 s at this pace.
PIECE_DELAY = 0.05
CONFIG = """
[[watches]]
name = "everything"
mirror = true
from_archive = true
"""


def _phase(data: Path, engine: Engine) -> tuple[str, int]:
    """Where the kill left the load: the download (bytes on disk) or the ingest (entries)."""
    part = data / "archive" / (ARCHIVE_NAME + ".part")
    with session_scope(engine) as s:
        loads = s.exec(select(Meta.value).where(col(Meta.key).startswith("archive_load:"))).all()
    done = max((int(v.get("done") or 0) for v in loads), default=0)
    if loads and any(v.get("complete") for v in loads):
        return "after the ingest", done
    if done:
        return "ingest", done
    if part.exists():
        return "download", part.stat().st_size
    return "before the download", 0


def crash_archive_load(
    engine: Engine, tmp: Path, *, kill_at: str | None = None, kill_after: float | None = None
) -> CrashResult:
    with FakeRegistry(lean=True) as fake:
        hashes = build(fake)
        fake.publish_archive()
        fake.archive_delay = PIECE_DELAY
        data = tmp / "data"
        (tmp / "config.toml").write_text(CONFIG, encoding="utf-8")
        env = procs.cli_env(
            fake,
            _url(engine),
            tmp,
            TW_KILL_AT=kill_at or "",
            TRIALWATCH_DATA_DIR=str(data),
            TRIALWATCH_API__MIRROR_PAGE_SIZE=str(BATCH),
        )
        killed, seconds = sync_killed(engine, env, kill_after)
        phase, reached = _phase(data, engine)
        before = stored(engine)
        wrong = {n: h for n, h in before.items() if h != [hashes[n]]}
        assert not wrong, f"studies not stored exactly once as served: {list(wrong)[:5]}"

        fake.reset_requests()
        fake.archive_delay = 0.0
        settings = Settings.model_validate(
            {
                "data_dir": str(data),
                "watches": [{"name": "everything", "mirror": True, "from_archive": True}],
            }
        )
        with harness.make_client(fake, mirror_page_size=BATCH) as client:
            hook = discover.sync_hook(engine, settings, client)
            again = sync_engine.run_sync(engine, client, before_fetch=hook)
        assert again.outcome == "ok", again.errors
        downloads = [r for r in fake.requests if r.path == ARCHIVE_PATH]
        if phase == "download":
            # Resumed from the bytes on disk, not downloaded again.
            assert [r.range for r in downloads] == [f"bytes={reached}-"], downloads
        if phase in ("ingest", "after the ingest"):
            assert not downloads, "the archive was downloaded again"
        # The rerun's record is true: it claims exactly the versions the kill left to store.
        assert again.new_versions == STUDIES - len(before), (again.new_versions, len(before))
        after = stored(engine)
        assert after == {n: [h] for n, h in hashes.items()}, "lost or duplicated studies"
        assert_loaded(engine)
        assert not list((data / "archive").glob("*")), "the archive was left behind"
    row: dict[str, Any] = {
        "table": "archive",
        "what": f"archive load of {STUDIES}",
        "kill": kill_at or f"after {kill_after}s",
        "phase": f"{phase} ({reached:,} {'bytes' if phase == 'download' else 'entries'})",
        "db": engine.dialect.name,
        "killed": "yes" if killed else "finished first",
        "integrity": "ok",
        "rerun": f"converged ({len(before)} kept, {len(downloads)} downloads)",
        "versions lost": 0,
        "duplicates": 0,
    }
    return CrashResult(killed, seconds, row)
