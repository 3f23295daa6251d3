"""The read side's queries on a mirror of 100,000 studies in PostgreSQL: no plan reads a table
that grows with the scope whole unless the query needs it whole (`python -m bench.explain`
does the same at 500,000 and prints the plans)."""

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


def test_read_side_queries_use_indexes_at_scale(big_pg: sa.Engine) -> None:
    now = datetime.now(UTC)
    counts = bulkfill.fill(big_pg, STUDIES, now)
    assert counts["trial"] == STUDIES
    assert counts["watchmatch"] == STUDIES + STUDIES // bulkfill.SMALL_EVERY
    plans = bulkfill.read_side(big_pg, now)
    # Every case ran its queries (an empty capture would pass vacuously).
    assert {p.query for p in plans} == {c.name for c in bulkfill.cases(big_pg, now)}
    scans = [
        f"{p.query}: sequential scan of {', '.join(p.seq_scans)} in {' '.join(p.sql.split())[:160]}"
        for p in plans
        if p.seq_scans
    ]
    assert not scans, "\n".join(scans)
