"""The read side's queries on a mirror of 100,000 studies in PostgreSQL: no plan reads a table
that grows with the scope whole (`python -m bench.explain` does the same at 500,000)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from models import db
from sync.testing import bulkfill
from tests.support.fixtures import reset_pg

STUDIES = 100_000


@pytest.fixture
def big_pg(pg_database: str) -> Iterator[sa.Engine]:
    reset_pg(pg_database)
    engine = db.make_engine(pg_database)
    db.upgrade(engine)
    yield engine
    engine.dispose()
    reset_pg(pg_database)


def test_digest_history_and_mirror_queries_use_indexes_at_scale(big_pg: sa.Engine) -> None:
    now = datetime.now(UTC)
    counts = bulkfill.fill(big_pg, STUDIES, now)
    assert counts["trial"] == STUDIES and counts["watchmatch"] == STUDIES
    plans = bulkfill.read_side(big_pg, now)
    names = {p.query for p in plans}
    # Every case ran its queries (an empty capture would pass vacuously).
    assert names == {"digest, last day", "digest, last week", "history of a trial",
                     "show a trial", "diff v1 -> v2", "a mirror page's lookups",
                     bulkfill.WHOLE_SCOPE}, names
    scans = [(p.query, p.seq_scans, " ".join(p.sql.split())[:200]) for p in plans if p.seq_scans]
    assert not scans, scans
