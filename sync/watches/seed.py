"""Bring the database in line with config.toml: its trials tracked, its watches declared."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models import Trial
from models.db import database_now, session_scope
from sync.config import Settings
from sync.store.snapshots import get_trial
from sync.watches.definitions import sync_config_watches


def seed_from_config(session: Session, nct_ids: list[str]) -> list[str]:
    """Track the config's trials that trialwatch has never seen (a removed one stays removed).

    Here rather than beside the sync engine's track(): every command runs it, and the engine
    would bring its HTTP client into commands that only read."""
    added = []
    for nct in nct_ids:
        if get_trial(session, nct) is None:
            session.add(Trial(nct_id=nct, source="config", added_at=database_now(session)))
            added.append(nct)
    return added


def apply_config(session: Session, settings: Settings) -> None:
    """Track the config's trials never seen (a removed one stays removed) and make the Watch
    table agree with its [[watches]]: what `list` or the daemon read then matches the file."""
    seed_from_config(session, settings.trials)
    sync_config_watches(session, settings.watches)


def apply_config_once(engine: Engine, settings: Settings) -> None:
    """apply_config in its own transaction, for the first command that opens the database.

    Two commands starting at once may both insert the same config trial: the loser's
    transaction fails on the unique NCT ID, and the winner's rows are what it wanted."""
    try:
        with session_scope(engine) as session:
            apply_config(session, settings)
    except IntegrityError:
        with session_scope(engine) as session:
            apply_config(session, settings)
