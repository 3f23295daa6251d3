"""Fixtures of the attack suite: databases chosen per test, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import db


def database_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of this kind (the PostgreSQL one is the worker's, reset)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'trialwatch.db'}"
    from tests.support.fixtures import reset_pg

    url = str(request.getfixturevalue("pg_database"))
    reset_pg(url)
    return url


@pytest.fixture
def kind_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated engine of the kind given by indirect parametrisation ("sqlite"/"postgresql")."""
    eng = db.make_engine(database_url(request.param, request, tmp_path))
    db.upgrade(eng)
    yield eng
    eng.dispose()
