"""One example per command in `--help`, and click's plain help for every command group."""

from __future__ import annotations

from typing import Any

import typer

# Keyed by the command's path below `trialwatch`. tests/test_cli_help.py checks that every
# command has one and that each one parses.
EXAMPLES: dict[str, str] = {
    "add": "trialwatch add NCT07366658 nct06027853",
    "remove": "trialwatch remove NCT06027853",
    "list": "trialwatch list --all",
    "sync": "trialwatch sync --full",
    "show": "trialwatch show NCT07366658 --as-of 2025-06-01",
    "history": "trialwatch history NCT07366658 --json",
    "status": "trialwatch status --json",
    "diff": "trialwatch diff NCT07366658 --from 1 --to 3",
    "outcomes": "trialwatch outcomes NCT03690141 --json",
    "similar": "trialwatch similar NCT07366658 --limit 5",
    "daemon": "trialwatch --config /srv/trialwatch/config.toml daemon --json",
    "digest": "trialwatch digest --since 24h --format html --out digest.html",
    "ack": "trialwatch ack 42 43",
    "backfill": "trialwatch backfill --all --only-modules eligibility,design",
    "export": "trialwatch export history.duckdb --watch car-nk-sclc",
    "serve": "trialwatch serve --host 0.0.0.0 --port 8080",
    "db upgrade": "trialwatch db upgrade --json",
    "db aact-refresh": "trialwatch db aact-refresh --json",
    "db aact-reader": "trialwatch db aact-reader trialwatch_aact_reader",
    "watch add": "trialwatch watch add car-nk --term '\"CAR-NK\"' --status RECRUITING",
    "watch list": "trialwatch watch list --all",
    "watch remove": "trialwatch watch remove car-nk",
    "watch run": "trialwatch watch run car-nk",
    "watch members": "trialwatch watch members car-nk --current",
    "watch events": "trialwatch watch events car-nk",
    "notify test": "trialwatch notify test",
}


def _name_of(info: Any) -> str:
    if info.name:
        return str(info.name)
    callback = info.callback
    return str(callback.__name__).strip("_").replace("_", "-")


def _walk(group: typer.Typer, prefix: str) -> None:
    # Typer's Rich panels print a type such as <bool> beside every flag: click's plain help.
    group.rich_markup_mode = None
    for info in group.registered_commands:
        path = f"{prefix}{_name_of(info)}"
        example = EXAMPLES.get(path)
        if example and not info.epilog:
            # \b keeps click from re-wrapping the example into the line above.
            info.epilog = f"\b\nExample:\n  {example}"
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _walk(sub.typer_instance, f"{prefix}{sub.name} ")


def finish(app: typer.Typer) -> None:
    """Call once every command is registered."""
    _walk(app, "")
