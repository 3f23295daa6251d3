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
# A query that reads every member by design (once a run): a sequential scan is its right plan.
WHOLE_SCOPE = "a mirror's member count (whole scope, once a run)"
# One in UPDATED studies has a version 2 with CHANGES_EACH changes, spread over DAYS days.
UPDATED = 100
CHANGES_EACH = 3
DAYS = 30


def fill(engine: Engine, studies: int, now: datetime | None = None) -> dict[str, int]:
    """`studies` trials in a whole-registry mirror (version 1 each; 1% with a version 2 and
    typed changes over the last DAYS days; 1% left the mirror), made by the server."""
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
        "days": DAYS,
        "title": keys["title"] or "A study",
        "params": json.dumps({"mirror": True}),
    }
    statements = [
        """INSERT INTO watch (name, params, track, source, active, created_at)
           VALUES ('everything', CAST(:params AS JSON), true, 'config', true, :now)""",
        """INSERT INTO syncrun (kind, trigger, started_at, finished_at, outcome, requests,
               fetched, new_versions, changes)
           SELECT 'sync', 'daemon', :now - make_interval(days => d), :now - make_interval(days => d)
               + interval '5 minutes', 'ok', 3, :n / 100, :n / 100, 3 * :n / 100
           FROM generate_series(0, :days) AS d""",
        """INSERT INTO trial (nct_id, active, source, added_at, registry_state, latest_version,
               title, status, last_update_posted, last_checked_at)
           SELECT 'NCT' || (90000000 + i)::text, true,
               CASE WHEN i % 2 = 0 THEN 'mirror:everything' ELSE 'manual' END,
               :now - interval '60 days', 'found', CASE WHEN i % :updated = 0 THEN 2 ELSE 1 END,
               :title || ' ' || i, 'RECRUITING', '2026-01-01', :now
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO snapshot (trial_id, version, fetched_at, content_hash, canon_version,
               origin, last_update_posted, encoding, raw_size, body)
           SELECT id, 1, :now - interval '60 days', :hash, 0, 'poll', '2026-01-01', 'zstd',
               :raw_size, :body FROM trial""",
        """INSERT INTO snapshot (trial_id, version, fetched_at, content_hash, canon_version,
               origin, last_update_posted, encoding, raw_size, body)
           SELECT id, 2, :now - make_interval(days => id % :days), :hash, 4, 'poll',
               '2026-11-01', 'zstd', :raw_size, :body
           FROM trial WHERE latest_version = 2""",
        """INSERT INTO change (trial_id, from_version, to_version, category, path, old, new,
               summary, severity, detected_at)
           SELECT t.id, 1, 2, (ARRAY['status', 'enrollment', 'sites'])[k],
               'protocolSection.statusModule.overallStatus', CAST('"RECRUITING"' AS JSON),
               CAST('"COMPLETED"' AS JSON), 'status: RECRUITING -> COMPLETED',
               (ARRAY['high', 'medium', 'low'])[k],
               :now - make_interval(days => t.id % :days, hours => 1)
           FROM trial t CROSS JOIN generate_series(1, 3) AS k WHERE t.latest_version = 2""",
        """INSERT INTO watchmatch (watch_id, nct_id, first_seen, last_seen, left_at, left_reason,
               title, status)
           SELECT w.id, t.nct_id, :now - interval '60 days', :now,
               CASE WHEN t.id % :updated = 7
                   THEN :now - make_interval(days => t.id % :days, hours => 1) END,
               CASE WHEN t.id % :updated = 7 THEN 'no longer matches' END, t.title, t.status
           FROM trial t CROSS JOIN watch w""",
        """INSERT INTO watchevent (watch_id, nct_id, event, reason, summary, at)
           SELECT m.watch_id, m.nct_id, 'left', m.left_reason, 'left: ' || m.nct_id, m.left_at
           FROM watchmatch m WHERE m.left_at IS NOT NULL""",
    ]
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(sa.text(sql), p)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
        counts = {
            t: int(conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one())
            for t in BIG_TABLES
        }
    return counts


_ACCESS = re.compile(
    r"((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: using \w+)?"
    r" on \w+)"
)


@dataclass
class Plan:
    """One statement a read-side function ran, and how PostgreSQL runs it."""

    query: str
    sql: str
    ms: float
    lines: list[str] = field(default_factory=list)

    @property
    def seq_scans(self) -> list[str]:
        """Big tables the plan reads whole (none for a query that reads the whole scope)."""
        if self.query == WHOLE_SCOPE:
            return []
        found = set()
        for line in self.lines:
            m = re.search(r"Seq Scan on (\w+)", line)
            if m and m.group(1) in BIG_TABLES:
                found.add(m.group(1))
        return sorted(found)

    @property
    def access(self) -> str:
        paths = []
        for line in self.lines:
            m = _ACCESS.search(line)
            if m and m.group(1) not in paths:
                paths.append(m.group(1))
        return "; ".join(paths)


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


def explain(engine: Engine, name: str, run: Callable[[], Any]) -> list[Plan]:
    """The plans (EXPLAIN ANALYZE) of the SELECTs `run` makes that name a big table."""
    with caught(engine) as seen:
        run()
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
                cur.execute("EXPLAIN (ANALYZE, FORMAT TEXT) " + statement, params)
                lines = [r[0] for r in cur.fetchall()]
            finally:
                cur.close()
            ms = next((float(m.group(1)) for line in lines
                       if (m := re.search(r"Execution Time: ([\d.]+) ms", line))), 0.0)
            plans.append(Plan(name, statement, ms, lines))
    return plans


def read_side(engine: Engine, now: datetime) -> list[Plan]:
    """The plans of the queries the digest, history, show, diff, list's watch members and a
    mirror page's lookups run, on a database `fill` made."""
    from sqlmodel import Session

    from sync.report import digest
    from sync.store import views
    from sync.watches import mirror

    updated = nct(UPDATED * 7)
    page = [nct(i) for i in range(5_001, 5_251)]
    with Session(engine) as s:
        watch_id = int(s.execute(sa.text("SELECT id FROM watch")).scalar_one())
    day = digest.Selection(since=now - timedelta(days=1), until=now)
    week = digest.Selection(since=now - timedelta(days=7), until=now)

    def session_run(fn: Callable[[Session], Any]) -> Callable[[], Any]:
        def go() -> Any:
            with Session(engine) as s:
                return fn(s)
        return go

    def mirror_page(s: Session) -> Any:
        from sqlmodel import col, select

        from models import Trial

        known = list(s.exec(select(Trial).where(col(Trial.nct_id).in_(page))))
        m = mirror._Mirror.__new__(mirror._Mirror)
        m.watch_id = watch_id
        return known, m._open_members(s, page)

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("digest, last day", session_run(lambda s: digest.build_digest(s, day))),
        ("digest, last week", session_run(lambda s: digest.build_digest(s, week))),
        ("history of a trial", session_run(lambda s: views.history(s, updated))),
        ("show a trial", session_run(lambda s: views.show(s, updated))),
        ("diff v1 -> v2", session_run(lambda s: views.diff(s, updated))),
        ("a mirror page's lookups", session_run(mirror_page)),
        (WHOLE_SCOPE, session_run(lambda s: mirror.member_count(s, watch_id))),
    ]
    out: list[Plan] = []
    for name, run in cases:
        out.extend(explain(engine, name, run))
    return out
