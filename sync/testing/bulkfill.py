"""A PostgreSQL database the size of a registry mirror in seconds, and the plans of the queries
the read side runs on it: the rows are made by the server (generate_series), the queries are
the real functions' own, caught as they run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.core import record
from sync.store import codec
from sync.testing.factory import make_study, nct

# The tables that grow with the scope: a sequential scan of one of them is what the check
# looks for.
BIG_TABLES = ("trial", "snapshot", "change", "watchmatch", "watchevent")
MIRROR = "everything"
# A small saved search beside the mirror: one study in SMALL_EVERY is its member, and tracked
# because of it (source "watch:oncology"), so its queries must find a few rows among many;
# its members are among the updated studies, so its digest and feed have content.
SMALL = "oncology"
SMALL_EVERY = 500
# One in UPDATED studies has a version 2 with CHANGES_EACH changes, spread over DAYS days.
UPDATED = 100
CHANGES_EACH = 3
DAYS = 30


def fill(engine: Engine, studies: int, now: datetime | None = None) -> dict[str, int]:
    """`studies` trials, every one a member of a whole-registry mirror and half tracked
    because of it (version 1 each; 1% with a version 2 and typed changes over the last DAYS
    days, the low ones acknowledged; 1% left the mirror), a small watch with its own
    members and their entered events, and a run a day, made by the server."""
    now = now or datetime.now(UTC)
    study = make_study(nct(1))
    raw = orjson.dumps(study)
    _enc, body = codec.encode(raw)
    keys = record.key_fields(study)
    p = {
        "n": studies,
        "now": now,
        "body": body,
        "raw_size": len(raw),
        "hash": record.received_hash(study),
        "updated": UPDATED,
        "changes_each": CHANGES_EACH,
        "small_every": SMALL_EVERY,
        "mirror": MIRROR,
        "small": SMALL,
        "days": DAYS,
        "title": keys["title"] or "A study",
        "mirror_params": json.dumps({"mirror": True}),
        "small_params": json.dumps({"cond": "cancer", "status": ["RECRUITING"]}),
    }
    statements = [
        """INSERT INTO watch (name, params, track, source, active, created_at)
           VALUES (:mirror, CAST(:mirror_params AS JSON), true, 'config', true, :now),
                  (:small, CAST(:small_params AS JSON), true, 'config', true, :now)""",
        """INSERT INTO syncrun (kind, trigger, started_at, finished_at, outcome, requests,
               fetched, new_versions, changes)
           SELECT 'sync', 'daemon', :now - make_interval(days => d), :now - make_interval(days => d)
               + interval '5 minutes', 'ok', 3, :n / 100, :n / 100, 3 * :n / 100
           FROM generate_series(0, :days) AS d""",
        """INSERT INTO trial (nct_id, active, source, added_at, registry_state, latest_version,
               title, status, last_update_posted, last_checked_at)
           SELECT 'NCT' || (90000000 + i)::text, true,
               CASE WHEN i % :small_every = 0 THEN 'watch:' || :small
                    WHEN i % 2 = 0 THEN 'mirror:' || :mirror ELSE 'manual' END,
               :now - interval '60 days', 'found', CASE WHEN i % :updated = 0 THEN 2 ELSE 1 END,
               :title || ' ' || i, 'RECRUITING', '2026-01-01', :now
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO snapshot (trial_id, version, fetched_at, content_hash, canon_version,
               origin, last_update_posted, encoding, raw_size, body)
           SELECT id, 1, :now - interval '60 days', :hash, 0, 'poll', '2026-01-01', 'zstd',
               :raw_size, :body FROM trial""",
        """INSERT INTO snapshot (trial_id, version, fetched_at, content_hash, canon_version,
               origin, last_update_posted, encoding, raw_size, body)
           SELECT id, 2, :now - make_interval(days => (id / :updated) % :days), :hash, 4, 'poll',
               '2026-11-01', 'zstd', :raw_size, :body
           FROM trial WHERE latest_version = 2""",
        """INSERT INTO change (trial_id, from_version, to_version, category, path, old, new,
               summary, severity, detected_at, run_id, acknowledged_at)
           SELECT t.id, 1, 2, (ARRAY['status', 'enrollment', 'sites'])[k % 3 + 1],
               'protocolSection.statusModule.overallStatus', CAST('"RECRUITING"' AS JSON),
               CAST('"COMPLETED"' AS JSON), 'status: RECRUITING -> COMPLETED',
               (ARRAY['high', 'medium', 'low'])[k % 3 + 1],
               :now - make_interval(days => (t.id / :updated) % :days, hours => 1),
               (SELECT max(id) FROM syncrun),
               CASE WHEN k % 3 = 2 THEN :now END
           FROM trial t CROSS JOIN generate_series(0, :changes_each - 1) AS k
           WHERE t.latest_version = 2""",
        # Every trial is in the mirror; one in SMALL_EVERY in the small watch too.
        """INSERT INTO watchmatch (watch_id, nct_id, first_seen, last_seen, left_at, left_reason,
               title, status)
           SELECT w.id, t.nct_id, :now - interval '60 days', :now,
               CASE WHEN t.id % :updated = 7
                   THEN :now - make_interval(days => (t.id / :updated) % :days, hours => 1) END,
               CASE WHEN t.id % :updated = 7 THEN 'no longer matches' END, t.title, t.status
           FROM trial t JOIN watch w
               ON w.name = :mirror OR t.source = 'watch:' || w.name""",
        """INSERT INTO watchevent (watch_id, nct_id, event, reason, summary, at)
           SELECT m.watch_id, m.nct_id, 'left', m.left_reason, 'left: ' || m.nct_id, m.left_at
           FROM watchmatch m WHERE m.left_at IS NOT NULL""",
        """INSERT INTO watchevent (watch_id, nct_id, event, reason, summary, at)
           SELECT m.watch_id, m.nct_id, 'entered', 'matches the search', 'entered: ' || m.nct_id,
               :now - make_interval(days => (m.id / :small_every) % :days, hours => 2)
           FROM watchmatch m JOIN watch w ON w.id = m.watch_id WHERE w.name = :small""",
    ]
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(sa.text(sql), p)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # VACUUM too: index-only scans need the visibility map a fresh table lacks.
        conn.execute(sa.text("VACUUM ANALYZE"))
        counts = {
            t: int(conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one())
            for t in BIG_TABLES
        }
    return counts


_ACCESS = re.compile(
    r"((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)?"
    r"(?: using \w+)? on \w+)"
)
_SEQ = re.compile(r"Seq Scan on (\w+)")
# Below this many rows a sequential scan is the planner's right choice when it makes one (a
# few pages); such a table is only held to having an index the statement can use.
SMALL_TABLE = 20_000


_INDEX = re.compile(r"Index (?:Only )?Scan(?: Backward)? using \w+ on (\w+)")


def _seq_tables(lines: list[str]) -> set[str]:
    return {m.group(1) for line in lines if (m := _SEQ.search(line)) and m.group(1) in BIG_TABLES}


def _depth(line: str) -> int:
    return line.index("->") if "->" in line else 0


def _stops_early(lines: list[str], i: int) -> bool:
    """Whether the node on line i is read in order under a Limit (nothing sorts or groups
    between them), so that it stops after the rows the Limit takes."""
    depth = _depth(lines[i])
    for line in reversed(lines[:i]):
        if ("->" in line or not line.startswith(" ")) and _depth(line) < depth:
            depth = _depth(line)
            node = line.replace("->", "").strip()
            if node.startswith("Limit"):
                return True
            if node.startswith(("Sort", "Incremental Sort", "Aggregate", "GroupAggregate",
                                "HashAggregate", "Hash", "Unique")):  # fmt: skip
                return False
    return False


def _walked_tables(lines: list[str]) -> set[str]:
    """Big tables a plan reads whole: a sequential scan, or an index scan with no condition
    (every entry of the index, in its order) unless a Limit stops it early."""
    found = _seq_tables(lines)
    for i, line in enumerate(lines):
        m = _INDEX.search(line)
        if not m or m.group(1) not in BIG_TABLES:
            continue
        details = []
        for below in lines[i + 1:]:
            if "->" in below:
                break
            details.append(below)
        if not any("Index Cond:" in d for d in details) and not _stops_early(lines, i):
            found.add(m.group(1))
    return found


@dataclass
class Plan:
    """One statement a read-side function ran, and how PostgreSQL runs it."""

    query: str
    sql: str
    ms: float
    lines: list[str] = field(default_factory=list)
    # Big tables the query reads whole by design (it lists or counts every row of them).
    whole: frozenset[str] = frozenset()
    # Big tables the plan still reads whole with sequential scans disabled (a sequential scan
    # or a whole index): no index serves the statement.
    unindexed: frozenset[str] = frozenset()
    rows: dict[str, int] = field(default_factory=dict)

    def scanned(self) -> list[str]:
        """Big tables the plan reads with a sequential scan."""
        return sorted(_seq_tables(self.lines))

    @property
    def seq_scans(self) -> list[str]:
        """Big tables the plan reads whole though the query needs only some of their rows:
        no index serves it, or the table is large and the planner preferred scanning it."""
        return [
            t for t in self.scanned() if t not in self.whole
            and (t in self.unindexed or self.rows.get(t, 0) >= SMALL_TABLE)
        ]

    @property
    def verdict(self) -> str:
        if self.seq_scans:
            return "SEQ SCAN"
        scanned = self.scanned()
        if any(t not in self.whole for t in scanned):
            return "ok (small)"
        return "ok (whole)" if scanned else "ok"

    @property
    def access(self) -> str:
        paths = []
        for line in self.lines:
            m = _ACCESS.search(line)
            if m and m.group(1) not in paths:
                paths.append(m.group(1))
        return "; ".join(paths)


@dataclass
class Case:
    """A read-side call to explain, and the big tables it reads whole by design."""

    name: str
    run: Callable[[], Any]
    whole: frozenset[str] = frozenset()


@contextmanager
def caught(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement run on `engine` meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, params: Any, *_a: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def table_rows(engine: Engine) -> dict[str, int]:
    """The big tables' row counts (as ANALYZE estimated them)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:t)"),
            {"t": list(BIG_TABLES)},
        )
        return {name: max(int(n), 0) for name, n in rows}


