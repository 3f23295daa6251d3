"""Answers that lie: endless page tokens (tracked sync, watch search, mirror load) and one
study twice (on a page, identical or not, and on two pages of one run)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chaos.paging import SYNC_LIES, lie_to_mirror, lie_to_sync

KINDS = ("sqlite", "postgresql")


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", KINDS, indirect=True)
@pytest.mark.parametrize("label", list(SYNC_LIES))
def test_lying_answer(kind_engine: Any, record_property: Any, label: str) -> None:
    record_property("chaos", lie_to_sync(kind_engine, label).row())


@pytest.mark.slow
@pytest.mark.parametrize("kind_engine", KINDS, indirect=True)
def test_endless_mirror_load(kind_engine: Any, record_property: Any) -> None:
    record_property("chaos", lie_to_mirror(kind_engine).row())
