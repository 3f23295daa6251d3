"""the trial's lead sponsor and conditions, for the trials list's search

The web app's trials list searches by NCT ID, title, sponsor and condition in SQL (paged by
50, page 7 as fast as page 1): the sponsor and the conditions join the title and the status as
copies of the latest version on the trial row (filled at every sync, record.listed_fields).
Existing trials get them here, read from their latest stored version.

Revision ID: 0005_i24_pages_trial_search
Revises: 0004_i17_query_indexes
Create Date: 2026-12-07 17:00:00
"""

import logging
from collections.abc import Sequence

import orjson
import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0005_i24_pages_trial_search"
down_revision: str | None = "0004_i17_query_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
BATCH = 500

# The columns as this revision knows them (never the models: a later revision may add columns).
TRIAL = sa.table(
    "trial",
    sa.column("id", sa.Integer),
    sa.column("nct_id", sa.String),
    sa.column("latest_version", sa.Integer),
    sa.column("sponsor", sa.String),
    sa.column("conditions", sa.String),
)
SNAPSHOT = sa.table(
    "snapshot",
    sa.column("trial_id", sa.Integer),
    sa.column("version", sa.Integer),
    sa.column("encoding", sa.String),
    sa.column("base_version", sa.Integer),
    sa.column("dict_id", sa.Integer),
    sa.column("body", sa.LargeBinary),
)


def upgrade() -> None:
    op.add_column("trial", sa.Column("sponsor", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column(
        "trial", sa.Column("conditions", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
    )
    _fill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("trial") as batch:
        batch.drop_column("conditions")
        batch.drop_column("sponsor")


def _fill(conn: sa.Connection) -> None:
    """Every trial with a version: its sponsor and conditions from the latest, in batches."""
    first = conn.execute(sa.select(TRIAL.c.id).where(TRIAL.c.latest_version > 0).limit(1)).first()
    if first is None:
        return  # a new database: nothing to read, and no need of the decoder
    # The stored format's own decoder and field reader (stable: the records must stay
    # readable by every later version anyway).
    from sync.core import record

    after = 0
    while True:
        rows = conn.execute(
            sa.select(
                TRIAL.c.id,
                TRIAL.c.nct_id,
                SNAPSHOT.c.encoding,
                SNAPSHOT.c.base_version,
                SNAPSHOT.c.dict_id,
                SNAPSHOT.c.body,
            )  # fmt: skip
            .join(
                SNAPSHOT,
                (SNAPSHOT.c.trial_id == TRIAL.c.id)
                & (SNAPSHOT.c.version == TRIAL.c.latest_version),
            )
            .where(TRIAL.c.id > after)
            .order_by(TRIAL.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for trial_id, nct_id, encoding, base_version, dict_id, body in rows:
            try:
                raw = _raw(conn, trial_id, encoding, base_version, dict_id, body)
                listed = record.listed_fields(record.key_fields(orjson.loads(raw)))
            except Exception as exc:  # one unreadable record must not stop the upgrade
                log.warning("%s: sponsor and conditions left empty: %s", nct_id, exc)
                continue
            updates.append({"tid": trial_id, "s": listed["sponsor"], "c": listed["conditions"]})
        if updates:
            conn.execute(
                TRIAL.update()
                .where(TRIAL.c.id == sa.bindparam("tid"))
                .values(sponsor=sa.bindparam("s"), conditions=sa.bindparam("c")),
                updates,
            )
        after = rows[-1][0]


def _raw(
    conn: sa.Connection,
    trial_id: int,
    encoding: str,
    base_version: int | None,
    dict_id: int | None,
    body: bytes,
) -> bytes:
    from sync.store import codec

    keyframe = trained = None
    if encoding == codec.DELTA:
        base = conn.execute(
            sa.select(
                SNAPSHOT.c.encoding, SNAPSHOT.c.base_version, SNAPSHOT.c.dict_id, SNAPSHOT.c.body
            ).where(  # fmt: skip
                SNAPSHOT.c.trial_id == trial_id, SNAPSHOT.c.version == base_version
            )
        ).one()
        keyframe = _raw(conn, trial_id, *base)
    elif encoding == codec.TRAINED:
        assert dict_id is not None
        trained = codec.for_body(conn, dict_id, body)
    return codec.decode(encoding, body, keyframe, trained)
