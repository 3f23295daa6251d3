"""The fault matrix: what the fake registry can do wrong, and what a run must do about it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from models.db import session_scope
from sync.core import record
from sync.store import snapshots as store
from sync.testing.fakectgov import Request
from tests.chaos import harness
from tests.chaos.harness import ATTEMPTS, RETRY_BUDGET, TIMEOUT, ChaosRegistry, Scenario


@dataclass(frozen=True)
class FaultCase:
    label: str
    kind: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    # A fault that leaves the answer usable (nothing may be reported as missed).
    benign: bool = False


FAULTS: dict[str, FaultCase] = {
    f.label: f
    for f in [
        FaultCase("429 Retry-After: 1", "status", {"status": 429, "retry_after": "1"}),
        FaultCase("429 Retry-After: 3600", "status", {"status": 429, "retry_after": "3600"}),
        FaultCase("429", "status", {"status": 429}),
        FaultCase("500", "status", {"status": 500}),
        FaultCase("502", "status", {"status": 502}),
        FaultCase("503", "status", {"status": 503}),
        FaultCase("504", "status", {"status": 504}),
        FaultCase("403", "status", {"status": 403}),
        FaultCase("timeout", "slow", {"delay": TIMEOUT + 0.5}),
        FaultCase("slow", "slow", {"delay": 0.3}, benign=True),
        FaultCase("drip", "drip", {"delay": 0.03}, benign=True),
        # Every piece arrives within the read timeout, the whole takes longer than the budget.
        FaultCase("drip past the budget", "drip", {"delay": 0.7}),
        FaultCase("dropped connection", "drop"),
        FaultCase("truncated JSON", "truncated"),
        FaultCase("invalid JSON", "invalid_json"),
        FaultCase("HTML page with 200", "html200"),
        FaultCase("empty page + nextPageToken", "empty_page_with_token"),
        FaultCase("no protocolSection", "missing_protocol"),
        FaultCase("wrong types", "wrong_types"),
        FaultCase("unknown fields/modules", "unknown_fields", benign=True),
    ]
}

CORE_ENDPOINTS = ("/version", "/studies by IDs", "/studies/{id}", "watch search")
RECORD_KINDS = ("missing_protocol", "wrong_types", "unknown_fields")
ALWAYS = 10_000


def applies(endpoint: str, fault: FaultCase) -> bool:
    if fault.kind == "empty_page_with_token":
        return endpoint in ("/studies by IDs", "watch search")
    return True


def matrix(endpoints: tuple[str, ...]) -> list[tuple[str, str, str]]:
    return [
        (e, f.label, mode)
        for e in endpoints
        for f in FAULTS.values()
        if applies(e, f)
        for mode in ("once", "always")
    ]


@dataclass
class Outcome:
    """One attack's row in the chaos table."""

    db: str
    endpoint: str
    fault: str
    mode: str
    outcome: str
    hits: int
    retries: int
    max_tries: int
    waits: list[float]
    seconds: float
    lost: int
    duplicates: int
    converged: bool
    errors: list[str]

    def row(self) -> dict[str, Any]:
        return {
            "table": "faults",
            "fault": f"{self.fault} ({self.mode})",
            "endpoint": self.endpoint,
            "db": self.db,
            "outcome": self.outcome,
            "hits": self.hits,
            "retries": self.retries,
            "max tries/URL": self.max_tries,
            # Figures, not bounds: the time a run takes varies with the machine's load.
            "waited s": round(sum(self.waits), 2),
            "seconds": self.seconds,
            "versions lost": self.lost,
            "duplicates": self.duplicates,
            "converged": "yes" if self.converged else "NO",
        }


@contextmanager
def retry_waits() -> Iterator[list[float]]:
    """The waits the client schedules before its retries (stamina's own figures, not the wall
    clock), as they come, beside the hooks already set."""
    waits: list[float] = []
    hooks = list(get_on_retry_hooks())

    def record(details: RetryDetails) -> None:
        waits.append(details.wait_for)

    set_on_retry_hooks([*hooks, record])
    try:
        yield waits
    finally:
        set_on_retry_hooks(hooks)


def _key(r: Request) -> tuple[str, tuple[tuple[str, str], ...]]:
    return r.path, tuple(sorted(r.params.items()))


def retries_of(requests: list[Request], hits: list[Request]) -> tuple[int, int]:
    """(faulted requests that were asked again, most requests for one URL)."""
    keys = [_key(r) for r in requests]
    hit_ids = {id(h) for h in hits}
    retried = 0
    for i, r in enumerate(requests):
        if id(r) in hit_ids and keys[i] in keys[i + 1 :]:
            retried += 1
    return retried, max(Counter(keys).values(), default=0)


UNKNOWN_PARTS = (("futureSection",), ("protocolSection", "aiSummaryModule"))


def _without_unknown(study: dict[str, Any]) -> dict[str, Any]:
    doc = dict(study)
    doc.pop("futureSection", None)
    if isinstance(doc.get("protocolSection"), dict):
        doc["protocolSection"] = {
            k: v for k, v in doc["protocolSection"].items() if k != "aiSummaryModule"
        }
    return doc


def contents(engine: Engine, strip_unknown: bool = False) -> dict[str, list[str]]:
    """Per trial, the content hash of each stored version in order (decoded, not trusted)."""
    from sqlmodel import select

    from models import Trial

    out: dict[str, list[str]] = {}
    with session_scope(engine) as s:
        for trial in s.exec(select(Trial)):
            assert trial.id is not None
            hashes = []
            for snap in store.snapshots(s, trial.id):
                doc = store.record_of(s, snap)
                hashes.append(record.content_hash(_without_unknown(doc) if strip_unknown else doc))
            out[trial.nct_id] = hashes
    return out


