"""The closed sets of states trialwatch stores, as StrEnums holding the very strings stored."""

from __future__ import annotations

from enum import StrEnum

# Each member equals its string ("ok" == RunOutcome.OK), so rows written before these enums, and
# code or JSON that reads them as text, need no change: the database columns stay text.


class RegistryState(StrEnum):
    """What the registry said about a tracked ID the last time it was asked."""

    UNKNOWN = "unknown"  # not fetched yet
    FOUND = "found"
    NOT_FOUND = "not_found"
    ALIAS = "alias"  # a former ID of another record (Trial.alias_of)
    REJECTED = "rejected"  # the registry refuses the ID (400)


class RunKind(StrEnum):
    SYNC = "sync"
    BACKFILL = "backfill"
    WATCH = "watch"
    CHECK = "check"  # the daemon's reachability check that failed before any run
    EXPORT = "export"  # `export`: what it wrote, or why it did not


class RunOutcome(StrEnum):
    RUNNING = "running"  # until it ends; one left over is closed as failed (store)
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


class Origin(StrEnum):
    """Where a stored version came from."""

    POLL = "poll"  # fetched by a sync
    HISTORY = "history"  # imported from the registry's record history (backfill)


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Category(StrEnum):
    """What part of a record a change is in (the order is the order changes are listed in)."""

    STATUS = "status"
    ENROLLMENT = "enrollment"
    ELIGIBILITY = "eligibility"
    DATES = "dates"
    SITES = "sites"
    ARMS = "arms"
    INTERVENTIONS = "interventions"
    OUTCOMES = "outcomes"
    SPONSOR = "sponsor"
    DESIGN = "design"
    IDENTIFICATION = "identification"
    RESULTS = "results"
    OTHER = "other"
