"""The rows of an export: which studies, their versions walked in order, into DuckDB tables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from models import Change, Snapshot, Trial, Watch, WatchEvent, WatchMatch
from models.db import make_engine
from sync.core import record
from sync.core.diff.lists import LIST_KEYS, pair_all
from sync.core.diff.rules import date_slip
from sync.core.events import ChangeLike, build_events
from sync.core.reverts import LOOKBACK, Step, find_reverts
from sync.core.util import Progress
from sync.report.export_sql import KEY_COLUMNS, TABLES, create_table
from sync.store import codec
from sync.store import snapshots as store
from sync.watches import definitions as watches

# Rows fetched from the database per round trip, and rows handed to DuckDB per insert: big
# enough to keep both fast, small enough that a 100,000-study mirror never sits in memory.
FETCH_ROWS = 500
INSERT_ROWS = 2_000


_ARROW = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "VARCHAR[]": pa.list_(pa.string()),
}


class ExportError(ValueError):
    """An export request a user can fix: unknown trial or watch, bad date, unusable target."""


@dataclass
class Selection:
    """Which studies to export: all, some NCT IDs, a watch's members; only those with news since."""

    trials: list[str] = field(default_factory=list)
    watch: str | None = None
    since: date | None = None

    @property
    def partial(self) -> bool:
        return bool(self.trials or self.watch or self.since)


def parse_since(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ExportError(f"--since {text!r} is not a date: use YYYY-MM-DD") from None


def registry_date(value: Any) -> date | None:
    """A registry date as a date: "2026-05-12", or a month-only "2026-05" as its first day."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    with suppress(ValueError):
        if len(text) == 7:
            return date.fromisoformat(text + "-01")
        if len(text) == 4:
            return date.fromisoformat(text + "-01-01")
        return date.fromisoformat(text[:10])
    return None


def date_precision(value: Any) -> str | None:
    """How much of a registry date the registry gave: "day", "month" (the date column then
    holds its first day) or "year" (1 January); None without a date."""
    if registry_date(value) is None:
        return None
    return {4: "year", 7: "month"}.get(len(value.strip()), "day")


def _slip_in_days(detail: Any, old: Any, new: Any) -> Any:
    """A stored date change's slip as the diff gives it now (days always, with the months),
    whatever the version of trialwatch that stored it (older ones gave months alone)."""
    if not (isinstance(detail, dict) and "slip" in detail):
        return detail
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return detail
    slip = date_slip(old.get("date"), new.get("date"))
    return {**detail, "slip": slip} if slip else detail


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    # SQLite hands back naive datetimes; they are stored as UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _event_labels(
    changes: Sequence[ChangeLike], reverts: Mapping[int, int] | None = None
) -> list[tuple[str | None, str | None]]:
    """(event kind, importance) of each of one version step's changes.

    Every change belongs to exactly one event (sync.core.events.build_events), whose kind and
    importance label it, so `changes` joins to what history and the digest show.
    """
    labels: list[tuple[str | None, str | None]] = [(None, None)] * len(changes)
    for event in build_events(changes, reverts):
        for i in event.members:
            labels[i] = (event.kind, event.importance)
    return labels


# -- where the rows go -------------------------------------------------------------------------


class ArrowSink:
    """Rows of one DuckDB table (which exists), handed over as Arrow batches of `batch` rows."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[tuple[str, str]],
        batch: int = INSERT_ROWS,
    ) -> None:  # fmt: skip
        self.con, self.table, self.batch = con, table, batch
        self.columns = [c for c, _ in columns]
        self.schema = pa.schema([(c, _ARROW[kind]) for c, kind in columns])
        self.buffer: list[tuple[Any, ...]] = []
        self.rows = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        columns = list(zip(*self.buffer, strict=True))
        types = self.schema.types
        arrays = [pa.array(values, type=t) for values, t in zip(columns, types, strict=True)]
        batch = pa.Table.from_arrays(arrays, schema=self.schema)
        self.con.register("_export_batch", batch)
        try:
            self.con.execute(f"INSERT INTO {self.table} SELECT * FROM _export_batch")
        finally:
            self.con.unregister("_export_batch")
        self.rows += len(self.buffer)
        self.buffer = []


