"""Send digests through apprise: each digest once per channel, failures retried, secrets masked."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models import Change, Delivery, SyncRun
from models.db import database_now, session_scope
from sync.config import Settings
from sync.core.states import RunKind
from sync.core.util import aware, plural
from sync.report import digest as dg
from sync.report import notify_rules
from sync.report.channels import Channel, Masker, parse_channels
from sync.store import snapshots as store
from sync.store.steps import reverts_of

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 60


@dataclass
class SendResult:
    ok: bool
    error: str | None = None


def send(channel: Channel, title: str, body: str, body_format: str, masker: Masker) -> SendResult:
    """One message to one channel; the result checks apprise's status, the error is masked."""
    import apprise

    if not channel.valid:
        return SendResult(False, channel.problem or "not a valid apprise URL")
    ap = apprise.Apprise()
    ap.add(channel.url)
    fmt = apprise.NotifyFormat.HTML if body_format == "html" else apprise.NotifyFormat.MARKDOWN
    try:
        result = ap.notify(body=body, title=title, body_format=fmt, timeout=SEND_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001  (a plugin bug must not stop the other channels)
        return SendResult(False, masker(f"{type(exc).__name__}: {exc}"))
    try:
        if result.status == apprise.AppriseResultStatus.SUCCESS:
            return SendResult(True)
        reasons = [
            e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")
        ]
        reason = "; ".join(dict.fromkeys(reasons)) or f"apprise status {result.status.name}"
        return SendResult(False, masker(reason)[:500])
    finally:
        close = getattr(result, "close", None)
        if callable(close):
            close()


SendFn = Callable[[Channel, str, str, str, Masker], SendResult]


@dataclass
class Outcome:
    """What one digest run did for one channel (one log line's worth)."""

    channel: str
    status: str  # sent, failed, nothing
    delivery_id: int | None = None
    changes: int = 0
    watch_events: int = 0
    runs: int = 0
    attempts: int = 0
    error: str | None = None
    retry: bool = False  # a failed earlier digest, sent again

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _floor_key(channel: Channel) -> str:
    return f"notify.floor.{hashlib.sha256(channel.url.encode()).hexdigest()[:16]}"


def _items(delivery: Delivery) -> dict[str, list[int]]:
    raw = delivery.change_ids if isinstance(delivery.change_ids, dict) else {}
    return {k: [int(i) for i in raw.get(k) or []] for k in ("changes", "watch_events", "runs")}


def _fingerprint(channel: Channel, items: dict[str, list[int]]) -> str:
    body = orjson.dumps({"channel": channel.key, **items}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def _floor(session: Session, channel: Channel, settings: Settings, now: datetime) -> datetime:
    """Where a channel's history starts: first seen minus notify.digest_since, then fixed."""
    key = _floor_key(channel)
    stored = store.get_meta(session, key)
    if stored:
        return aware(datetime.fromisoformat(stored))
    try:
        floor = dg.parse_when(settings.notify.digest_since, now)
    except dg.DigestError:
        floor = now - timedelta(days=1)
    store.set_meta(session, key, floor.isoformat())
    return floor


def pending_items(
    session: Session,
    channel: Channel,
    floor: datetime,
    now: datetime,
    settings: Settings | None = None,
) -> dict[str, list[int]]:
    """Changes, watch events and failed runs since the floor that no delivery of this channel
    holds yet (sent, failed or pending: a failed delivery is retried as it was).

    With settings, only the changes of trial-versions that have an event at or above the
    notification threshold count (notify.min_importance, a watch's own, notify.quiet): routine
    updates alone send nothing.
    """
    covered: dict[str, set[int]] = {"changes": set(), "watch_events": set(), "runs": set()}
    # A delivery made before the floor cannot hold anything detected after it.
    for d in session.exec(
        select(Delivery).where(Delivery.channel == channel.key, col(Delivery.created_at) >= floor)
    ):
        for k, ids in _items(d).items():
            covered[k].update(ids)
    sel = dg.Selection(since=floor, until=now)
    rows = dg.select_changes(session, sel)
    if settings is not None:
        rules = notify_rules.rules_for(session, settings, [t.nct_id for _, t in rows])
        steps: dict[tuple[int, int], list[Change]] = {}
        for c, _ in rows:
            if c.to_version == c.from_version + 1:
                steps.setdefault((c.trial_id, c.to_version), []).append(c)
        changes = notify_rules.notable_changes(rows, rules, reverts_of(session, steps))
    else:
        changes = [c.id or 0 for c, _ in rows]
    events = [e.id or 0 for e, _ in dg.select_events(session, sel)]
    runs = session.exec(
        select(SyncRun.id).where(
            col(SyncRun.outcome).in_(("failed", "partial")),
            col(SyncRun.kind) != RunKind.EXPORT,  # a failed export misses no change
            col(SyncRun.finished_at) >= floor,
            col(SyncRun.finished_at) < now,
        )
    ).all()
    return {
        "changes": sorted(i for i in changes if i not in covered["changes"]),
        "watch_events": sorted(i for i in events if i not in covered["watch_events"]),
        "runs": sorted(i for i in runs if i is not None and i not in covered["runs"]),
    }


def render_message(
    session: Session, settings: Settings, delivery: Delivery, now: datetime
) -> tuple[str, str, str]:
    """(title, body, body format) of a delivery's digest, rebuilt from the IDs it holds."""
    from sync.report.render import render

    items = _items(delivery)
    sel = dg.Selection(
        since=aware(delivery.window_since or now),
        until=aware(delivery.window_until or now),
        change_ids=items["changes"],
        event_ids=items["watch_events"],
        run_ids=items["runs"],
    )
    fmt = settings.notify.format
    data = dg.build_digest(
        session,
        sel,
        now=now,
        with_timeline="shown" if fmt == "html" else False,
        base_url=settings.web.base_url,
        max_trials=settings.digest.max_trials,
    )
    return f"trialwatch: {dg.headline(data)}", render(data, fmt), fmt


def _attempt(
    engine: Engine,
    settings: Settings,
    channel: Channel,
    delivery_id: int,
    masker: Masker,
    send_fn: SendFn,
    now: datetime,
    retry: bool,
) -> Outcome:
    with session_scope(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        title, body, fmt = render_message(session, settings, delivery, now)
        items = _items(delivery)
    result = send_fn(channel, title, body, fmt, masker)
    with session_scope(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.attempts += 1
        if result.ok:
            delivery.status = "sent"
            delivery.sent_at = database_now(session)
            delivery.last_error = None
        else:
            delivery.status = "failed"
            delivery.last_error = masker(result.error or "failed")
        session.add(delivery)
        attempts = delivery.attempts
    return Outcome(
        channel=channel.label,
        status="sent" if result.ok else "failed",
        delivery_id=delivery_id,
        changes=len(items["changes"]),
        watch_events=len(items["watch_events"]),
        runs=len(items["runs"]),
        attempts=attempts,
        error=None if result.ok else masker(result.error or "failed"),
        retry=retry,
    )


def deliver_channel(
    engine: Engine,
    settings: Settings,
    channel: Channel,
    masker: Masker,
    *,
    now: datetime | None = None,
    send_fn: SendFn = send,
) -> list[Outcome]:
    """Retry this channel's failed digests, then send what is new since its last one.

    A Delivery row is written (pending) before sending and marked sent only after apprise
    reports success, so a change counts as sent only once it was delivered; a crash between the
    two repeats that digest rather than losing it.
    """
    outcomes: list[Outcome] = []
    with session_scope(engine) as session:
        # The window ends by the database's clock, the one every change and run is stamped
        # with: a daemon whose clock is days behind still sends today's changes.
        now = now or database_now(session)
        retry_ids = list(
            session.exec(
                select(Delivery.id)
                .where(Delivery.channel == channel.key, col(Delivery.status).in_(("pending",
                                                                                   "failed")))
                .order_by(col(Delivery.id))
            )
        )
    for delivery_id in retry_ids:
        assert delivery_id is not None
        out = _attempt(engine, settings, channel, delivery_id, masker, send_fn, now, True)
        outcomes.append(out)
        if out.status != "sent":
            return outcomes  # the channel is still failing: new items wait for the next run
    with session_scope(engine) as session:
        floor = _floor(session, channel, settings, now)
        items = pending_items(session, channel, floor, now, settings)
        if not any(items.values()):
            return outcomes or [Outcome(channel=channel.label, status="nothing")]
        last = session.exec(
            select(Delivery)
            .where(Delivery.channel == channel.key)
            .order_by(col(Delivery.id).desc())
            .limit(1)
        ).first()
        since = aware(last.window_until) if last and last.window_until else floor
        delivery = Delivery(
            channel=channel.key,
            fingerprint=_fingerprint(channel, items),
            window_since=min(since, now),
            window_until=now,
            created_at=now,
            change_ids=items,
            status="pending",
        )
        session.add(delivery)
        try:
            session.flush()
        except sa.exc.IntegrityError:
            # Another process holds exactly this digest already: it is theirs to send.
            session.rollback()
            return outcomes + [Outcome(channel=channel.label, status="nothing")]
        delivery_id = delivery.id
    assert delivery_id is not None
    outcomes.append(_attempt(engine, settings, channel, delivery_id, masker, send_fn, now, False))
    return outcomes


def deliver(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime | None = None,
    send_fn: SendFn = send,
) -> list[Outcome]:
    """One digest run: every configured channel gets what it has not received yet."""
    chans, masker = parse_channels(settings.notify.urls)
    outcomes: list[Outcome] = []
    for channel in chans:
        try:
            outcomes += deliver_channel(engine, settings, channel, masker, now=now,
                                        send_fn=send_fn)  # fmt: skip
        except Exception as exc:  # noqa: BLE001  (one channel's failure must not stop the others)
            outcomes.append(Outcome(channel=channel.label, status="failed",
                                    error=masker(f"{type(exc).__name__}: {exc}")))  # fmt: skip
    return outcomes


def send_test(settings: Settings, *, send_fn: SendFn = send) -> list[Outcome]:
    """A short test message to every configured channel (no digest, nothing recorded)."""
    chans, masker = parse_channels(settings.notify.urls)
    body = (
        "This is a test message from trialwatch. Digests of registry changes will arrive "
        "here on the configured schedule."
    )
    out = []
    for channel in chans:
        result = send_fn(channel, "trialwatch: test message", body, "md", masker)
        out.append(
            Outcome(channel=channel.label, status="sent" if result.ok else "failed",
                    error=None if result.ok else result.error)  # fmt: skip
        )
    return out


def summary_line(outcomes: list[Outcome]) -> str:
    """The daemon's one line for a digest run."""
    if not outcomes:
        return "digest: no notification URLs configured; nothing sent"
    parts = []
    for o in outcomes:
        what = f"{plural(o.changes, 'change')}, {plural(o.watch_events, 'watch event')}"
        if o.runs:
            what += f", {plural(o.runs, 'failed run')}"
        if o.status == "nothing":
            parts.append(f"{o.channel}: nothing new")
        elif o.status == "sent":
            parts.append(f"{o.channel}: {'resent' if o.retry else 'sent'} ({what})")
        else:
            parts.append(f"{o.channel}: FAILED ({what}; attempt {o.attempts}): {o.error}; "
                         "will retry at the next digest run")  # fmt: skip
    return "digest: " + "; ".join(parts)


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """A digest not delivered yet, as `status` lists it (the channel's secrets masked)."""

    id: int
    channel: str
    status: str  # "failed", or "pending" when interrupted while sending
    attempts: int
    created: str | None
    last_error: str | None
    changes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "status": self.status,
            "attempts": self.attempts,
            "created": self.created,
            "last_error": self.last_error,
            "changes": self.changes,
        }


def failed_deliveries(session: Session) -> list[FailedDelivery]:
    """Digests not delivered yet (failed, or interrupted while sending)."""
    rows = session.exec(
        select(Delivery)
        .where(col(Delivery.status).in_(("failed", "pending")))
        .order_by(col(Delivery.id))
    ).all()
    return [
        FailedDelivery(
            id=d.id or 0,
            channel=d.channel.rsplit(" #", 1)[0],
            status=d.status,
            attempts=d.attempts,
            created=d.created_at.isoformat() if d.created_at else None,
            last_error=d.last_error,
            changes=len(_items(d)["changes"]),
        )
        for d in rows
    ]
