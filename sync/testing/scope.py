"""A registry-scale mirror scope made fast: bulk version-1 rows, then genuine version-2 updates.

Loading 50,000 records through the fake registry would take minutes; a digest test needs the
rows a loaded mirror leaves, not the load. So trial, version-1 snapshot and membership rows go
in as multi-row Core inserts (as a mirror's first load writes them), from small factory
records; the updated studies then get a version 2 through the store and the differ, so their
Change rows and events are the real ones.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models import Snapshot, SyncRun, Trial, Watch, WatchEvent, WatchMatch
from models.db import session_scope
from sync.core import record
from sync.core.util import IN_LIST_SIZE
from sync.store import codec
from sync.store import snapshots as store
from sync.testing.factory import (
    make_study,
    nct,
    with_enrollment,
    with_last_update,
    with_site,
    with_status,
)

# Rows per multi-row INSERT: well under PostgreSQL's 65,535 bind parameters (14 columns).
INSERT_ROWS = 2000
SITE = ("Peking Union Medical College Hospital", "Beijing", "China")
CRITERIA = "Inclusion Criteria:\n\n* Age 18 years or older\n\nExclusion Criteria:\n\n* Pregnancy\n"
DAY_1, DAY_2 = "2026-10-01", "2026-11-20"


def small_study(nct_id: str) -> dict[str, Any]:
    """A small valid record (3 KB as JSON): one site, one central contact, short criteria, one
    outcome (the template's outcomes alone are 5 KB, and 50,000 records are hashed and
    compressed)."""
    study = make_study(nct_id, sites=[SITE], criteria=CRITERIA, last_update=DAY_1)
    study["protocolSection"]["outcomesModule"] = {
        "primaryOutcomes": [{"measure": "Dose-limiting toxicities", "timeFrame": "28 days"}]
    }
    study["protocolSection"]["contactsLocationsModule"]["centralContacts"] = [
        {"name": "Study Coordinator", "role": "CONTACT", "phone": "555-0100"}
    ]
    return study


def _renamed(base: dict[str, Any], nct_id: str) -> dict[str, Any]:
    """`base` under another NCT ID, sharing every module but identification (no deep copy:
    50,000 copies of a record would cost more than the inserts)."""
    study = dict(base)
    ps = dict(study["protocolSection"])
    ident = dict(ps["identificationModule"])
    ident["nctId"] = nct_id
    ident["orgStudyIdInfo"] = {"id": f"TW-{nct_id}"}
    ident["briefTitle"] = f"Synthetic Study {nct_id} of a CAR-NK Cell Therapy"
    ident["officialTitle"] = f"An Open-Label Study: {ident['briefTitle']}"
    ps["identificationModule"] = ident
    study["protocolSection"] = ps
    return study


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), INSERT_ROWS):
        yield rows[i : i + INSERT_ROWS]


def bulk_scope(engine: Engine, n: int, *, watch: str = "scope", first: int = 0) -> list[str]:
    """A loaded mirror `watch` of n studies nct(first)..nct(first + n - 1), each with version 1
    and an open membership; returns their NCT IDs."""
    now = datetime.now(UTC)
    base = small_study(nct(first))
    ids = [nct(first + i) for i in range(n)]
    # Every study shares the base's key fields but its title: read them once.
    keys = record.key_fields(base)
    with session_scope(engine) as session:
        w = Watch(name=watch, params={"mirror": True}, track=False, source="cli")
        session.add(w)
        session.flush()
        watch_id = w.id
        # Core, not the ORM's bulk path: a third of the time at this size.
        conn = session.connection()
        for part in _batches([{"nct_id": i} for i in ids]):
            trials, snaps, members = [], [], []
            for row in part:
                study = _renamed(base, row["nct_id"])
                title = study["protocolSection"]["identificationModule"]["briefTitle"]
                raw = orjson.dumps(study)
                encoding, body = codec.encode(raw)
                trials.append(
                    {
                        "nct_id": row["nct_id"],
                        "active": True,
                        "source": f"mirror:{watch}",
                        "added_at": now,
                        "registry_state": "found",
                        "latest_version": 1,
                        **record.listed_fields({**keys, "title": title}),
                        "last_checked_at": now,
                    }
                )
                snaps.append(
                    {
                        "version": 1,
                        "fetched_at": now,
                        # A first version is hashed in the received form, as a mirror load does.
                        "content_hash": record.received_hash(study),
                        "canon_version": record.RECEIVED_FORM,
                        "origin": "poll",
                        "last_update_posted": keys["last_update_posted"],
                        "last_update_submitted": keys["last_update_submitted"],
                        "encoding": encoding,
                        "raw_size": len(raw),
                        "body": body,
                    }
                )
                members.append(
                    {
                        "watch_id": watch_id,
                        "nct_id": row["nct_id"],
                        "first_seen": now,
                        "last_seen": now,
                        "title": title,
                        "status": keys["status"],
                    }
                )
            trial_table = Trial.__table__  # type: ignore[attr-defined]
            made = conn.execute(
                sa.insert(trial_table).returning(trial_table.c.id, trial_table.c.nct_id), trials
            ).all()
            trial_ids = {nct_id: trial_id for trial_id, nct_id in made}
            for snap, t in zip(snaps, trials, strict=True):
                snap["trial_id"] = trial_ids[t["nct_id"]]
            conn.execute(sa.insert(Snapshot.__table__), snaps)  # type: ignore[attr-defined]
            conn.execute(sa.insert(WatchMatch.__table__), members)  # type: ignore[attr-defined]
    return ids


def store_update(
    session: Session, trial: Trial, study: dict[str, Any], run_id: int | None = None
) -> int:
    """Store `study` as the trial's next version and the typed changes from the one before, as
    a sync does; returns how many changes were stored (0: same content, nothing written)."""
    from sync.core.diff.walk import diff_records

    stored = store.store_version(session, trial, study, run_id=run_id)
    if stored is None or stored.previous is None:
        return 0
    changes = diff_records(stored.previous, study)
    v = trial.latest_version
    store.add_changes(session, trial, v - 1, v, changes, run_id)
    return len(changes)


Update = Callable[[dict[str, Any]], dict[str, Any]]


def _terminated(s: dict[str, Any]) -> dict[str, Any]:
    return with_status(s, "TERMINATED", why_stopped="Sponsor decision.")


def _enrollment_cut(s: dict[str, Any]) -> dict[str, Any]:
    return with_enrollment(s, 10, "ESTIMATED")  # from 24: -58%


def _completion_slip(s: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(s)
    new["protocolSection"]["statusModule"]["primaryCompletionDateStruct"] = {
        "date": "2028-06-30",
        "type": "ESTIMATED",
    }  # from 2027-06-30: a year later
    return new


def _site_recruiting(s: dict[str, Any]) -> dict[str, Any]:
    return with_site(s, *SITE, status="RECRUITING")


def _enrollment_up(s: dict[str, Any]) -> dict[str, Any]:
    return with_enrollment(s, 36, "ESTIMATED")


def _site_added(s: dict[str, Any]) -> dict[str, Any]:
    return with_site(s, "Shanghai Chest Hospital", "Shanghai", "China")


def _contact(s: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(s)
    new["protocolSection"]["contactsLocationsModule"]["centralContacts"][0]["phone"] = "555-0199"
    return new


# What the i-th updated study gets, by i % 100: 3% high-importance (terminated, enrollment cut,
# primary completion a year later), 30% medium, the rest routine (a contact's phone), roughly
# the mix of a registry day.
HIGH_UPDATES: dict[str, Update] = {
    "terminated": _terminated,
    "enrollment_cut": _enrollment_cut,
    "completion_slip": _completion_slip,
}
MEDIUM_UPDATES: dict[str, Update] = {
    "site_recruiting": _site_recruiting,
    "enrollment_up": _enrollment_up,
    "site_added": _site_added,
}


def update_of(i: int) -> tuple[str, Update]:
    """(name, how) of the i-th updated study's change."""
    slot = i % 100
    if slot < len(HIGH_UPDATES):
        return list(HIGH_UPDATES.items())[slot]
    if slot < 33:
        return list(MEDIUM_UPDATES.items())[slot % len(MEDIUM_UPDATES)]
    return "contact", _contact


@dataclass
class ScopeDay:
    """A mirror of `ids` after one day: who got a version 2, with what, and the watch events."""

    watch: str
    ids: list[str]
    updates: dict[str, str] = field(default_factory=dict)  # nct -> update name
    run_id: int = 0
    entered: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    @property
    def high(self) -> set[str]:
        return {n for n, u in self.updates.items() if u in HIGH_UPDATES}


def update_scope(engine: Engine, day: ScopeDay, share: float) -> None:
    """Give every 1/share-th study of the scope a version 2 (through the store and the differ),
    in one sync run."""
    step = max(1, round(1 / share))
    chosen = day.ids[::step]
    base = with_last_update(small_study(day.ids[0]), DAY_2)
    with session_scope(engine) as session:
        run = SyncRun(kind="sync", trigger="cli", mode="incremental", outcome="running")
        session.add(run)
        session.flush()
        assert run.id is not None
        day.run_id = run.id
        trials: dict[str, Trial] = {}
        for i in range(0, len(chosen), IN_LIST_SIZE):
            query = select(Trial).where(col(Trial.nct_id).in_(chosen[i : i + IN_LIST_SIZE]))
            trials.update((t.nct_id, t) for t in session.exec(query))
        changes = 0
        for i, nct_id in enumerate(chosen):
            name, how = update_of(i)
            changes += store_update(session, trials[nct_id], how(_renamed(base, nct_id)), run.id)
            day.updates[nct_id] = name
        run.outcome, run.finished_at = "ok", datetime.now(UTC)
        run.new_versions, run.changes = len(chosen), changes
        session.add(run)


def add_watch_events(engine: Engine, day: ScopeDay, entered: int, left: int) -> None:
    """`entered` studies new to the scope and `left` ones gone from it, as a mirror run reports
    them (the studies themselves are not added or removed: a digest reads only the events)."""
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        watch_id = session.exec(select(Watch.id).where(Watch.name == day.watch)).one()
        rows = []
        newcomers = [nct(9_000_000 + i) for i in range(entered)]
        for n in newcomers:
            rows.append({"watch_id": watch_id, "nct_id": n, "event": "entered",
                         "reason": "new in the mirrored scope",
                         "summary": f"new study in mirror {day.watch}: {n}",
                         "at": now, "run_id": day.run_id or None})  # fmt: skip
        gone = day.ids[-left:] if left else []
        for n in gone:
            rows.append({"watch_id": watch_id, "nct_id": n, "event": "left",
                         "reason": "its status changed to COMPLETED",
                         "summary": f"{n} left mirror {day.watch}",
                         "at": now, "run_id": day.run_id or None})  # fmt: skip
        for part in _batches(rows):
            session.execute(sa.insert(WatchEvent), part)
    day.entered, day.left = newcomers, gone


def mirror_day(
    engine: Engine,
    n: int = 50_000,
    *,
    share: float = 0.01,
    entered: int = 200,
    left: int = 100,
    watch: str = "scope",
) -> ScopeDay:
    """A loaded mirror of n studies where `share` of them got a version 2 today, and watch
    events: what a registry-scale daily digest covers."""
    day = ScopeDay(watch=watch, ids=bulk_scope(engine, n, watch=watch))
    update_scope(engine, day, share)
    add_watch_events(engine, day, entered, left)
    return day
