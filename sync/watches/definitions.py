"""Saved searches: their definitions and validation, the config's watches, and read views
(typed: sync.watches.results)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, func, select

from models import Trial, Watch, WatchEvent, WatchMatch
from sync.config import DEFAULT_MAX_WATCHES, WatchConfig
from sync.core.ids import quoted
from sync.core.states import RunOutcome
from sync.core.util import iso
from sync.store import snapshots as store
from sync.watches import similar
from sync.watches.results import MemberRow, WatchEventRow, WatchRow

QUERY_PARAMS = {
    "term": "query.term",
    "cond": "query.cond",
    "intr": "query.intr",
    "titles": "query.titles",
    "spons": "query.spons",
}
# What membership needs: the NCT ID, the summary line of an entering study (title, status,
# phase, sponsor), and the conditions and intervention names `similar` ranks matched studies by.
MEMBERSHIP_FIELDS = (
    "NCTId",
    "BriefTitle",
    "OverallStatus",
    "Phase",
    "LeadSponsorName",
    "Condition",
    "InterventionName",
)


class InvalidWatch(ValueError):
    """A watch definition the registry would reject or that would search for nothing useful."""


class UnknownWatch(LookupError):
    """No watch of that name."""


class WatchConflict(ValueError):
    """A change from the CLI to a watch the config file declares (the file would undo it)."""


class TooManyWatches(WatchConflict):
    """A new watch past `max_watches` active ones."""


class UnknownStudy(LookupError):
    """An NCT ID trialwatch neither tracks nor has seen in a watch."""


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ()))
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown setting"
    if field == "name" and err.get("type") == "string_pattern_mismatch":
        msg = "use letters, digits, '.', '_' and '-' (starting with a letter or digit)"
    return f"{field}: {msg}" if field else msg


def _balanced(text: str) -> str | None:
    """Why an Essie expression cannot parse (unbalanced quotes or brackets), else None."""
    if text.count('"') % 2:
        return "unbalanced double quotes"
    depth = 0
    for c in text:
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth < 0:
            return "a ')' without its '('"
    if depth:
        return "a '(' without its ')'"
    if text.count("[") != text.count("]"):
        return "unbalanced square brackets"
    return None


def check(name: str, params: dict[str, Any], track: bool = True) -> WatchConfig:
    """A validated definition; InvalidWatch (one line) for anything the registry would refuse."""
    try:
        cfg = WatchConfig(name=name, track=track, **params)
    except ValidationError as exc:
        message = _first_error(exc)
        # Whole-definition errors already name the watch ("watch 'x' has no query: …").
        prefix = "" if message.startswith(f"watch {name!r}") else f"invalid watch {name!r}: "
        raise InvalidWatch(prefix + message) from None
    except TypeError as exc:
        raise InvalidWatch(f"invalid watch {name!r}: {exc}") from None
    for key in (*QUERY_PARAMS, "advanced"):
        value = getattr(cfg, key)
        if value and (problem := _balanced(value)):
            raise InvalidWatch(f"invalid watch {name!r}: {key}: {problem} in {quoted(value, 60)}")
    return cfg


def params_of(cfg: WatchConfig) -> dict[str, Any]:
    """The stored form of a definition: only what is set, whitespace collapsed."""
    out: dict[str, Any] = {}
    for key in (*QUERY_PARAMS, "advanced"):
        value = getattr(cfg, key)
        if value and value.strip():
            # Line breaks (long queries in the config file) are spaces to Essie.
            out[key] = " ".join(value.split())
    if cfg.status:
        out["status"] = list(cfg.status)
    if cfg.mirror:
        out["mirror"] = True
    if cfg.from_archive:
        out["from_archive"] = cfg.from_archive
    return out


def validate_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return params_of(check(name, {k: v for k, v in params.items() if k != "track"}))


def search_params(params: dict[str, Any]) -> dict[str, str]:
    """The /studies parameters of a membership search (paging is the client's)."""
    out = {QUERY_PARAMS[k]: params[k] for k in QUERY_PARAMS if params.get(k)}
    if params.get("status"):
        out["filter.overallStatus"] = "|".join(params["status"])
    if params.get("advanced"):
        out["filter.advanced"] = params["advanced"]
    out["fields"] = ",".join(MEMBERSHIP_FIELDS)
    return out


def describe(params: dict[str, Any]) -> str:
    parts = [f"{k}={params[k]}" for k in (*QUERY_PARAMS, "advanced") if params.get(k)]
    if params.get("status"):
        parts.append("status=" + ",".join(params["status"]))
    if params.get("mirror"):
        parts.insert(0, "mirror of " + ("the whole registry" if not parts else "the search"))
    if params.get("from_archive"):
        source = params["from_archive"]
        parts.append("first loaded from " + (source if isinstance(source, str) else "the archive"))
    return " ".join(parts)


# -- definitions in the database ---------------------------------------------------------------


def get_watch(session: Session, name: str) -> Watch:
    watch = session.exec(select(Watch).where(Watch.name == name)).first()
    if watch is None:
        raise UnknownWatch(f"no watch named {name!r} (see: trialwatch watch list)")
    return watch


def sync_config_watches(session: Session, configs: list[WatchConfig]) -> None:
    """Make the Watch table agree with the config file's [[watches]] (source "config").

    A watch dropped from the file is deactivated, its membership history kept.
    """
    declared = {c.name for c in configs}
    for cfg in configs:
        watch = session.exec(select(Watch).where(Watch.name == cfg.name)).first()
        params = params_of(cfg)
        if watch is None:
            session.add(Watch(name=cfg.name, params=params, track=cfg.track, source="config"))
            continue
        if (watch.params, watch.track, watch.source, watch.active) != (
            params,
            cfg.track,
            "config",
            True,
        ):
            if watch.params != params:
                # Not run with this definition yet: the next sync runs it (see freshness).
                watch.last_outcome = None
            watch.params, watch.track, watch.source, watch.active = (
                params,
                cfg.track,
                "config",
                True,
            )
            session.add(watch)
    stale = select(Watch).where(Watch.source == "config", col(Watch.active).is_(True))
    for watch in session.exec(stale):
        if watch.name not in declared:
            watch.active = False
            session.add(watch)


def add_watch(
    session: Session, cfg: WatchConfig, declared: set[str], most: int = DEFAULT_MAX_WATCHES
) -> Watch:
    """Add a CLI watch (or re-activate a removed one under the same name), at most `most`
    active watches in all (the config's included)."""
    if cfg.name in declared:
        raise WatchConflict(f"watch {cfg.name!r} is declared in the config file; change it there")
    watch = session.exec(select(Watch).where(Watch.name == cfg.name)).first()
    if watch is not None and watch.active:
        raise WatchConflict(f"watch {cfg.name!r} already exists (remove it first to redefine it)")
    active = session.exec(
        select(func.count()).select_from(Watch).where(col(Watch.active).is_(True))
    ).one()
    if active >= most:
        raise TooManyWatches(
            f"there are already {active:,} watches, the most max_watches allows ({most:,}): "
            "remove one (trialwatch watch remove NAME) or raise max_watches in the config"
        )
    if watch is None:
        watch = Watch(name=cfg.name, params=params_of(cfg), track=cfg.track, source="cli")
    else:
        watch.params, watch.track, watch.source, watch.active = (
            params_of(cfg),
            cfg.track,
            "cli",
            True,
        )
        watch.last_outcome = None  # a new definition: the next sync runs it
    session.add(watch)
    session.flush()
    return watch


def remove_watch(session: Session, name: str, declared: set[str]) -> Watch:
    """Deactivate a CLI watch; its members stay tracked and its history is kept."""
    watch = get_watch(session, name)
    if name in declared:
        raise WatchConflict(f"watch {name!r} is declared in the config file; remove it there")
    if not watch.active:
        raise UnknownWatch(f"watch {name!r} was already removed")
    watch.active = False
    session.add(watch)
    return watch


# -- read views --------------------------------------------------------------------------------


def watch_rows(
    session: Session, include_inactive: bool = False, name: str | None = None
) -> list[WatchRow]:
    """The watches (or only the one named) with their current member counts."""
    counted = (
        select(WatchMatch.watch_id, func.count())
        .where(col(WatchMatch.left_at).is_(None))
        .group_by(col(WatchMatch.watch_id))
    )
    q = select(Watch).order_by(col(Watch.name))
    if name is not None:
        # One watch's page counts its own members, not a mirror's 500,000 beside them.
        counted = counted.where(
            col(WatchMatch.watch_id).in_(select(Watch.id).where(Watch.name == name))
        )
        q = q.where(Watch.name == name)
    counts = dict(session.exec(counted).all())  # type: ignore[call-overload]
    if not include_inactive:
        q = q.where(col(Watch.active).is_(True))
    return [
        WatchRow(
            name=w.name,
            matches=counts.get(w.id or 0, 0),
            last_run=iso(w.last_run_at),
            last_outcome=RunOutcome(w.last_outcome) if w.last_outcome else None,
            last_error=w.last_error,
            query=dict(w.params or {}),
            track=w.track,
            source=w.source,
            active=w.active,
        )
        for w in session.exec(q)
    ]


def member_rows(session: Session, name: str, current_only: bool = False) -> list[MemberRow]:
    """The watch's members over time: one row per stay, current ones first, then by NCT ID."""
    watch = get_watch(session, name)
    q = select(WatchMatch).where(WatchMatch.watch_id == watch.id)
    if current_only:
        q = q.where(col(WatchMatch.left_at).is_(None))
    rows = sorted(
        session.exec(q),
        key=lambda m: (m.left_at is not None, m.nct_id, m.first_seen),
    )
    return [
        MemberRow(
            nct_id=m.nct_id,
            first_seen=iso(m.first_seen),
            last_seen=iso(m.last_seen),
            left=iso(m.left_at),
            left_reason=m.left_reason,
            title=m.title,
            status=m.status,
        )
        for m in rows
    ]


def events(
    session: Session, since: datetime | None = None, name: str | None = None
) -> list[WatchEventRow]:
    """Entered/left events, oldest first (what a digest reports next to changes)."""
    q = select(WatchEvent, Watch.name).join(Watch, col(Watch.id) == col(WatchEvent.watch_id))
    if since is not None:
        q = q.where(WatchEvent.at >= since)
    if name is not None:
        q = q.where(Watch.name == name)
    return [
        WatchEventRow(
            id=e.id or 0,
            watch=watch_name,
            nct_id=e.nct_id,
            event=e.event,
            reason=e.reason,
            summary=e.summary,
            at=iso(e.at),
            run_id=e.run_id,
        )
        for e, watch_name in session.exec(q.order_by(col(WatchEvent.at), col(WatchEvent.id)))
    ]


def known_profiles(session: Session) -> dict[str, similar.Profile]:
    """Every study trialwatch knows: active tracked trials and current watch members."""
    sources: dict[str, list[str]] = {}
    infos: dict[str, WatchMatch] = {}
    q = (
        select(WatchMatch, Watch.name)
        .join(Watch, col(Watch.id) == col(WatchMatch.watch_id))
        .where(col(WatchMatch.left_at).is_(None))
        .order_by(col(Watch.name))
    )
    for m, watch_name in session.exec(q):
        sources.setdefault(m.nct_id, []).append(f"watch:{watch_name}")
        infos.setdefault(m.nct_id, m)
    profiles: dict[str, similar.Profile] = {}
    trials = session.exec(select(Trial).where(col(Trial.active).is_(True)))
    for t in trials:
        if t.registry_state == "alias" or (
            t.registry_state in ("not_found", "rejected") and not t.latest_version
        ):
            # Nothing to compare: an alias's record is its target's; the others have none.
            # A trial whose record the registry lost is compared by its last stored version.
            continue
        srcs = ["tracked", *sources.get(t.nct_id, [])]
        study = (
            store.load_record(session, t.id or 0, t.latest_version) if t.latest_version else None
        )
        if study is not None:
            profiles[t.nct_id] = similar.profile_of_record(study, sources=srcs)
        elif t.nct_id not in infos:
            profiles[t.nct_id] = similar.make_profile(
                t.nct_id, title=t.title or "", status=t.status, sources=srcs
            )
        else:
            profiles[t.nct_id] = _profile_of_match(infos[t.nct_id], srcs)
    for nct, m in infos.items():
        if nct not in profiles:
            profiles[nct] = _profile_of_match(m, sources[nct])
    return profiles


def _profile_of_match(m: WatchMatch, sources: list[str]) -> similar.Profile:
    info = m.info if isinstance(m.info, dict) else {}
    return similar.make_profile(
        m.nct_id,
        title=m.title or "",
        status=m.status,
        phases=info.get("phases") or [],
        sponsor=info.get("sponsor"),
        conditions=info.get("conditions") or [],
        interventions=info.get("interventions") or [],
        sources=sources,
    )


def similar_to(session: Session, nct_id: str, limit: int | None = 20) -> dict[str, Any]:
    """The known studies ranked by similarity to `nct_id`, each with why."""
    profiles = known_profiles(session)
    anchor = profiles.get(nct_id)
    trial = session.exec(select(Trial).where(Trial.nct_id == nct_id)).first()
    if trial is not None and trial.active:
        if trial.registry_state == "alias":
            raise UnknownStudy(
                f"{nct_id} is an alias of {trial.alias_of}: its record is {trial.alias_of}'s "
                f"(trialwatch similar {trial.alias_of})"
            )
        if anchor is None or (trial.registry_state == "unknown" and not trial.title):
            state = {
                "not_found": "not found at the registry",
                "rejected": "rejected by the registry",
            }.get(trial.registry_state, "not synced yet (run: trialwatch sync)")
            raise UnknownStudy(f"{nct_id} is tracked but {state}: no record to compare")
    if anchor is None:
        raise UnknownStudy(
            f"{nct_id} is not known to trialwatch: track it (trialwatch add {nct_id}) and sync, "
            "or let a watch find it"
        )
    return {
        "nct_id": anchor.nct_id,
        "title": anchor.title,
        "registry_state": trial.registry_state if trial is not None else None,
        "features": anchor.features(),
        "similar": similar.rank(anchor, profiles.values(), limit),
    }