class _Sink(ArrowSink):
    """An export table, made anew (prefix: the staging of a merge)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, prefix: str) -> None:
        super().__init__(con, f"{prefix}{name}", TABLES[name])
        con.execute(f"DROP TABLE IF EXISTS {self.table}")
        con.execute(create_table(name, prefix))


# -- reading the database ----------------------------------------------------------------------


@contextmanager
def snapshot_read(engine: Engine) -> Iterator[Connection]:
    """One read transaction for the whole export, so that its tables agree with each other.

    PostgreSQL: REPEATABLE READ. SQLite: a plain (deferred) BEGIN, a WAL read snapshot that lets
    a sync write meanwhile; the application engine begins IMMEDIATE, which would block writers
    for the length of the export.
    """
    if engine.dialect.name != "sqlite":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
        return
    # The read-only engine the web app reads through: deferred, query-only transactions.
    reader = make_engine(engine.url.render_as_string(hide_password=False), read_only=True)
    try:
        with reader.connect() as conn, conn.begin():
            yield conn
    finally:
        reader.dispose()


def stream(conn: Connection, query: Any) -> Iterator[Any]:
    # Server-side cursor on PostgreSQL; SQLite's cursor already fetches lazily.
    result = conn.execution_options(stream_results=True, yield_per=FETCH_ROWS).execute(query)
    yield from result


def trial_conditions(session: Session, sel: Selection) -> list[Any]:
    conds: list[Any] = []
    if sel.trials:
        known = set(session.exec(select(Trial.nct_id).where(col(Trial.nct_id).in_(sel.trials))))
        missing = [n for n in sel.trials if n not in known]
        if missing:
            raise ExportError(f"not tracked: {', '.join(missing)} (see: trialwatch list)")
        conds.append(col(Trial.nct_id).in_(sel.trials))
    if sel.watch is not None:
        try:
            watch = watches.get_watch(session, sel.watch)
        except watches.UnknownWatch as exc:
            raise ExportError(str(exc)) from None
        members = select(WatchMatch.nct_id).where(WatchMatch.watch_id == watch.id)
        conds.append(
            sa.or_(col(Trial.nct_id).in_(members), col(Trial.source) == f"watch:{sel.watch}")
        )
    if sel.since is not None:
        since = datetime.combine(sel.since, time(0), tzinfo=UTC)
        fresh = select(Snapshot.trial_id).where(col(Snapshot.fetched_at) >= since)
        conds.append(
            sa.or_(
                col(Trial.id).in_(fresh),
                col(Trial.added_at) >= since,
                col(Trial.last_checked_at) >= since,
            )
        )
    return conds


def _event_conditions(session: Session, sel: Selection) -> list[Any]:
    conds: list[Any] = []
    if sel.trials:
        conds.append(col(WatchEvent.nct_id).in_(sel.trials))
    if sel.watch is not None:
        conds.append(col(Watch.name) == sel.watch)
    if sel.since is not None:
        conds.append(col(WatchEvent.at) >= datetime.combine(sel.since, time(0), tzinfo=UTC))
    return conds


# -- rows --------------------------------------------------------------------------------------


def _key_columns(keys: dict[str, Any]) -> tuple[Any, ...]:
    enrollment = keys["enrollment"]
    count = enrollment.get("count")
    return (
        keys["title"],
        keys["status"],
        count if isinstance(count, int) else None,
        enrollment.get("type"),
        keys["study_type"],
        registry_date(keys["start_date"]),
        keys["start_date_type"],
        date_precision(keys["start_date"]),
        registry_date(keys["primary_completion_date"]),
        keys["primary_completion_date_type"],
        date_precision(keys["primary_completion_date"]),
        registry_date(keys["completion_date"]),
        keys["completion_date_type"],
        date_precision(keys["completion_date"]),
        keys["phases"],
        keys["sponsor"],
        keys["site_count"],
        keys["countries"],
        keys["has_results"],
    )


_EMPTY_KEYS: tuple[Any, ...] = (None,) * len(KEY_COLUMNS)


def _locations(study: dict[str, Any]) -> list[Any]:
    ps = study.get("protocolSection")
    module = ps.get("contactsLocationsModule") if isinstance(ps, dict) else None
    locations = module.get("locations") if isinstance(module, dict) else None
    return locations if isinstance(locations, list) else []


SITE_ATTRS = ("facility", "city", "state", "zip", "country", "status")


class _Sites:
    """One trial's sites over its versions. A site is what the diff calls one (pair_all, the
    pairing of its "site added/removed/changed"): it keeps its number from the version it
    appears in while the registry lists it, renamed or re-encoded; a row of `sites` holds
    while none of its columns change. Sites without a name or an address are left out."""

    def __init__(self) -> None:
        self.prev: list[Any] = []  # the previous version's locations (the identified ones)
        self.ids: list[int] = []  # their site numbers, in the same order
        self.open: dict[int, tuple[str, tuple[Any, ...], int, date | None]] = {}
        self.next_id = 1

    def version(
        self, nct: str, locations: list[Any], version: int, prev_version: int, when: date | None,
        sites: ArrowSink,
    ) -> None:  # fmt: skip
        identify = LIST_KEYS["locations"]
        now = [loc for loc in locations if isinstance(loc, dict) and identify(loc) is not None]
        ids: list[int | None] = [None] * len(now)
        for i, j in pair_all("locations", self.prev, now):
            if j is None:
                assert i is not None
                self._close(nct, self.ids[i], prev_version, when, sites)
                continue
            if i is None:
                site, self.next_id = self.next_id, self.next_id + 1
            else:
                site = self.ids[i]
            ids[j] = site
            key = identify(now[j])[0]  # type: ignore[index]
            attrs = tuple(now[j].get(k) for k in SITE_ATTRS)
            held = self.open.get(site)
            if held is not None and (held[0], held[1]) == (key, attrs):
                continue
            if held is not None:
                self._close(nct, site, prev_version, when, sites)
            self.open[site] = (key, attrs, version, when)
        self.prev, self.ids = now, [n for n in ids if n is not None]

    def _close(self, nct: str, site: int, last: int, when: date | None, sites: ArrowSink) -> None:
        key, attrs, start, start_date = self.open.pop(site)
        sites.add((nct, key, site, *attrs, start, last, start_date, when))

    def finish(self, nct: str, sites: ArrowSink) -> None:
        for site, (key, attrs, start, start_date) in sorted(self.open.items()):
            sites.add((nct, key, site, *attrs, start, None, start_date, None))
        self.open.clear()


class _TrialRow:
    """The trial's columns of a joined row (the row itself names the snapshot's date the same)."""

    def __init__(self, row: Any) -> None:
        self.trial_id = row.trial_id
        self.nct_id = row.nct_id
        self.active = row.active
        self.source = row.source
        self.registry_state = row.registry_state
        self.alias_of = row.alias_of
        self.added_at = row.added_at
        self.last_checked_at = row.last_checked_at
        self.latest_version = row.latest_version
        self.last_update_posted = row.trial_last_update_posted


class VersionDecoder:
    """One trial's stored versions decoded in order (a delta needs its keyframe, met before)."""

    def __init__(self, nct_id: str, dictionaries: dict[int, codec.Trained]) -> None:
        self.nct_id = nct_id
        self.dictionaries = dictionaries
        self.keyframes: dict[int, bytes] = {}

    def record(self, snap: Any) -> dict[str, Any]:
        keyframe = self.keyframes.get(snap.base_version) if snap.encoding == codec.DELTA else None
        if snap.encoding == codec.DELTA and keyframe is None:
            raise ValueError(
                f"{self.nct_id} v{snap.version}: keyframe v{snap.base_version} is missing"
            )
        trained = self.dictionaries.get(snap.dict_id) if snap.encoding == codec.TRAINED else None
        raw = codec.decode(snap.encoding, snap.body, keyframe, trained)
        if codec.is_whole(snap.encoding):
            self.keyframes[snap.version] = raw
        study: dict[str, Any] = orjson.loads(raw)
        return study


