"""Typed results of the watch read views (sync.watches.definitions): rows the CLI and web show,
and of a watch's run (WatchResult: the runner's and a mirror's, which both build on it).

As in sync.store.results, `to_dict()` is the exact object `--json` prints and /api/ serves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sync.core.states import RunOutcome


@dataclass(frozen=True, slots=True)
class WatchRow:
    """One watch in `watch list`: its definition, current member count and last run."""

    name: str
    matches: int
    last_run: str | None
    last_outcome: RunOutcome | None  # None: not run with this definition yet
    last_error: str | None
    query: dict[str, Any]  # the stored parameters (definitions.params_of)
    track: bool
    source: str  # "config" or "cli"
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "matches": self.matches,
            "last_run": self.last_run,
            "last_outcome": self.last_outcome,
            "last_error": self.last_error,
            "query": dict(self.query),
            "track": self.track,
            "source": self.source,
            "active": self.active,
        }


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One stay of a study in a watch (`watch members`): `left` is None while it stays."""

    nct_id: str
    first_seen: str | None
    last_seen: str | None
    left: str | None
    left_reason: str | None
    title: str | None
    status: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "left": self.left,
            "left_reason": self.left_reason,
            "title": self.title,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class WatchEventRow:
    """A study entering or leaving a watch (`watch events`)."""

    id: int
    watch: str
    nct_id: str
    event: str  # "entered" or "left"
    reason: str | None
    summary: str
    at: str | None
    run_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "watch": self.watch,
            "nct_id": self.nct_id,
            "event": self.event,
            "reason": self.reason,
            "summary": self.summary,
            "at": self.at,
            "run_id": self.run_id,
        }


@dataclass
class WatchResult:
    """One watch's run, as reported in a sync summary (`summary.watches`)."""

    name: str
    outcome: str = RunOutcome.OK
    matches: int = 0
    entered: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    left_reasons: dict[str, str] = field(default_factory=dict)
    tracked: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    requests: int = 0
    error: str | None = None

    def stored(self) -> tuple[int, int, int]:
        """(studies fetched, new versions, changes) this run stored: a search stores none."""
        return 0, 0, 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
