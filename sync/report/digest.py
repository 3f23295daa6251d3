"""Change digests: select stored changes and watch events for a window and build the digest data."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Change, Snapshot, SyncRun, Trial, Watch, WatchEvent, WatchMatch
from sync.config import DEFAULT_MAX_TRIALS
from sync.core import record
from sync.core.diff.walk import CATEGORIES
from sync.core.states import RunKind
from sync.core.util import IN_LIST_SIZE, aware, chunks, plural, utc_iso
from sync.report import digest_events
from sync.store import snapshots as store
from sync.store.steps import reverts_of

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
STUDY_URL = "https://clinicaltrials.gov/study/{}"
# The timeline of a trial shows at most this many of its latest versions.
TIMELINE_VERSIONS = 40
# A watch with more events than this in a capped digest is summarised: its counts, the first
# WATCH_EVENTS_SHOWN of them, and how to list them all (a mirror's day can bring hundreds).
WATCH_EVENTS_LISTED = 10
WATCH_EVENTS_SHOWN = 5
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class DigestError(ValueError):
    """A digest request a user can fix (a bad date, an unknown watch)."""


def parse_when(text: str, now: datetime, *, end: bool = False) -> datetime:
    """A point in time from `7d`/`24h`/`2w`/`30m` (ago), a date or an ISO date-time (UTC).

    A bare date is the start of that day, or with `end` the end of it, so that
    `--since 2026-11-01 --until 2026-11-07` includes the whole of 7 November.
    """
    raw = text.strip()
    if raw.lower() == "now":
        return now
    m = _DURATION_RE.match(raw)
    if m:
        return now - timedelta(**{_UNITS[m[2].lower()]: float(m[1])})
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        pass
    else:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise DigestError(
            f"{text!r} is not a time: use a duration like 7d, 24h, 2w or 30m, a date like "
            "2026-11-01, or an ISO date-time"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class Selection:
    """What a digest covers: a window and filters, or exact row IDs (a notification's content)."""

    since: datetime
    until: datetime
    trials: list[str] = field(default_factory=list)
    watch: str | None = None
    unreviewed: bool = False
    change_ids: list[int] | None = None
    event_ids: list[int] | None = None
    run_ids: list[int] = field(default_factory=list)


def _watch_id(session: Session, name: str) -> int:
    watch = session.exec(select(Watch).where(Watch.name == name)).first()
    if watch is None:
        names = sorted(session.exec(select(Watch.name)).all())
        known = ", ".join(names) if names else "none defined"
        raise DigestError(f"no watch named {name!r} (known: {known})")
    assert watch.id is not None
    return watch.id


def _watch_trials(watch_id: int, name: str) -> sa.ColumnElement[bool]:
    """A watch's trials: its members (a mirror's are all of its scope) and those it tracks.

    A subquery, not a list of IDs: a mirror of the whole registry has 590,000 members, more
    than either database takes as bound parameters. A correlated EXISTS, not an IN: asked of
    each trial the window's changes name (by index), where `nct_id IN (members) OR ...` made
    PostgreSQL read every trial (bench.explain, "digest of a small watch").
    """
    member = select(WatchMatch.id).where(
        WatchMatch.watch_id == watch_id, col(WatchMatch.nct_id) == col(Trial.nct_id)
    )
    return sa.or_(member.exists(), col(Trial.source) == f"watch:{name}")


def select_changes(session: Session, sel: Selection) -> list[tuple[Change, Trial]]:
    """The Change rows (with their trial) a selection covers, oldest first.

    Changes between versions imported from the registry's history are past events, not news:
    they stay out of digests (`trialwatch history` shows them).

    The changes first (by their window's index), then their trials and imported versions by
    trial ID: joined in one statement, PostgreSQL hashed the whole trial and snapshot tables
    for a day's 1,000 changes in a 100,000-study mirror (134 ms at 500,000;
    tests/integration/test_query_plans.py).
    """
    base = select(Change)
    chosen: list[Any] = []
    if sel.trials:
        chosen.append(col(Trial.nct_id).in_(sel.trials))
    if sel.watch:
        chosen.append(_watch_trials(_watch_id(session, sel.watch), sel.watch))
    if chosen:
        base = base.where(col(Change.trial_id).in_(select(Trial.id).where(*chosen)))
    if sel.unreviewed:
        base = base.where(col(Change.acknowledged_at).is_(None))
    changes: list[Change] = []
    if sel.change_ids is not None:
        for part in chunks(sorted(set(sel.change_ids)), IN_LIST_SIZE):
            changes.extend(session.exec(base.where(col(Change.id).in_(part))).all())
    else:
        q = base.where(col(Change.detected_at) >= sel.since, col(Change.detected_at) < sel.until)
        changes.extend(session.exec(q).all())
    trials: dict[int, Trial] = {}
    imported: set[tuple[int, int]] = set()
    for ids in chunks(sorted({c.trial_id for c in changes}), IN_LIST_SIZE):
        for t in session.exec(select(Trial).where(col(Trial.id).in_(ids))):
            assert t.id is not None
            trials[t.id] = t
        imported.update(
            session.exec(  # type: ignore[call-overload]
                select(Snapshot.trial_id, Snapshot.version).where(
                    col(Snapshot.trial_id).in_(ids), Snapshot.origin == "history"
                )
            ).all()
        )
    rows = [(c, trials[c.trial_id]) for c in changes if (c.trial_id, c.to_version) not in imported]
    rows.sort(key=lambda r: r[0].id or 0)
    return rows


def select_events(session: Session, sel: Selection) -> list[tuple[WatchEvent, Watch]]:
    base = select(WatchEvent, Watch).join(Watch, col(Watch.id) == col(WatchEvent.watch_id))
    if sel.trials:
        base = base.where(col(WatchEvent.nct_id).in_(sel.trials))
    if sel.watch:
        base = base.where(WatchEvent.watch_id == _watch_id(session, sel.watch))
    if sel.unreviewed:
        base = base.where(col(WatchEvent.acknowledged_at).is_(None))
    rows: list[tuple[WatchEvent, Watch]] = []
    if sel.event_ids is not None:
        for part in chunks(sorted(set(sel.event_ids)), IN_LIST_SIZE):
            rows.extend(session.exec(base.where(col(WatchEvent.id).in_(part))).all())
    else:
        q = base.where(col(WatchEvent.at) >= sel.since, col(WatchEvent.at) < sel.until)
        rows.extend(session.exec(q).all())
    rows.sort(key=lambda r: r[0].id or 0)
    return rows


def select_runs(session: Session, since: datetime, until: datetime, extra: Iterable[int]) -> list[
    SyncRun
]:
    """Runs that overlap the window, and the runs that produced what the digest lists. Not
    exports: they fetch nothing, so none of them can leave a change out of a digest."""
    overlapping = select(SyncRun).where(
        col(SyncRun.kind) != RunKind.EXPORT,
        col(SyncRun.started_at) < until,
        sa.or_(col(SyncRun.finished_at).is_(None), col(SyncRun.finished_at) >= since),
    )
    runs = {r.id: r for r in session.exec(overlapping)}
    missing = sorted({i for i in extra if i not in runs})
    for part in chunks(missing, IN_LIST_SIZE):
        for r in session.exec(select(SyncRun).where(col(SyncRun.id).in_(part))):
            runs[r.id] = r
    return sorted(runs.values(), key=lambda r: (aware(r.started_at), r.id or 0))


def run_dict(r: SyncRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "trigger": r.trigger,
        "mode": r.mode,
        "started": utc_iso(r.started_at),
        "finished": utc_iso(r.finished_at),
        "outcome": r.outcome,
        "new_versions": r.new_versions,
        "changes": r.changes,
        "not_found": r.not_found or [],
        "errors": r.errors or [],
    }


def health(outcomes: Sequence[str]) -> dict[str, Any]:
    """How far the window can be trusted, from its runs' outcomes: a failed, partial or
    unfinished run is never clean."""
    counts = Counter(outcomes)
    unfinished = sum(n for k, n in counts.items() if k not in ("ok", "partial", "failed"))
    bad = counts.get("failed", 0) + counts.get("partial", 0) + unfinished
    if not outcomes:
        note = "no sync ran in this window"
    elif bad:
        parts = [
            f"{counts[k]} {k}" for k in ("failed", "partial") if counts.get(k)
        ] + ([f"{unfinished} unfinished"] if unfinished else [])
        note = (
            f"{bad} of {plural(len(outcomes), 'run')} did not complete cleanly "
            f"({', '.join(parts)}): "
            "changes may be missing from this digest"
        )
    else:
        note = (
            "the one run in this window completed cleanly"
            if len(outcomes) == 1
            else f"all {len(outcomes)} runs in this window completed cleanly"
        )
    return {
        "runs": len(outcomes),
        "ok": counts.get("ok", 0),
        "partial": counts.get("partial", 0),
        "failed": counts.get("failed", 0),
        "unfinished": unfinished,
        "clean": bad == 0,
        "note": note,
    }


def change_dict(c: Change) -> dict[str, Any]:
    return {
        "id": c.id,
        "category": c.category,
        "severity": c.severity,
        "summary": c.summary,
        "old": c.old,
        "new": c.new,
        "path": c.path,
        "from_version": c.from_version,
        "to_version": c.to_version,
        "detected": utc_iso(c.detected_at),
        "acknowledged": c.acknowledged_at is not None,
        "run_id": c.run_id,
        "detail": c.detail,
    }


def _change_order(c: dict[str, Any]) -> tuple[int, int, int]:
    cat = CATEGORIES.index(c["category"]) if c["category"] in CATEGORIES else len(CATEGORIES)
    return SEVERITY_RANK.get(c["severity"], 9), cat, c["id"] or 0


def timeline(session: Session, trial: Trial) -> list[dict[str, Any]]:
    """Status and enrollment of each of the trial's latest versions, oldest first."""
    assert trial.id is not None
    snaps = session.exec(
        select(Snapshot)
        .where(Snapshot.trial_id == trial.id)
        .order_by(col(Snapshot.version).desc())
        .limit(TIMELINE_VERSIONS)
    ).all()
    points = []
    dates = store.version_dates(session, snaps)  # M1: each with the version before it
    for snap in reversed(snaps):
        keys = record.key_fields(store.record_of(session, snap))
        enrollment = keys.get("enrollment") or {}
        points.append(
            {
                "version": snap.version,
                "date": dates[(trial.id, snap.version)],
                "status": keys.get("status"),
                "enrollment": enrollment.get("count"),
                "enrollment_type": enrollment.get("type"),
            }
        )
    return points


def event_dict(e: WatchEvent, w: Watch, titles: dict[str, str | None]) -> dict[str, Any]:
    return {
        "id": e.id,
        "watch": w.name,
        "nct_id": e.nct_id,
        "event": e.event,
        "reason": e.reason,
        "summary": e.summary,
        "title": titles.get(e.nct_id),
        "at": utc_iso(e.at),
        "acknowledged": e.acknowledged_at is not None,
        "url": STUDY_URL.format(e.nct_id),
    }


def build_digest(
    session: Session,
    sel: Selection,
    *,
    now: datetime | None = None,
    with_timeline: bool | Literal["shown"] = True,
    base_url: str | None = None,
    max_trials: int = DEFAULT_MAX_TRIALS,
) -> dict[str, Any]:
    """The digest as plain data: the `digest --format json` contract, which renderers share.

    Trials come by their most important event first; within a trial, changes by severity then
    category. Each trial carries its events and where its full detail is (`base_url`: the web).

    Every trial is in the data, ranked (`rank`); the first `max_trials` (0: all) are `shown`,
    what the Markdown, HTML and Atom digests detail, and `view` counts the rest. Timelines:
    for every trial, only the shown ones ("shown") or none (False).
    """
    now = now or datetime.now(UTC)
    changes = select_changes(session, sel)
    events = select_events(session, sel)
    run_ids = [c.run_id for c, _ in changes if c.run_id] + [
        e.run_id for e, _ in events if e.run_id
    ] + sel.run_ids
    runs = [run_dict(r) for r in select_runs(session, sel.since, sel.until, run_ids)]

    by_trial: dict[int, tuple[Trial, list[dict[str, Any]], list[Change]]] = {}
    for c, t in changes:
        entry = by_trial.setdefault(t.id or 0, (t, [], []))
        entry[1].append(change_dict(c))
        entry[2].append(c)
    steps: dict[tuple[int, int], list[Change]] = {}
    for t, _, rows in by_trial.values():
        for r in rows:
            if r.to_version == r.from_version + 1:
                steps.setdefault((t.id or 0, r.to_version), []).append(r)
    undone: dict[int, dict[int, dict[int, int]]] = {}
    for (trial_id, version), found in reverts_of(session, steps).items():
        undone.setdefault(trial_id, {})[version] = found
    trials = []
    for t, items, rows in by_trial.values():
        trial_events, labels = digest_events.trial_events(rows, undone.get(t.id or 0))
        for item in items:
            item.update(labels.get(item["id"], {}))
        items.sort(key=_change_order)
        severities = Counter(c["severity"] for c in items)
        trials.append(
            {
                "nct_id": t.nct_id,
                "title": t.title,
                "status": t.status,
                "url": STUDY_URL.format(t.nct_id),
                "severity": items[0]["severity"],
                "counts": {s: severities.get(s, 0) for s in SEVERITY_RANK},
                "changes": items,
                "timeline": [],
                "importance": trial_events[0]["importance"] if trial_events else "low",
                "events": trial_events,
                "detail": digest_events.detail_link(
                    t.nct_id,
                    min(r.from_version for r in rows),
                    max(r.to_version for r in rows),
                    base_url,
                ),
            }
        )
    trials.sort(key=digest_events.trial_rank)
    trial_rows = {t.nct_id: t for t, _, _ in by_trial.values()}
    for rank, item in enumerate(trials, 1):
        item["rank"] = rank
        item["shown"] = not max_trials or rank <= max_trials
        if with_timeline is True or (with_timeline == "shown" and item["shown"]):
            item["timeline"] = timeline(session, trial_rows[item["nct_id"]])
    nct_ids = sorted({e.nct_id for e, _ in events})
    titles: dict[str, str | None] = {}
    for ids in chunks(nct_ids, IN_LIST_SIZE):
        titles.update(session.exec(select(Trial.nct_id, Trial.title).where(
            col(Trial.nct_id).in_(ids))).all())  # fmt: skip
        for nct, title in session.exec(
            select(WatchMatch.nct_id, WatchMatch.title).where(col(WatchMatch.nct_id).in_(ids))
        ):
            titles[nct] = titles.get(nct) or title
    watch_events = [event_dict(e, w, titles) for e, w in events]
    watches = watch_groups(watch_events, capped=max_trials > 0, base_url=base_url)
    n_changes = sum(len(t["changes"]) for t in trials)
    by_severity = Counter(c["severity"] for t in trials for c in t["changes"])
    return {
        "generated": utc_iso(now),
        "window": {"since": utc_iso(sel.since), "until": utc_iso(sel.until)},
        "filters": {
            "trials": sel.trials,
            "watch": sel.watch,
            "unreviewed": sel.unreviewed,
        },
        "registry": {"data_timestamp": store.get_meta(session, "last_data_timestamp")},
        "health": health([r["outcome"] for r in runs]),
        "runs": runs,
        "counts": {
            "trials": len(trials),
            "changes": n_changes,
            "watch_events": len(watch_events),
            "by_severity": {s: by_severity.get(s, 0) for s in SEVERITY_RANK},
        },
        "view": capped_view(trials, watches, max_trials, see_all(sel)),
        "trials": trials,
        "watch_events": watch_events,
    }


def _stamp(when: datetime, *, up: bool = False) -> str:
    """A time to the second, as --since/--until take it; `up` rounds up, so that a window
    given back as a command still holds its last changes."""
    when = aware(when).astimezone(UTC)
    whole = when.replace(microsecond=0)
    if up and whole != when:
        whole += timedelta(seconds=1)
    return whole.strftime("%Y-%m-%dT%H:%M:%SZ")


def see_all(sel: Selection) -> str:
    """The command that shows every trial of this digest's window and filters in detail."""
    words = ["trialwatch", "digest", "--since", _stamp(sel.since)]
    words += ["--until", _stamp(sel.until, up=True)]
    for nct in sel.trials:
        words += ["--trial", nct]
    if sel.watch:
        words += ["--watch", sel.watch]
    if sel.unreviewed:
        words.append("--unreviewed")
    return shlex.join([*words, "--max-trials", "0"])


def watch_groups(
    events: list[dict[str, Any]], *, capped: bool, base_url: str | None
) -> list[dict[str, Any]]:
    """The watch events per watch (in the order they first come), each event marked `shown`.

    Capped, a watch with more than WATCH_EVENTS_LISTED events shows its first
    WATCH_EVENTS_SHOWN and counts the rest, with the command (and web page) that lists them.
    """
    by_watch: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_watch.setdefault(e["watch"], []).append(e)
    groups = []
    for name, items in by_watch.items():
        summarised = capped and len(items) > WATCH_EVENTS_LISTED
        for i, e in enumerate(items):
            e["shown"] = not summarised or i < WATCH_EVENTS_SHOWN
        kinds = Counter(e["event"] for e in items)
        groups.append(
            {
                "watch": name,
                "events": len(items),
                "entered": kinds.get("entered", 0),
                "left": kinds.get("left", 0),
                "shown": sum(1 for e in items if e["shown"]),
                "summarised": sum(1 for e in items if not e["shown"]),
                "command": f"trialwatch watch events {shlex.quote(name)}",
                "url": f"{base_url.rstrip('/')}/watches/{quote(name, safe='')}"
                if base_url
                else None,
            }
        )
    return groups


def capped_view(
    trials: list[dict[str, Any]],
    watches: list[dict[str, Any]],
    max_trials: int,
    command: str | None,
) -> dict[str, Any]:
    """What the capped digest shows and how it counts the rest (`view` in the JSON).

    High-importance trials rank first, so the cap hides one only when there are more of them
    than the cap: then `high_summarised` says how many, and the headline says so.
    """
    hidden = [t for t in trials if not t["shown"]]
    high = sum(1 for t in trials if t["importance"] == "high")
    return {
        "max_trials": max_trials,
        "trials_shown": len(trials) - len(hidden),
        "trials_summarised": len(hidden),
        "high_trials": high,
        "high_summarised": sum(1 for t in hidden if t["importance"] == "high"),
        "summary": digest_events.summarise_trials(hidden),
        # The web app has no page for a window's trials: the command is the way to all of them.
        "all": {"command": command, "url": None},
        "watches": watches,
    }


def with_view(digest: dict[str, Any]) -> dict[str, Any]:
    """The digest as renderers need it: one made before the cap existed (a JSON digest kept
    from an older version) gets an uncapped view, every trial and watch event shown."""
    if "view" in digest:
        return digest
    trials = [{**t, "shown": True} for t in digest["trials"]]
    events = [dict(e) for e in digest["watch_events"]]
    watches = watch_groups(events, capped=False, base_url=None)
    view = capped_view(trials, watches, 0, None)
    return {**digest, "trials": trials, "watch_events": events, "view": view}


def headline(digest: dict[str, Any]) -> str:
    """One line that says what a digest holds, and never hides a failed run."""
    n = digest["counts"]
    parts = []
    if n["changes"]:
        parts.append(
            f"{n['changes']:,} change{'s' if n['changes'] != 1 else ''} in {n['trials']:,} "
            f"trial{'s' if n['trials'] != 1 else ''}"
        )
        if n["by_severity"].get("high"):
            parts[-1] += f" ({n['by_severity']['high']:,} high)"
    if n["watch_events"]:
        parts.append(f"{n['watch_events']:,} watch event{'s' if n['watch_events'] != 1 else ''}")
    text = ", ".join(parts) if parts else "no changes"
    v = digest.get("view") or {}
    if v.get("high_summarised"):
        # More high-importance trials than the cap: never let the cap hide that.
        text += (
            f"; {v['high_trials']:,} trials with high-importance events, only "
            f"{v['trials_shown']:,} in detail"
        )
    elif v.get("trials_summarised"):
        text += f"; the {v['trials_shown']:,} most important in detail"
    h = digest["health"]
    if not h["clean"]:
        bad = h["failed"] + h["partial"] + h["unfinished"]
        text += f"; warning: {bad} run{'s' if bad != 1 else ''} did not complete cleanly"
    return text