def lost_and_duplicates(
    engine: Engine, control: dict[str, Any], strip_unknown: bool
) -> tuple[int, int]:
    """(control versions whose content the database does not hold, repeated versions)."""
    have = contents(engine, strip_unknown)
    held = {(n, h) for n, hs in have.items() for h in hs}
    lost = sum(1 for (n, _v, h, *_rest) in control["snapshots"] if (n, h) not in held)
    raw = contents(engine) if strip_unknown else have
    duplicates = sum(1 for hs in raw.values() for a, b in zip(hs, hs[1:], strict=False) if a == b)
    return lost, duplicates


HISTORY_ENDPOINTS = ("history list", "history version")


def attack(engine: Engine, endpoint: str, label: str, mode: str) -> Outcome:
    """Prepare cleanly, run the operation under the fault, then clean again; check every
    promise. The operation is a sync, or a backfill for the history endpoints."""
    fault = FAULTS[label]
    with ChaosRegistry() as fake, harness.make_client(fake) as client:
        op: Any
        if endpoint in HISTORY_ENDPOINTS:
            _before, control2, served = harness.history_control()
            history_sc = harness.HistoryScenario(fake)
            history_sc.prepare(engine, client)
            op = history_sc.op
        else:
            _after1, control2, served, _requests = harness.control()
            sc = Scenario(fake)
            sc.stage1(engine)
            first = sc.sync(engine, client)
            assert first.outcome == "ok", first.errors
            sc.stage2(engine)
            op = sc.sync

        fake.reset_requests()
        fake.scope = harness.ENDPOINTS[endpoint]
        fake.add_fault(fault.kind, times=1 if mode == "once" else ALWAYS, **fault.kwargs)
        start = time.monotonic()
        with retry_waits() as waits:
            faulted = op(engine, client)
        seconds = harness.elapsed_since(start)
        fake.clear_faults()
        fake.scope = None
        requests, hits = fake.requests, list(fake.hits)
        state = harness.fingerprint(engine)

        # An honest outcome: "ok" means nothing was missed, anything else says what.
        if faulted.outcome == "ok":
            if fault.kind != "unknown_fields":
                assert state == control2, (
                    f"ok, yet unlike a clean run: {state_diff(state, control2)}"
                )
        else:
            assert faulted.errors, f"{faulted.outcome} without a word of why"
        # The history list's embedded record is not read (only its list of versions is).
        benign = fault.benign or (endpoint == "history list" and fault.kind in RECORD_KINDS)
        if hits and mode == "always" and not benign:
            assert faulted.outcome != "ok", "every answer was bad, yet the run says ok"
        # Bounded retries: the run ended (here), no URL asked more than the attempts allow,
        # no retry without a faulted answer before it, and no wait the client chose longer
        # than the retry budget (a Retry-After of an hour is not waited). Counts, not the wall
        # clock: the seconds are a figure in the table, and vary with the machine's load.
        retried, max_tries = retries_of(requests, hits)
        assert max_tries <= ATTEMPTS, f"one URL asked {max_tries} times"
        assert len(waits) <= len(hits), f"{len(waits)} retries for {len(hits)} faulted answers"
        long_waits = [w for w in waits if w > RETRY_BUDGET]
        assert not long_waits, f"waits past the retry budget {RETRY_BUDGET}s: {long_waits}"
        # No version from a bad body: every stored version is a record the registry served.
        if fault.kind != "unknown_fields":
            bad = {k: h for k, h in harness.stored_hashes(engine).items() if h not in served}
            assert not bad, f"versions stored from bad bodies: {bad}"
        problems = harness.integrity_problems(engine)
        assert problems == [], problems

        # The next clean run converges to the state of a run that never saw the fault.
        again = op(engine, client, full=fault.kind == "unknown_fields")
        assert again.outcome == "ok", again.errors
        assert harness.integrity_problems(engine) == []
        final = harness.fingerprint(engine)
        if fault.kind == "unknown_fields":
            latest = {n: hs[-1] for n, hs in contents(engine).items() if hs}
            control_latest = {n: hs[-1] for n, hs in _control_contents(control2).items()}
            converged = latest == control_latest
        else:
            converged = final == control2
        assert converged, f"no convergence: {state_diff(final, control2)}"
        lost, duplicates = lost_and_duplicates(engine, control2, fault.kind == "unknown_fields")
        assert lost == 0 and duplicates == 0, (lost, duplicates)
    return Outcome(
        db=engine.dialect.name,
        endpoint=endpoint,
        fault=label,
        mode=mode,
        outcome=str(faulted.outcome),  # a RunOutcome: plain text for the row that travels
        hits=len(hits),
        retries=retried,
        max_tries=max_tries,
        waits=waits,
        seconds=seconds,
        lost=lost,
        duplicates=duplicates,
        converged=converged,
        errors=faulted.errors,
    )


def _control_contents(state: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n, _v, h, *_rest in sorted(state["snapshots"]):
        out.setdefault(n, []).append(h)
    return out


def state_diff(got: dict[str, Any], want: dict[str, Any]) -> str:
    """What differs between two fingerprints, briefly."""
    parts = []
    for key in want:
        extra = sorted(set(got.get(key, [])) - set(want[key]), key=str)
        missing = sorted(set(want[key]) - set(got.get(key, [])), key=str)
        if extra or missing:
            parts.append(f"{key}: extra {extra[:3]} missing {missing[:3]}")
    return "; ".join(parts) or "no difference"
