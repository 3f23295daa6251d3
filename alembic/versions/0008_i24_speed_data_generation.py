"""the data generation: one row every committed write moves (triggers on every table)

The web app renders a page once per generation and answers ETags made from it
(sync/web/cache.py), so the number must move with every write, from any process, in the
write's own transaction: triggers do that whatever wrote (see models/generation.py for why a
deferred constraint trigger on PostgreSQL and row triggers on SQLite).

A later migration that creates a table, or rebuilds one in SQLite batch mode (which drops its
triggers), calls `generation.install(op.get_bind(), [table])` after it.

Revision ID: 0008_i24_speed_data_generation
Revises: 0007_i25_live_aact_tables
Create Date: 2026-12-07 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from models import generation

revision: str = "0008_i24_speed_data_generation"
down_revision: str | None = "0007_i25_live_aact_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        generation.TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_generation")),
    )
    op.bulk_insert(table, [{"id": 1, "n": 1}])
    generation.install(op.get_bind())


def downgrade() -> None:
    generation.uninstall(op.get_bind())
    op.drop_table(generation.TABLE)
