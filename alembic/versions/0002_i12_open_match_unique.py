"""an open watch membership is unique per (watch, study)

Two `watch run`s at once could each open a membership for the same new match. A partial
unique index (only rows with left_at IS NULL: a study may leave and come back) makes the
second writer fail instead, and discover.run_watch then re-reads and updates the open row.

Revision ID: 0002_i12_open_match_unique
Revises: 0001
Create Date: 2026-11-29 20:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002_i12_open_match_unique"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("left_at IS NULL")


def upgrade() -> None:
    # Duplicates left by earlier races: the oldest open row of a pair is the membership, the
    # others are copies of it (same watch, same study, same stay).
    op.execute(
        "DELETE FROM watchmatch WHERE left_at IS NULL AND id NOT IN ("
        "SELECT keep FROM (SELECT MIN(id) AS keep FROM watchmatch WHERE left_at IS NULL "
        "GROUP BY watch_id, nct_id) AS firsts)"
    )
    op.create_index(
        "uq_watchmatch_open",
        "watchmatch",
        ["watch_id", "nct_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("uq_watchmatch_open", table_name="watchmatch")
