"""Bring the database in line with config.toml: its trials tracked, its watches declared."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models.db import session_scope
from sync.config import Settings
from sync.watches.definitions import sync_config_watches


def apply_config(session: Session, settings: Settings) -> None:
    """Track the config's trials never seen (a removed one stays removed) and make the Watch
    table agree with its [[watches]]: what `list` or the daemon read then matches the file."""
    # Here, not above: the sync engine brings the HTTP client, which a read command never uses.
    from sync.ingest.run import seed_from_config

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
