"""indexes for the read side at registry scale, checked with EXPLAIN (bench.explain)

At 500,000 studies (bench.explain; tests/integration/test_query_plans.py at 100,000):

- ix_trial_source (new): the trials a watch made tracked, `trial.source = 'watch:<name>'`,
  asked by pageviews.watch_members (a watch's feed, the trials page's `?watch=` filter) and
  the export's watch selection. Without it, a sequential scan of every trial for the few a
  small watch tracks. Trial.source is written once a trial, so it costs the mirror's first
  load one index entry a trial and its updates nothing.
- ix_snapshot_trial_id (dropped): uq_snapshot_trial_version (trial_id, version) begins with
  the same column and serves every lookup by trial (PostgreSQL's planner picked the narrower
  one and then filtered on version); one index less for each version a mirror writes.

Revision ID: 0004_i17_query_indexes
Revises: 0003_i17_trained_dictionary
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_i17_query_indexes"
down_revision: str | None = "0003_i17_trained_dictionary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_trial_source"), "trial", ["source"], unique=False)
    op.drop_index(op.f("ix_snapshot_trial_id"), table_name="snapshot")


def downgrade() -> None:
    op.create_index(op.f("ix_snapshot_trial_id"), "snapshot", ["trial_id"], unique=False)
    op.drop_index(op.f("ix_trial_source"), table_name="trial")