def explain(engine: Engine, case: Case, rows: dict[str, int] | None = None) -> list[Plan]:
    """The plans (EXPLAIN ANALYZE) of the SELECTs the case makes that name a big table."""
    rows = rows if rows is not None else table_rows(engine)
    with caught(engine) as seen:
        case.run()
    plans = []
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for statement, params in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            if not any(re.search(rf'\b"?{t}"?\b', statement) for t in BIG_TABLES):
                continue
            cur = raw.cursor()
            try:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + statement, params)
                lines = [r[0] for r in cur.fetchall()]
                unindexed: set[str] = set()
                if _seq_tables(lines):
                    # Sequential scans off, PostgreSQL still makes one (or walks a whole
                    # index) where no index can serve the statement: that table lacks the
                    # index, whatever its size.
                    cur.execute("SET LOCAL enable_seqscan = off")
                    cur.execute("EXPLAIN (FORMAT TEXT) " + statement, params)
                    unindexed = _walked_tables([r[0] for r in cur.fetchall()])
            finally:
                cur.close()
                raw.rollback()
            ms = next((float(m.group(1)) for line in lines
                       if (m := re.search(r"Execution Time: ([\d.]+) ms", line))), 0.0)
            plans.append(Plan(case.name, statement, ms, lines, case.whole,
                              frozenset(unindexed), rows))  # fmt: skip
    return plans


