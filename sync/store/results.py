"""Typed results of the read-side queries (sync.store.views): what the CLI and the web app show.

Each has `to_dict()`: the exact object `--json` prints and /api/ serves (the README documents
its keys), so the two front ends cannot drift apart; they read the attributes otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync.core.diff.walk import FieldChange
from sync.core.events import Event
from sync.core.states import Origin, RegistryState, RunKind, RunOutcome


def found_at_registry(state: RegistryState) -> bool | None:
    """`found` in the JSON: whether the registry has a record for the ID (under it or as an
    alias), null until it has been asked (`registry_state` "unknown": not synced yet)."""
    if state == RegistryState.UNKNOWN:
        return None
    return state in (RegistryState.FOUND, RegistryState.ALIAS)


@dataclass(frozen=True, slots=True)
class TrialRow:
    """One tracked trial in `list`."""

    nct_id: str
    status: str | None
    title: str | None
    latest_version: int
    registry_state: RegistryState
    alias_of: str | None
    last_update_posted: str | None
    last_checked_at: str | None
    source: str
    active: bool
    sponsor: str | None = None
    conditions: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool | None:
        return found_at_registry(self.registry_state)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "status": self.status,
            "title": self.title,
            "latest_version": self.latest_version,
            "found": self.found,
            "registry_state": self.registry_state,
            "alias_of": self.alias_of,
            "last_update_posted": self.last_update_posted,
            "last_checked_at": self.last_checked_at,
            "source": self.source,
            "active": self.active,
            "sponsor": self.sponsor,
            "conditions": list(self.conditions),
        }


@dataclass(frozen=True, slots=True)
class Enrollment:
    count: int | None = None
    type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "type": self.type}


# The key fields (sync.core.record.key_fields) a shown version adds, in the order `show --json`
# lists them after the trial's own; title, status, enrollment and phases come first.
VERSION_KEYS = (
    "official_title",
    "acronym",
    "study_type",
    "start_date",
    "primary_completion_date",
    "completion_date",
    "last_update_posted",
    "last_update_submitted",
    "sponsor",
    "site_count",
    "start_date_type",
    "primary_completion_date_type",
    "completion_date_type",
    "countries",
    "has_results",
)


@dataclass(frozen=True, slots=True)
class TrialDetail:
    """`show`: the trial, and the key fields of the version shown (all None, and left out of
    the JSON, when no version is stored or stood on the date asked)."""

    nct_id: str
    title: str | None
    status: str | None
    enrollment: Enrollment
    phases: list[str]
    latest_version: int
    version: int | None
    registry_state: RegistryState
    alias_of: str | None
    active: bool
    as_of: str | None
    as_of_date: str | None
    # What the registry's latest answer said; the version shown may be older when a later
    # answer changed nothing trialwatch keeps (dates only).
    registry_last_update_posted: str | None
    last_checked_at: str | None
    official_title: str | None = None
    acronym: str | None = None
    study_type: str | None = None
    start_date: str | None = None
    primary_completion_date: str | None = None
    completion_date: str | None = None
    last_update_posted: str | None = None
    last_update_submitted: str | None = None
    sponsor: str | None = None
    site_count: int | None = None
    start_date_type: str | None = None
    primary_completion_date_type: str | None = None
    completion_date_type: str | None = None
    countries: list[str] = field(default_factory=list)
    has_results: bool | None = None
    fetched_at: str | None = None
    origin: Origin | None = None
    registry_version: int | None = None
    registry_date: str | None = None

    @property
    def found(self) -> bool | None:
        return found_at_registry(self.registry_state)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nct_id": self.nct_id,
            "title": self.title,
            "status": self.status,
            "enrollment": self.enrollment.to_dict(),
            "phases": list(self.phases),
            "latest_version": self.latest_version,
            "version": self.version,
            "found": self.found,
            "registry_state": self.registry_state,
            "alias_of": self.alias_of,
            "active": self.active,
            "as_of": self.as_of,
            "as_of_date": self.as_of_date,
            "registry_last_update_posted": self.registry_last_update_posted,
            "last_checked_at": self.last_checked_at,
        }
        if self.version is None:
            return out
        out.update({k: getattr(self, k) for k in VERSION_KEYS})
        out["countries"] = list(self.countries)
        out["fetched_at"] = self.fetched_at
        out["origin"] = self.origin
        out["registry_version"] = self.registry_version
        out["registry_date"] = self.registry_date
        return out


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One version in `history`: a stored one (`fetched`), or one the registry lists that a
    partial backfill left unfetched (no version number, no changes, its status and modules)."""

    version: int | None
    fetched_at: str | None
    origin: Origin
    registry_version: int | None
    registry_date: str | None
    last_update_posted: str | None
    changes: int
    summaries: list[str]
    events: list[Event]
    fetched: bool
    content_hash: str | None = None  # stored versions only
    overall_status: str | None = None  # unfetched ones only
    module_labels: list[str] = field(default_factory=list)  # unfetched ones only

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "fetched_at": self.fetched_at,
            "origin": self.origin,
            "registry_version": self.registry_version,
            "registry_date": self.registry_date,
            "last_update_posted": self.last_update_posted,
        }
        if self.fetched:
            out["content_hash"] = self.content_hash
        else:
            out["overall_status"] = self.overall_status
            out["module_labels"] = list(self.module_labels)
        out["changes"] = self.changes
        out["summaries"] = list(self.summaries)
        out["events"] = [e.to_dict() for e in self.events]
        out["fetched"] = self.fetched
        return out


@dataclass(frozen=True, slots=True)
class DiffItem:
    """One change of a diff: its stored ID (what `ack` takes; None in a diff across several
    versions, which is computed, never stored), whether it was acknowledged, its event."""

    id: int | None
    change: FieldChange
    acknowledged: bool | None
    event: str | None = None
    importance: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            **self.change.to_dict(),
            "acknowledged": self.acknowledged,
        }
        if self.event is not None:
            out.update(event=self.event, importance=self.importance)
        return out


@dataclass(frozen=True, slots=True)
class DiffResult:
    """`diff`: the changes from one version to another, and the events they make up (each
    event's `members` index `changes`)."""

    nct_id: str
    from_version: int
    to_version: int
    changes: list[DiffItem]
    events: list[Event]

    def changes_json(self) -> list[dict[str, Any]]:
        """What `diff --json` prints and /api/trials/{nct}/diff serves: the changes."""
        return [c.to_dict() for c in self.changes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "from": self.from_version,
            "to": self.to_version,
            "changes": self.changes_json(),
            "events": [{**e.to_dict(), "members": list(e.members)} for e in self.events],
        }


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run (sync, backfill, watch run, check) in `status`."""

    id: int
    kind: RunKind
    trigger: str
    started: str | None
    finished: str | None
    outcome: RunOutcome
    mode: str | None
    requests: int
    fetched: int
    new_versions: int
    changes: int
    not_found: list[str]
    errors: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "trigger": self.trigger,
            "started": self.started,
            "finished": self.finished,
            "outcome": self.outcome,
            "mode": self.mode,
            "requests": self.requests,
            "fetched": self.fetched,
            "new_versions": self.new_versions,
            "changes": self.changes,
            "not_found": list(self.not_found),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }
