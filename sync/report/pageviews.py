"""Read-side queries behind the web pages and feeds, beside sync.store.views (the CLI's)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased, defer
from sqlmodel import Session, col, func, select

from models import Change, Snapshot, Trial, Watch, WatchEvent, WatchMatch
from sync.core import record
from sync.core.events import build_events
from sync.core.util import MAX_STORED_INT, utc_iso
from sync.report.digest import SEVERITY_RANK, STUDY_URL, change_dict, health
from sync.store import snapshots as store
from sync.store import views
from sync.store.steps import reverts_of
from sync.watches.definitions import UnknownWatch, get_watch

# How many versions a feed or the overview lists.
FEED_ENTRIES = 50
OVERVIEW_VERSIONS = 30
# Changes read at a time, newest first, to find the latest versions of every trial.
RECENT_WALK = 500


def version_events(
    changes: list[dict[str, Any]], reverts: Mapping[int, int] | None = None
) -> list[dict[str, Any]]:
    """A version's changes as events (sync.core.events), most important first: what a page or a
    feed shows first. `members` are the IDs of the changes each event groups; `reverts` the
    changes that undo an earlier one (sync.store.steps)."""
    rows = [SimpleNamespace(**{k: c.get(k) for k in _CHANGE_FIELDS}) for c in changes]
    return [
        {**e.to_dict(), "members": [changes[i].get("id") for i in e.members]}
        for e in build_events(rows, reverts)
    ]


_CHANGE_FIELDS = ("category", "path", "old", "new", "summary", "severity", "detail")


def importance(events: list[dict[str, Any]]) -> str:
    return events[0]["importance"] if events else "low"


# --- recent versions: the overview and the feeds ------------------------------------------------


def recent_versions(
    session: Session, nct_ids: list[str] | None = None, limit: int = FEED_ENTRIES
) -> list[dict[str, Any]]:
    """The latest trial-versions that brought changes, newest first, each with its events.

    Versions imported from the registry's history are past events, not news (as in digests).
    Each has a stable `entry_id` (its snapshot's row ID survives a backfill's renumbering).
    """
    snap = aliased(Snapshot)
    news = (
        col(Change.to_version) == col(Change.from_version) + 1,
        col(snap.origin) != "history",
    )
    on_snap = sa.and_(
        col(snap.trial_id) == col(Change.trial_id), col(snap.version) == col(Change.to_version)
    )
    pairs = (
        select(
            col(Change.trial_id),
            col(Change.to_version),
            func.max(Change.id).label("last_id"),
            func.max(Change.detected_at).label("detected"),
        )
        .join(snap, on_snap)
        .where(*news)
        .group_by(col(Change.trial_id), col(Change.to_version))
        .order_by(sa.desc("last_id"))
        .limit(limit)
    )
    if nct_ids is not None:
        ids = list(session.exec(select(Trial.id).where(col(Trial.nct_id).in_(nct_ids or [""]))))
        pairs = pairs.where(col(Change.trial_id).in_(ids or [-1]))
    else:
        # Every trial's: grouping all changes would read the whole table for a page of 30.
        # The newest changes name the newest versions (a version's highest change ID orders
        # it), so walk them back by ID until `limit` versions are found, then group those.
        # Which changes are news (adjacent versions, a polled one) is told here, not in the
        # walk's SQL: PostgreSQL misestimates both (`to = from + 1` at 0.5% of the rows, the
        # snapshot join at 1%) and then sorts the whole table instead of reading its end.
        found: dict[tuple[int, int], None] = {}
        before: int | None = None
        while len(found) < limit:
            walk = select(Change.id, Change.trial_id, Change.from_version, Change.to_version)
            walk = walk.order_by(col(Change.id).desc()).limit(RECENT_WALK)
            if before is not None:
                walk = walk.where(col(Change.id) < before)
            batch = session.exec(walk).all()
            if not batch:
                break
            polled = set(
                session.exec(  # type: ignore[call-overload]
                    select(Snapshot.trial_id, Snapshot.version).where(
                        col(Snapshot.trial_id).in_(sorted({r[1] for r in batch}) or [-1]),
                        Snapshot.origin != "history",
                    )
                ).all()
            )
            for _id, trial_id, from_version, version in batch:
                if version == from_version + 1 and (trial_id, version) in polled:
                    found.setdefault((trial_id, version), None)
                if len(found) == limit:
                    break
            if len(batch) < RECENT_WALK:
                break
            before = batch[-1][0]
        chosen = sa.tuple_(col(Change.trial_id), col(Change.to_version)).in_(list(found))
        pairs = pairs.where(chosen) if found else pairs.where(sa.false())
    rows = session.exec(pairs).all()  # type: ignore[call-overload]
    if not rows:
        return []
    trial_ids = sorted({r[0] for r in rows})
    trials = {t.id: t for t in session.exec(select(Trial).where(col(Trial.id).in_(trial_ids)))}
    wanted = {(r[0], r[1]) for r in rows}
    changes: dict[tuple[int, int], list[dict[str, Any]]] = {}
    q = select(Change).where(
        col(Change.trial_id).in_(trial_ids),
        col(Change.to_version).in_(sorted({r[1] for r in rows})),
        col(Change.to_version) == col(Change.from_version) + 1,
    )
    for c in session.exec(q):
        key = (c.trial_id, c.to_version)
        if key in wanted:
            changes.setdefault(key, []).append(change_dict(c))
    snaps = {
        (s.trial_id, s.version): s
        for s in session.exec(
            select(Snapshot).where(
                col(Snapshot.trial_id).in_(trial_ids),
                col(Snapshot.version).in_(sorted({r[1] for r in rows})),
            )
        )
        if (s.trial_id, s.version) in wanted
    }
    ordered = {k: sorted(v, key=lambda c: c["id"] or 0) for k, v in changes.items()}
    # Each dated as the export dates it: with the version before (M1, a status changed
    # without a new last-update date dates from the data release that first had it).
    dates = store.version_dates(session, snaps.values())
    undone = reverts_of(session, {k: [SimpleNamespace(**c) for c in v] for k, v in ordered.items()})
    out = []
    for trial_id, version, _last, detected in rows:
        t = trials[trial_id]
        s = snaps[(trial_id, version)]
        items = ordered.get((trial_id, version), [])
        events = version_events(items, undone.get((trial_id, version)))
        # What this version said, not what the trial says now (a later version may differ).
        own = _point(session, s)
        out.append(
            {
                "entry_id": f"urn:trialwatch:{t.nct_id}:snapshot:{s.id}",
                "nct_id": t.nct_id,
                "title": own["title"] or t.title,
                "status": own["status"],
                "version": version,
                "from_version": version - 1,
                "date": dates[(trial_id, version)],
                "detected": utc_iso(detected),
                "importance": importance(events),
                "events": events,
                "changes": items,
            }
        )
    return out


def by_trial(recent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recent versions (newest first) grouped by trial: each trial once, with its versions
    newest first; the trials by their most important version, newest first within each
    importance."""
    groups: dict[str, dict[str, Any]] = {}
    for v in recent:
        g = groups.setdefault(v["nct_id"], {"nct_id": v["nct_id"], "versions": []})
        g["versions"].append(v)
    out = []
    for order, g in enumerate(groups.values()):
        g["importance"] = min((v["importance"] for v in g["versions"]),
                              key=lambda i: SEVERITY_RANK.get(i, 9))  # fmt: skip
        g["order"] = order
        out.append(g)
    out.sort(key=lambda g: (SEVERITY_RANK.get(g["importance"], 9), g["order"]))
    return out


def overview(session: Session) -> dict[str, Any]:
    """The front page: the most important recent versions, run health, watches."""
    from sync.watches.definitions import watch_rows

    recent = recent_versions(session, limit=OVERVIEW_VERSIONS)
    runs = views.runs(session, limit=10)
    return {
        "trials": session.exec(
            select(func.count()).select_from(Trial).where(col(Trial.active).is_(True))
        ).one(),
        "recent": by_trial(recent),
        "runs": runs,
        "health": health([r.outcome for r in runs]),
        "watches": watch_rows(session),
    }


# --- one trial ----------------------------------------------------------------------------------

_POINTS: OrderedDict[str, dict[str, Any]] = OrderedDict()
_POINTS_MAX = 50_000
_POINTS_LOCK = threading.Lock()


def _point(session: Session, snap: Snapshot) -> dict[str, Any]:
    """Status, enrollment and dates of one version. Decoding a large record takes milliseconds,
    so they are kept in memory by content hash: a hash names one content for good, and what
    is read here is all in the hashed, sponsor-submitted part."""
    key = f"{snap.canon_version}:{snap.content_hash}"
    with _POINTS_LOCK:
        hit = _POINTS.get(key)
        if hit is not None:
            _POINTS.move_to_end(key)
            return hit
    keys = record.key_fields(store.record_of(session, snap))
    enrollment = keys.get("enrollment") or {}
    point = {
        "status": keys.get("status"),
        "title": keys.get("title"),
        "enrollment": enrollment.get("count"),
        "enrollment_type": enrollment.get("type"),
        "start_date": keys.get("start_date"),
        "primary_completion_date": keys.get("primary_completion_date"),
        "completion_date": keys.get("completion_date"),
        "site_count": keys.get("site_count"),
    }
    with _POINTS_LOCK:
        _POINTS[key] = point
        while len(_POINTS) > _POINTS_MAX:
            _POINTS.popitem(last=False)
    return point


def timeline(session: Session, trial: Trial) -> list[dict[str, Any]]:
    """Every version's status, enrollment and primary completion, oldest first."""
    assert trial.id is not None
    # Bodies stay unloaded unless a version's point is not cached yet.
    snaps = session.exec(
        select(Snapshot)
        .where(Snapshot.trial_id == trial.id)
        .order_by(col(Snapshot.version))
        .options(defer(Snapshot.body))  # type: ignore[arg-type]
    ).all()
    return [
        {"version": s.version, "date": store.version_date(s, before), **_point(session, s)}
        for s, before in zip(snaps, [None, *snaps], strict=False)
    ]


def periods(points: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Runs of versions with the same value of key: status periods, primary completion moves."""
    out: list[dict[str, Any]] = []
    for p in points:
        if out and out[-1]["value"] == p.get(key):
            out[-1]["to_version"] = p["version"]
            continue
        out.append(
            {"value": p.get(key), "from_version": p["version"], "to_version": p["version"],
             "since": p["date"]}  # fmt: skip
        )
    return out


def trial_page(session: Session, nct_id: str) -> dict[str, Any]:
    """A trial's story: key fields, timeline, and each version with its events."""
    trial = views.require_trial(session, nct_id)
    shown = views.show(session, nct_id)
    versions = views.history(session, nct_id)
    # The events come with the history (views.history builds them); the page adds which of
    # each version's changes nobody has acknowledged yet (its review form), IDs only.
    unreviewed: dict[int, list[int]] = {}
    for change_id, to_version in session.exec(
        select(Change.id, Change.to_version)
        .where(
            Change.trial_id == trial.id,
            col(Change.acknowledged_at).is_(None),
            col(Change.to_version) == col(Change.from_version) + 1,
        )
        .order_by(col(Change.id))
    ):
        unreviewed.setdefault(to_version, []).append(change_id or 0)
    cards = [
        {
            **v.to_dict(),
            "unreviewed": unreviewed.get(v.version or 0, []) if v.fetched else [],
        }
        for v in versions
    ]
    points = timeline(session, trial)
    return {
        "today": datetime.now(UTC).date().isoformat(),
        "trial": shown,
        "versions": list(reversed(cards)),
        "timeline": points,
        "status_periods": periods(points, "status"),
        "primary_completion": periods(points, "primary_completion_date"),
        "enrollment": periods(points, "enrollment"),
        "watches": sorted(
            set(
                session.exec(
                    select(Watch.name)
                    .join(WatchMatch, col(WatchMatch.watch_id) == col(Watch.id))
                    .where(WatchMatch.nct_id == trial.nct_id, col(WatchMatch.left_at).is_(None))
                )
            )
        ),
    }


def diff_page(
    session: Session, nct_id: str, from_v: int | None, to_v: int | None
) -> dict[str, Any]:
    """The diff (views.diff, its events included) with the trial's title."""
    data = views.diff(session, nct_id, from_v, to_v).to_dict()
    trial = views.require_trial(session, nct_id)
    return {
        **data,
        "title": trial.title,
        "latest_version": trial.latest_version,
    }


def version_record(session: Session, nct_id: str, version: int) -> dict[str, Any]:
    """One stored version of the record, as it was received."""
    trial = views.require_trial(session, nct_id)
    # Out of range: no query (2**31 overflows PostgreSQL's integer, 2**63 SQLite's).
    in_range = 1 <= version <= min(trial.latest_version or 0, MAX_STORED_INT)
    snap = store.get_snapshot(session, trial.id or 0, version) if in_range else None
    if snap is None:
        raise views.NoSuchVersion(
            f"{nct_id} has versions 1 to {trial.latest_version}; there is no version {version}"
        )
    return store.record_of(session, snap)


def version_page(session: Session, nct_id: str, version: int) -> dict[str, Any]:
    study = version_record(session, nct_id, version)
    trial = views.require_trial(session, nct_id)
    keys = record.key_fields(study)
    return {
        "nct_id": trial.nct_id,
        "title": keys.get("title") or trial.title,
        "version": version,
        "latest_version": trial.latest_version,
        "fields": keys,
        # Folded under the labelled fields: the record exactly as received.
        "raw": json.dumps(study, indent=2, ensure_ascii=False),
        "sections": {
            k: v for k, v in study.items() if k in ("protocolSection", "resultsSection",
                                                    "annotationSection", "documentSection")
        },  # fmt: skip
    }


# --- watches ------------------------------------------------------------------------------------


def watch_members(session: Session, name: str) -> list[str]:
    """Every study that was ever a member of the watch, and the trials it made tracked."""
    watch = get_watch(session, name)
    members = set(session.exec(select(WatchMatch.nct_id).where(WatchMatch.watch_id == watch.id)))
    members |= set(session.exec(select(Trial.nct_id).where(Trial.source == f"watch:{name}")))
    return sorted(members)


def watch_page(session: Session, name: str) -> dict[str, Any]:
    from sync.watches.definitions import describe, events, member_rows, watch_rows

    rows = {w.name: w for w in watch_rows(session, include_inactive=True, name=name)}
    if name not in rows:
        raise UnknownWatch(f"no watch named {name!r}")
    members = member_rows(session, name)
    happened = list(reversed(events(session, name=name)))
    seen = sorted({m.nct_id for m in members} | {e.nct_id for e in happened})
    tracked = set(session.exec(select(Trial.nct_id).where(col(Trial.nct_id).in_(seen or [""]))))
    return {
        "watch": rows[name],
        "query": describe(rows[name].query),
        "members": members,
        "events": happened,
        # A study the watch found but nobody tracks has no page here: link to the registry's.
        "links": {n: f"/trials/{n}" if n in tracked else STUDY_URL.format(n) for n in seen},
    }


def watch_feed_events(session: Session, name: str, limit: int = FEED_ENTRIES) -> list[
    dict[str, Any]
]:
    """The watch's entered/left events, newest first, with stable entry IDs."""
    watch = get_watch(session, name)
    rows = session.exec(
        select(WatchEvent)
        .where(WatchEvent.watch_id == watch.id)
        .order_by(col(WatchEvent.id).desc())
        .limit(limit)
    ).all()
    return [
        {
            "entry_id": f"urn:trialwatch:watch:{name}:event:{e.id}",
            "nct_id": e.nct_id,
            "event": e.event,
            "reason": e.reason,
            "summary": e.summary,
            "detected": utc_iso(e.at),
        }
        for e in rows
    ]


def last_changes(session: Session, nct_ids: list[str] | None = None) -> dict[str, str | None]:
    """Each trial's (or only these trials') latest change detection time, by NCT ID (the
    trial list's "last change")."""
    q = (
        select(Trial.nct_id, func.max(Change.detected_at))
        .join(Change, col(Change.trial_id) == col(Trial.id))
        .group_by(col(Trial.nct_id))
    )
    if nct_ids is not None:
        q = q.where(col(Trial.nct_id).in_(nct_ids))
    return {nct: utc_iso(when) for nct, when in session.exec(q)}  # type: ignore[call-overload]