def cases(engine: Engine, now: datetime) -> list[Case]:
    """The read side's calls on a database `fill` made: the digest (a window, a trial, a watch,
    unreviewed, a notification's rows), history, show, diff, list, a watch's members, the web
    overview, trials page, trial page, watch page and feeds, a mirror page's lookups. (The
    runs' queries read only syncrun, a row a run: not a table that grows with the scope.)"""
    from sqlmodel import Session, col, select

    from models import Change, Trial, WatchEvent
    from sync.report import digest, pageviews
    from sync.store import views
    from sync.watches import definitions, mirror

    updated = nct(UPDATED * 7)
    page = [nct(i) for i in range(5_001, 5_251)]
    with Session(engine) as s:
        watch_id = int(s.execute(sa.text("SELECT id FROM watch WHERE name = :n"),
                                 {"n": MIRROR}).scalar_one())  # fmt: skip
        # A notification's content: the rows of one day, by ID.
        since = now - timedelta(days=1)
        change_ids = [i or 0 for i in s.exec(select(Change.id).where(
            col(Change.detected_at) >= since))]  # fmt: skip
        event_ids = [i or 0 for i in s.exec(select(WatchEvent.id).where(
            col(WatchEvent.at) >= since))]  # fmt: skip
    day = digest.Selection(since=since, until=now)
    week = digest.Selection(since=now - timedelta(days=7), until=now)

    def session_run(fn: Callable[[Session], Any]) -> Callable[[], Any]:
        def go() -> Any:
            with Session(engine) as s:
                return fn(s)
        return go

    def mirror_page(s: Session) -> Any:
        known = list(s.exec(select(Trial).where(col(Trial.nct_id).in_(page))))
        m = mirror._Mirror.__new__(mirror._Mirror)
        m.watch_id = watch_id
        return known, m._open_members(s, page)

    def small_feed(s: Session) -> Any:
        members = pageviews.watch_members(s, SMALL)
        return pageviews.recent_versions(s, members), pageviews.watch_feed_events(s, SMALL)

    def trials_page(s: Session) -> Any:
        return views.trial_list(s), definitions.watch_rows(s), pageviews.last_changes(s)

    # What lists or counts every trial, member or change reads those tables whole.
    every_trial = frozenset({"trial"})
    every_member = frozenset({"watchmatch"})
    return [
        Case("digest, last day", session_run(lambda s: digest.build_digest(s, day))),
        Case("digest, last week", session_run(lambda s: digest.build_digest(s, week))),
        Case("digest of a trial", session_run(lambda s: digest.build_digest(
            s, digest.Selection(since=week.since, until=now, trials=[updated])))),
        Case("digest of a small watch", session_run(lambda s: digest.build_digest(
            s, digest.Selection(since=week.since, until=now, watch=SMALL)))),
        Case("digest of the mirror", session_run(lambda s: digest.build_digest(
            s, digest.Selection(since=since, until=now, watch=MIRROR)))),
        Case("digest, unreviewed", session_run(lambda s: digest.build_digest(
            s, digest.Selection(since=week.since, until=now, unreviewed=True)))),
        Case("digest of a notification", session_run(lambda s: digest.build_digest(
            s, digest.Selection(since=since, until=now, change_ids=change_ids,
                                event_ids=event_ids)))),  # fmt: skip
        Case("history of a trial", session_run(lambda s: views.history(s, updated))),
        Case("show a trial", session_run(lambda s: views.show(s, updated))),
        Case("show --as-of", session_run(lambda s: views.show(s, updated, as_of="2026-06"))),
        Case("diff v1 -> v2", session_run(lambda s: views.diff(s, updated))),
        Case("list", session_run(views.trial_list), every_trial),
        Case("members of a small watch",
             session_run(lambda s: definitions.member_rows(s, SMALL))),
        Case("members of the mirror, current",
             session_run(lambda s: definitions.member_rows(s, MIRROR, current_only=True)),
             every_member),
        Case("web overview", session_run(pageviews.overview), every_trial | every_member),
        Case("web trials page", session_run(trials_page),
             every_trial | every_member | {"change"}),
        Case("web trial page", session_run(lambda s: pageviews.trial_page(s, updated))),
        Case("web watch page, small watch", session_run(lambda s: pageviews.watch_page(s, SMALL))),
        Case("feed of every trial", session_run(pageviews.recent_versions)),
        Case("feed of a trial",
             session_run(lambda s: pageviews.recent_versions(s, [updated]))),
        Case("feed of a small watch", session_run(small_feed)),
        Case("a mirror page's lookups", session_run(mirror_page)),
        Case("a mirror's member count",
             session_run(lambda s: mirror.member_count(s, watch_id)), every_member),
    ]


def read_side(engine: Engine, now: datetime) -> list[Plan]:
    """The plans of every statement the read side's calls (`cases`) run."""
    rows = table_rows(engine)
    out: list[Plan] = []
    for case in cases(engine, now):
        out.extend(explain(engine, case, rows))
    return out
