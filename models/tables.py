"""The database tables: tracked trials, their versions, changes, watches and runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Constraint names must be stable across SQLite and PostgreSQL for migrations to work.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.JSON, nullable=nullable))


class Trial(SQLModel, table=True):
    """One NCT ID that trialwatch follows."""

    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(max_length=11, unique=True, index=True)
    active: bool = Field(default=True)
    # Why it is tracked: "manual", "config", "watch:<name>" or "mirror:<name>". Indexed for
    # the trials one watch made tracked (migration 0004).
    source: str = Field(default="manual", max_length=200, index=True)
    added_at: datetime = Field(default_factory=utcnow)
    # "unknown" until first fetched, then "found", "not_found" or "alias".
    registry_state: str = Field(default="unknown", max_length=20)
    alias_of: str | None = Field(default=None, max_length=11)
    latest_version: int = Field(default=0)
    title: str | None = Field(default=None)
    status: str | None = Field(default=None, max_length=40)
    last_update_posted: str | None = Field(default=None, max_length=10)
    last_checked_at: datetime | None = Field(default=None)
    last_error: str | None = Field(default=None)
    # The lead sponsor and the conditions (one a line) of the latest version, for the trials
    # list's search (migration 0005).
    sponsor: str | None = Field(default=None)
    conditions: str | None = Field(default=None)


class CompressionDict(SQLModel, table=True):
    """A zstd dictionary trained on registry records; whole records are compressed with it."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    # The ID zstd writes into every frame compressed with it (checked when decoding).
    zstd_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # unsigned 32 bits
    samples: int
    sample_bytes: int
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))


class Snapshot(SQLModel, table=True):
    """Version N of one trial's record, written only when its canonical content changed."""

    __table_args__ = (sa.UniqueConstraint("trial_id", "version", name="uq_snapshot_trial_version"),)

    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: uq_snapshot_trial_version begins with it (migration 0004).
    trial_id: int = Field(foreign_key="trial.id")
    version: int
    fetched_at: datetime = Field(default_factory=utcnow)
    content_hash: str = Field(max_length=64)
    canon_version: int = Field(default=1)
    # "poll" (fetched by a sync) or "history" (imported from the registry's record history).
    origin: str = Field(default="poll", max_length=20)
    registry_version: int | None = Field(default=None)
    registry_date: str | None = Field(default=None, max_length=10)
    last_update_posted: str | None = Field(default=None, max_length=10)
    last_update_submitted: str | None = Field(default=None, max_length=10)
    data_timestamp: str | None = Field(default=None, max_length=40)
    api_version: str | None = Field(default=None, max_length=20)
    # The record as received, compressed: "zstd" (whole), "zstd-trained" (whole, with the
    # trained dictionary dict_id) or "zstd-dict" (compressed with the keyframe named by
    # base_version as a raw-content dictionary).
    encoding: str = Field(default="zstd", max_length=20)
    base_version: int | None = Field(default=None)
    dict_id: int | None = Field(default=None, foreign_key="compressiondict.id")
    raw_size: int = Field(default=0)
    body: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    run_id: int | None = Field(default=None, foreign_key="syncrun.id")


class Change(SQLModel, table=True):
    """One typed difference between two consecutive versions of a trial."""

    id: int | None = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trial.id", index=True)
    from_version: int
    to_version: int
    category: str = Field(max_length=30, index=True)
    path: str
    old: Any = _json()
    new: Any = _json()
    summary: str
    severity: str = Field(max_length=10)
    detail: Any = _json()
    detected_at: datetime = Field(default_factory=utcnow, index=True)
    run_id: int | None = Field(default=None, foreign_key="syncrun.id")
    acknowledged_at: datetime | None = Field(default=None)


class RegistryVersion(SQLModel, table=True):
    """A version the registry's own record history lists, fetched or not."""

    __table_args__ = (
        sa.UniqueConstraint("trial_id", "registry_version", name="uq_registryversion_trial_ver"),
    )

    id: int | None = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trial.id", index=True)
    registry_version: int
    date: str | None = Field(default=None, max_length=10)
    overall_status: str | None = Field(default=None, max_length=40)
    module_labels: Any = _json()
    # The local version number it was imported as; None while known but not fetched.
    snapshot_version: int | None = Field(default=None)


class Watch(SQLModel, table=True):
    """A saved search whose matches are followed over time."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    params: Any = _json(nullable=False)
    track: bool = Field(default=True)
    source: str = Field(default="cli", max_length=20)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_run_at: datetime | None = Field(default=None)
    last_outcome: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None)


class WatchMatch(SQLModel, table=True):
    """A study's membership in a watch: one row per stay (a study may leave and come back)."""

    # At most one open stay per (watch, study), even when two watch runs race.
    __table_args__ = (
        sa.Index(
            "uq_watchmatch_open",
            "watch_id",
            "nct_id",
            unique=True,
            sqlite_where=sa.text("left_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(foreign_key="watch.id", index=True)
    nct_id: str = Field(max_length=11, index=True)
    first_seen: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
    left_at: datetime | None = Field(default=None)
    left_reason: str | None = Field(default=None)
    title: str | None = Field(default=None)
    status: str | None = Field(default=None, max_length=40)
    info: Any = _json()


class WatchEvent(SQLModel, table=True):
    """A study entering or leaving a watch: reported like a change."""

    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(foreign_key="watch.id", index=True)
    nct_id: str = Field(max_length=11)
    event: str = Field(max_length=10)  # "entered" | "left"
    reason: str | None = Field(default=None)
    summary: str
    at: datetime = Field(default_factory=utcnow, index=True)
    run_id: int | None = Field(default=None, foreign_key="syncrun.id")
    acknowledged_at: datetime | None = Field(default=None)


class SyncRun(SQLModel, table=True):
    """One run of a sync (or watch run, backfill, freshness check) and its honest outcome."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="sync", max_length=20)
    trigger: str = Field(default="cli", max_length=20)
    started_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = Field(default=None)
    # While it runs: stamped as it commits its work (migration 0006), so that a run of another
    # host whose process died is seen to have stopped.
    heartbeat_at: datetime | None = Field(default=None)
    # "running" until it ends; then "ok", "partial" or "failed".
    outcome: str = Field(default="running", max_length=20)
    mode: str | None = Field(default=None, max_length=20)  # "full", "incremental", "skipped"
    requests: int = Field(default=0)
    fetched: int = Field(default=0)
    new_versions: int = Field(default=0)
    changes: int = Field(default=0)
    data_timestamp: str | None = Field(default=None, max_length=40)
    not_found: Any = _json()
    errors: Any = _json()
    details: Any = _json()


class Meta(SQLModel, table=True):
    """Small durable state: last seen data timestamp, daemon heartbeat, schedules."""

    key: str = Field(primary_key=True, max_length=100)
    value: Any = _json()
    updated_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """One digest sent (or being sent) to one notification channel: never twice, never lost."""

    __table_args__ = (sa.UniqueConstraint("fingerprint", name="uq_delivery_fingerprint"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=200)
    fingerprint: str = Field(max_length=64)
    window_since: datetime | None = Field(default=None)
    window_until: datetime | None = Field(default=None)
    change_ids: Any = _json()
    status: str = Field(default="pending", max_length=20)  # pending, sent, failed
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = Field(default=None)


class DataGeneration(SQLModel, table=True):
    """One row: a number every committed write to the other tables moves, in its own
    transaction (triggers, see models/generation.py). Pages are rendered once per value."""

    __tablename__ = "data_generation"

    id: int = Field(primary_key=True)
    n: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
