"""AACT's tables in the live PostgreSQL database, kept current: after a sync or a backfill,
every trial whose latest stored version is not the one its rows were written from gets them
again from its whole history (a backfill may have inserted versions before the others), in one
transaction, one refresh at a time. A refresh that failed or never ran is caught up by the
next one: what is stale is read from the database, not from the run.

The schemas are made by migration 0007 (sync/aact/pgsql.py); `[aact] live = true` turns the
refresh on, `trialwatch db aact-refresh` runs it by hand, `trialwatch db aact-reader` makes the
read-only role."""

from __future__ import annotations

import logging
import re
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from models import Snapshot
from sync.aact import pgsql
from sync.aact.catalog import TABLES
from sync.aact.spans import Ids, Span, StudySpans
from sync.aact.sql import SCHEMA
from sync.aact.table import all_columns
from sync.core.util import Progress
from sync.report.export_rows import VersionDecoder
from sync.store import codec
from sync.store import snapshots as store

log = logging.getLogger(__name__)

# Trials whose versions are read, turned into rows and written per round: their rows and their
# stored versions in memory at once, and one DELETE and one COPY a table per round.
BATCH = 200
# A refresh that wrote this many rows brings the tables' statistics up to date itself.
ANALYZE_ROWS = 50_000
# pg_advisory_xact_lock key of the refresh ("aact" in ASCII): one refresh at a time, or two
# would both delete a study's rows and both insert them.
LOCK_KEY = 0x61616374
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


class LiveError(ValueError):
    """A refresh or a role asked of a database that cannot have them (one line for a user)."""


@dataclass
class Refreshed:
    studies: int = 0
    versions: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "studies": self.studies,
            "versions": self.versions,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
        }


def available(engine: Engine) -> bool:
    """PostgreSQL, with the AACT schemas (migration 0007)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        return bool(sa.inspect(conn).has_table(pgsql.STATE, schema=SCHEMA))


def _check(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise LiveError(
            "the live AACT tables are for PostgreSQL; on SQLite: trialwatch export FILE.duckdb "
            "--format aact"
        )
    if not available(engine):
        raise LiveError("the AACT schemas are missing: run trialwatch db upgrade")


def _stale(conn: Connection) -> list[tuple[int, str]]:
    rows = conn.execute(
        sa.text(
            f"SELECT t.id, t.nct_id FROM trial t LEFT JOIN {SCHEMA}.{pgsql.STATE} r "
            "ON r.trial_id = t.id "
            "WHERE coalesce(r.latest_version, 0) <> coalesce(t.latest_version, 0) ORDER BY t.id"
        )
    ).all()
    return [(r[0], r[1]) for r in rows]


class _Buffers:
    """The rows of a round, by table, in the versioned tables' column order."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}

    def emit(self, table: str, nct_id: str, span: Span) -> None:
        head = (span.id, nct_id) if TABLES[table].has_id else (nct_id,)
        self.rows[table].append(
            (*head, *span.row, span.from_version, span.to_version, span.from_date, span.to_date)
        )


def _round(
    conn: Connection, trials: Sequence[tuple[int, str]], dictionaries: dict[int, codec.Trained]
) -> tuple[int, dict[int, int], _Buffers]:
    """One round's trials walked: (versions read, latest version walked by trial, rows)."""
    query = (
        sa.select(
            col(Snapshot.trial_id),
            col(Snapshot.version),
            col(Snapshot.registry_date),
            col(Snapshot.last_update_posted),
            col(Snapshot.fetched_at),
            col(Snapshot.data_timestamp),
            col(Snapshot.encoding),
            col(Snapshot.base_version),
            col(Snapshot.dict_id),
            col(Snapshot.body),
        )
        .where(col(Snapshot.trial_id).in_([t for t, _ in trials]))
        .order_by(col(Snapshot.trial_id), col(Snapshot.version))
    )
    names = dict(trials)
    out = _Buffers()
    latest: dict[int, int] = {}
    walk: StudySpans | None = None
    decoder: VersionDecoder | None = None
    versions = 0
    snap: Any
    previous: Any = None
    for snap in conn.execute(query):
        if snap.trial_id not in latest:
            if walk is not None:
                walk.finish()
            nct = names[snap.trial_id]
            walk = StudySpans(nct, TABLES, Ids.of_trial(snap.trial_id), out.emit)
            decoder = VersionDecoder(nct, dictionaries)
            previous = None
        assert walk is not None and decoder is not None
        when = date.fromisoformat(store.version_date(snap, previous)[:10])
        previous = snap
        walk.version(snap.version, when, decoder.record(snap))
        latest[snap.trial_id] = snap.version
        versions += 1
    if walk is not None:
        walk.finish()
    return versions, latest, out