class _TrialWalk:
    """One trial's versions, in order: its version rows, its site spans, its current fields."""

    def __init__(self, trial: Any, dictionaries: dict[int, codec.Trained]) -> None:
        self.trial = trial
        self.decoder = VersionDecoder(trial.nct_id, dictionaries)
        self.sites = _Sites()
        self.last_keys: tuple[Any, ...] = _EMPTY_KEYS
        self.prev_version = 0
        self.prev_snap: Any = None
        self.prev_locations: list[Any] = []

    def version(self, snap: Any, versions: _Sink, sites: _Sink) -> None:
        study = self.decoder.record(snap)
        keys = record.key_fields(study)
        self.last_keys = _key_columns(keys)
        when = date.fromisoformat(store.version_date(snap, self.prev_snap))
        self.prev_snap = snap
        nct = self.trial.nct_id
        versions.add(
            (
                nct,
                snap.version,
                snap.origin,
                snap.registry_version,
                registry_date(snap.registry_date),
                _utc(snap.fetched_at),
                registry_date(snap.last_update_posted),
                when,
                *self.last_keys,
            )
        )
        locations = _locations(study)
        # Most versions leave the sites as they were: then every span just goes on.
        if locations != self.prev_locations:
            self.sites.version(nct, locations, snap.version, self.prev_version, when, sites)
            self.prev_locations = locations
        self.prev_version = snap.version

    def finish(self, trials: _Sink, sites: _Sink) -> None:
        t = self.trial
        self.sites.finish(t.nct_id, sites)
        trials.add(
            (
                t.nct_id,
                t.active,
                t.source,
                t.registry_state,
                t.alias_of,
                _utc(t.added_at),
                _utc(t.last_checked_at),
                t.latest_version,
                registry_date(t.last_update_posted),
                *self.last_keys,
            )
        )


