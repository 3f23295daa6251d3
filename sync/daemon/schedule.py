"""The daemon's schedule from config: cron expressions (5 or 6 fields), time zone, intervals."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.config import ConfigError, Settings
from sync.daemon.cron import crontab_trigger

HEARTBEAT_MAX_SECONDS = 30.0


def cron_trigger(expr: str, tz: Any, setting: str) -> Any:
    """A cron trigger from 5 fields (minute hour day month weekday) or 6 (seconds first), with
    crontab(5)'s meaning: 0 and 7 are Sunday (see sync.daemon.cron)."""
    try:
        trigger = crontab_trigger(expr, tz)
    except ValueError as exc:
        raise ConfigError(
            f"schedule.{setting}: {expr!r} is not a valid cron expression: {exc}"
        ) from None
    if trigger is None:
        raise ConfigError(
            f"schedule.{setting}: {expr!r} should have 5 fields (minute hour day month weekday) "
            "or 6 (second first)"
        )
    return trigger


def timezone_of(settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"schedule.timezone: unknown time zone {settings.schedule.timezone!r} "
            "(use an IANA name such as UTC or Europe/Paris)"
        ) from None


def check_schedule(settings: Settings) -> None:
    """ConfigError when the schedule's time zone or cron expressions are not valid."""
    tz = timezone_of(settings)
    cron_trigger(settings.schedule.full_sync_cron, tz, "full_sync_cron")
    cron_trigger(settings.schedule.digest_cron, tz, "digest_cron")


def check_seconds(settings: Settings) -> float:
    return settings.schedule.check_minutes * 60.0


def heartbeat_seconds(settings: Settings) -> float:
    return max(0.5, min(HEARTBEAT_MAX_SECONDS, check_seconds(settings)))