def _write(conn: Connection, trials: Sequence[tuple[int, str]], rows: _Buffers) -> None:
    ncts = [n for _, n in trials]
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        for name, table in TABLES.items():
            cur.execute(f"DELETE FROM {SCHEMA}.{name} WHERE nct_id = ANY(%s)", [ncts])
            if not rows.rows[name]:
                continue
            cols = ", ".join(c.name for c in all_columns(table))
            with cur.copy(f"COPY {SCHEMA}.{name} ({cols}) FROM STDIN") as copy:
                for row in rows.rows[name]:
                    copy.write_row(row)


def _mark(conn: Connection, trials: Sequence[tuple[int, str]], latest: dict[int, int]) -> None:
    conn.execute(
        sa.text(
            f"INSERT INTO {SCHEMA}.{pgsql.STATE} (trial_id, nct_id, latest_version) "
            "VALUES (:t, :n, :v) ON CONFLICT (trial_id) DO UPDATE SET "
            "nct_id = excluded.nct_id, latest_version = excluded.latest_version, "
            "refreshed_at = now()"
        ),
        [{"t": t, "n": n, "v": latest.get(t, 0)} for t, n in trials],
    )


def refresh(engine: Engine, progress: Progress | None = None) -> Refreshed:
    """Bring the AACT tables up to the stored versions, in one transaction."""
    _check(engine)
    started = clock.monotonic()
    done = Refreshed(rows={name: 0 for name in TABLES})
    with engine.connect() as conn, conn.begin():
        # READ COMMITTED, the lock first: what another refresh wrote is seen once it is ours.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        stale = _stale(conn)
        dictionaries = codec.dictionaries(conn)
        for start in range(0, len(stale), BATCH):
            trials = stale[start : start + BATCH]
            versions, latest, rows = _round(conn, trials, dictionaries)
            _write(conn, trials, rows)
            _mark(conn, trials, latest)
            done.versions += versions
            for name, got in rows.rows.items():
                done.rows[name] += len(got)
            if progress is not None:
                progress(start + len(trials), len(stale), trials[-1][1])
        done.studies = len(stale)
        if sum(done.rows.values()) >= ANALYZE_ROWS:
            # A first fill without statistics leaves the planner blind (the next refresh's
            # DELETE by study scanned whole tables until autovacuum came: 1.8 s against 0.7 s
            # for 30 studies of a 3,000-study mirror, bench.aact_live).
            for name in TABLES:
                conn.execute(sa.text(f"ANALYZE {SCHEMA}.{name}"))
    done.seconds = clock.monotonic() - started
    return done


def after_run(engine: Engine, enabled: bool) -> Refreshed | None:
    """The refresh after a sync or a backfill when `[aact] live` is on; a failure is logged
    and left to the next run (what the run stored is committed already)."""
    if not enabled or engine.dialect.name != "postgresql":
        return None
    try:
        done = refresh(engine)
    except (sa.exc.SQLAlchemyError, LiveError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning(f"AACT tables not refreshed (the next run retries): {first}")
        return None
    if done.studies:
        log.info(f"AACT tables: {done.studies:,} studies refreshed in {done.seconds:.1f}s")
    return done


def make_reader(engine: Engine, role: str = pgsql.READER) -> bool:
    """The read-only role (NOLOGIN: grant it to people's own roles, or give it a login),
    made when missing, and its grants on the three schemas. True when it was made."""
    _check(engine)
    if not ROLE_NAME.fullmatch(role):
        raise LiveError(f"{role!r} is not a role name: lower-case letters, digits, _ and $")
    with engine.connect() as conn, conn.begin():
        exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        made = exists.scalar() is None
        try:
            if made:
                conn.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
            conn.exec_driver_sql(";\n".join(pgsql.grant_sql(role)))
        except sa.exc.ProgrammingError as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise LiveError(f"cannot make the role {role}: {first}") from None
    return made
