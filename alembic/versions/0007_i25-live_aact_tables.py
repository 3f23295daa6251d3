"""AACT's tables in the live PostgreSQL database (schemas aact_history, ctgov, as_of)

The versioned AACT tables (sync/aact), their current-state views under AACT's names in AACT's
own schema `ctgov`, the state on any day (`as_of.TABLE(day)` and the `as_of` views of the day
`SET aact.day` names), the dictionary as COMMENT ON, and `aact_history.refreshed` (which
version of each trial they hold). They are derived from the stored versions and filled by the
refresh after each sync when `[aact] live = true` (sync/aact/live.py). PostgreSQL only: on
SQLite this does nothing (the AACT tables there are `export --format aact`).

The statements come from sync.aact.pgsql (pure strings) at the time this runs: a later change to
the AACT columns is a migration that drops the schemas and makes them again the same way (the
next refresh refills every trial). The read-only role, when `trialwatch db aact-reader` has made
it, gets its grants again.

Revision ID: 0007_i25_live_aact_tables
Revises: 0006_i22_rest_run_heartbeat
Create Date: 2026-12-07 17:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_i25_live_aact_tables"
down_revision: str | None = "0006_i22_rest_run_heartbeat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from sync.aact import pgsql

    # Derived data: schemas left by a database whose trialwatch tables were dropped go first.
    # One round trip (without parameters psycopg sends the statements as one query).
    bind.exec_driver_sql(";\n".join([*pgsql.drop_sql(), *pgsql.create_sql()]))
    role = bind.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{pgsql.READER}'").scalar()
    if role:
        bind.exec_driver_sql(";\n".join(pgsql.grant_sql(pgsql.READER)))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from sync.aact import pgsql

    bind.exec_driver_sql(";\n".join(pgsql.drop_sql()))