def _export_versions(
    conn: Connection,
    conds: list[Any],
    sinks: dict[str, _Sink],
    progress: Progress | None,
    total: int,
) -> None:
    trial_cols: list[Any] = [
        col(Trial.id).label("trial_id"),
        Trial.nct_id,
        Trial.active,
        Trial.source,
        Trial.registry_state,
        Trial.alias_of,
        Trial.added_at,
        Trial.last_checked_at,
        Trial.latest_version,
        col(Trial.last_update_posted).label("trial_last_update_posted"),
    ]
    snap_cols: list[Any] = [
        Snapshot.version,
        Snapshot.origin,
        Snapshot.registry_version,
        Snapshot.registry_date,
        Snapshot.fetched_at,
        Snapshot.last_update_posted,
        Snapshot.data_timestamp,
        Snapshot.encoding,
        Snapshot.base_version,
        Snapshot.dict_id,
        Snapshot.body,
    ]
    query = (
        sa.select(*trial_cols, *snap_cols)
        .select_from(Trial)
        .outerjoin(Snapshot, col(Snapshot.trial_id) == col(Trial.id))
        .where(*conds)
        .order_by(col(Trial.id), col(Snapshot.version))
    )
    walk: _TrialWalk | None = None
    done = 0
    dictionaries = codec.dictionaries(conn)  # before the stream: a few rows, read once
    for row in stream(conn, query):
        if walk is None or walk.trial.trial_id != row.trial_id:
            if walk is not None:
                walk.finish(sinks["trials"], sinks["sites"])
            walk = _TrialWalk(_TrialRow(row), dictionaries)
        if row.version is None:
            continue  # tracked, nothing stored yet
        walk.version(row, sinks["versions"], sinks["sites"])
        done += 1
        if progress is not None and done % 200 == 0:
            progress(done, total, walk.trial.nct_id)
    if walk is not None:
        walk.finish(sinks["trials"], sinks["sites"])
    if progress is not None:
        progress(done, total, "")


