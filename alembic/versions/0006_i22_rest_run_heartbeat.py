"""a running run's heartbeat: syncrun.heartbeat_at

A run stamps it (by the database's clock) as it commits its work, at most every few seconds.
Another host's run whose process died cannot be seen from here (no pid to ask): once its
heartbeat is older than database.stale_run_seconds, the next run closes it as failed, "the
process stopped responding (host X)". Rows written before this column read NULL: their
started_at stands for it.

Revision ID: 0006_i22_rest_run_heartbeat
Revises: 0005_i24_pages_trial_search
Create Date: 2026-12-07 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0006_i22_rest_run_heartbeat"
down_revision: str | None = "0005_i24_pages_trial_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("syncrun", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("syncrun", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
