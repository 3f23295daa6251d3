"""The one lock implementation (sync.store.locks): named, per database, refused when held."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from sync.daemon.leader import PG_LOCK_KEY
from sync.store import locks


def test_a_held_lock_is_refused_and_says_who_until_released(engine: sa.Engine) -> None:
    held = locks.acquire(engine, "sync")
    try:
        assert held.alive()
        with pytest.raises(locks.Busy) as busy:
            locks.acquire(engine, "sync")
        if held.kind == "file":
            assert str(busy.value) == f"pid {os.getpid()}"
            assert busy.value.where.endswith(".sync.lock")
        else:
            assert held.kind == "postgresql"
            assert busy.value.where == f"advisory lock {locks.advisory_key('sync')}"
        with locks.exclusive(engine, "backfill"):  # another name is another lock
            pass
    finally:
        held.release()
    assert not held.alive()
    with locks.exclusive(engine, "sync"):
        pass


def test_one_key_derivation_and_the_leader_keeps_its_key_and_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert PG_LOCK_KEY == locks.advisory_key(locks.LEADER)
    assert locks.advisory_key("sync") != locks.advisory_key("backfill")
    db = tmp_path / "trialwatch.db"
    assert locks.lock_file(str(db), locks.LEADER) == db.with_name("trialwatch.db.lock")
    assert locks.lock_file(str(db), "sync") == db.with_name("trialwatch.db.sync.lock")