def _export_changes(conn: Connection, conds: list[Any], sink: _Sink) -> None:
    """The stored changes of each version step (as `history` lists them), with the new
    version's last-update date and its event labels."""
    query = (
        sa.select(
            col(Trial.nct_id),
            col(Change.id).label("change_id"),
            col(Change.from_version),
            col(Change.to_version),
            col(Snapshot.last_update_posted),
            col(Change.category),
            col(Change.path),
            col(Change.old),
            col(Change.new),
            col(Change.summary),
            col(Change.severity),
            col(Change.detail),
            col(Change.detected_at),
        )
        .select_from(Change)
        .join(Trial, col(Trial.id) == col(Change.trial_id))
        .outerjoin(
            Snapshot,
            sa.and_(
                col(Snapshot.trial_id) == col(Change.trial_id),
                col(Snapshot.version) == col(Change.to_version),
            ),
        )
        .where(col(Change.to_version) == col(Change.from_version) + 1, *conds)
        .order_by(col(Change.trial_id), col(Change.to_version), col(Change.id))
    )
    step: list[Any] = []
    earlier: list[Step] = []  # the trial's steps just before, for the reverts (rows come in order)
    trial: list[str] = []

    def flush_step() -> None:
        first = step[0]
        if trial and trial[0] != first.nct_id:
            earlier.clear()
        trial[:] = [first.nct_id]
        near = [e for e in earlier if e.to_version >= first.to_version - LOOKBACK]
        labels = _event_labels(step, find_reverts(step, near))
        earlier.append(Step(first.from_version, first.to_version, list(step)))
        del earlier[:-LOOKBACK]
        for r, (kind, importance) in zip(step, labels, strict=True):
            sink.add(
                (
                    r.nct_id,
                    r.change_id,
                    r.from_version,
                    r.to_version,
                    registry_date(r.last_update_posted),
                    r.category,
                    r.path,
                    _json(r.old),
                    _json(r.new),
                    r.summary,
                    r.severity,
                    _json(_slip_in_days(r.detail, r.old, r.new)),
                    kind,
                    importance,
                    _utc(r.detected_at),
                )
            )
        step.clear()

    for row in stream(conn, query):
        if step and (step[0].nct_id, step[0].to_version) != (row.nct_id, row.to_version):
            flush_step()
        step.append(row)
    if step:
        flush_step()


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _export_events(conn: Connection, conds: list[Any], sink: _Sink) -> None:
    query = (
        sa.select(
            col(WatchEvent.id),
            col(Watch.name),
            col(WatchEvent.nct_id),
            col(WatchEvent.event),
            col(WatchEvent.reason),
            col(WatchEvent.summary),
            col(WatchEvent.at),
            col(WatchEvent.run_id),
        )
        .join(Watch, col(Watch.id) == col(WatchEvent.watch_id))
        .where(*conds)
        .order_by(col(WatchEvent.at), col(WatchEvent.id))
    )
    for r in stream(conn, query):
        sink.add((r.id, r.name, r.nct_id, r.event, r.reason, r.summary, _utc(r.at), r.run_id))


# What a merge refreshes for every trial of the file, selected or not: a trial removed (or
# found an alias) since has no news for --since to select, and must not read as it was.
STATES_TABLE = "trial_states"
STATE_COLUMNS = (
    ("nct_id", "VARCHAR"),
    ("active", "BOOLEAN"),
    ("registry_state", "VARCHAR"),
    ("alias_of", "VARCHAR"),
)


def _export_states(conn: Connection, sink: ArrowSink) -> None:
    query = sa.select(
        col(Trial.nct_id), col(Trial.active), col(Trial.registry_state), col(Trial.alias_of)
    )
    for r in stream(conn, query):
        sink.add((r.nct_id, r.active, r.registry_state, r.alias_of))


def fill(
    engine: Engine,
    con: duckdb.DuckDBPyConnection,
    prefix: str,
    sel: Selection,
    progress: Progress | None,
    states: bool = False,
) -> dict[str, int]:
    """The export's tables (named with `prefix`), and with `states` every trial's state in
    `{prefix}trial_states` too (for a merge), all from one read snapshot."""
    if states:
        staged = f"{prefix}{STATES_TABLE}"
        cols = ", ".join(f"{c} {kind}" for c, kind in STATE_COLUMNS)
        con.execute(f"DROP TABLE IF EXISTS {staged}")
        con.execute(f"CREATE TABLE {staged} ({cols})")
        state_sink = ArrowSink(con, staged, STATE_COLUMNS)
    with snapshot_read(engine) as conn:
        session = Session(bind=conn)
        trial_conds = trial_conditions(session, sel)
        event_conds = _event_conditions(session, sel)
        total = conn.execute(
            sa.select(sa.func.count())
            .select_from(Snapshot)
            .join(Trial, col(Trial.id) == col(Snapshot.trial_id))
            .where(*trial_conds)
        ).scalar_one()
        sinks = {name: _Sink(con, name, prefix) for name in TABLES}
        _export_versions(conn, trial_conds, sinks, progress, total)
        _export_changes(conn, trial_conds, sinks["changes"])
        _export_events(conn, event_conds, sinks["watch_events"])
        if states:
            _export_states(conn, state_sink)
            state_sink.flush()
    for sink in sinks.values():
        sink.flush()
    return {name: sink.rows for name, sink in sinks.items()}
