"""Cron settings mean what crontab(5) says, checked against croniter as the oracle: 0 and 7 are
Sunday, 1-5 Monday to Friday, names, lists, ranges and steps, in 5 and 6 fields."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from sync.config import ConfigError, ScheduleSettings
from sync.daemon.cron import weekdays
from sync.daemon.schedule import cron_trigger
from tests.support import PROJECT_ROOT

SHIPPED = tomllib.loads((PROJECT_ROOT / "config.toml").read_text(encoding="utf-8"))["schedule"]
DEFAULTS = ScheduleSettings()

EXPRESSIONS = [
    SHIPPED["full_sync_cron"],
    SHIPPED["digest_cron"],
    DEFAULTS.full_sync_cron,
    DEFAULTS.digest_cron,
    "0 3 * * 0",
    "0 3 * * 7",
    "0 9 * * 1-5",
    "30 18 * * 5-7",
    "0 3 * * sun",
    "0 3 * * SUN",
    "0 9 * * mon-fri",
    "0 9 * * fri-sun",
    "0 3 * * 0,6",
    "0 3 * * sat,sun",
    "0 3 * * */2",
    "0 3 * * 1-5/2",
    "0 3 * * 3/2",
    "0 3 * * 0-7/3",
    "15 */6 * * 1,3-5",
    "0 3 1 * *",
    "0 3 1 * mon",  # restricted day and weekday: either one fires
    "0 3 13 * 5",
    "0 3 1,15 jan-jun 0",
    "*/20 8-10 * * 2",
    "0 0 29 2 *",
]
# 6 fields: seconds first (croniter puts them last).
EXPRESSIONS_6 = ["30 0 3 * * 0", "0 */15 9 * * mon-fri", "*/10 * * * * 6", "5 0 3 1 * mon"]

STARTS = [datetime(2026, 12, 7, 1, 30), datetime(2027, 1, 31, 23, 59, 59), datetime(2028, 2, 27)]
ZONES = ["UTC", "America/New_York"]  # the starts and the next runs avoid the DST changes


def _oracle(expr: str, start: datetime, n: int) -> list[datetime]:
    it = croniter(expr, start)
    return [it.get_next(datetime) for _ in range(n)]


def _ours(expr: str, start: datetime, n: int) -> list[datetime]:
    trigger = cron_trigger(expr, start.tzinfo, "full_sync_cron")
    found: list[datetime] = []
    after = start
    for _ in range(n):
        # APScheduler's "now" is inclusive; croniter's start is not.
        nxt = trigger.get_next_fire_time(found[-1] if found else None, after + timedelta(seconds=1))
        assert nxt is not None
        found.append(nxt)
        after = nxt
    return found


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("expr", EXPRESSIONS + EXPRESSIONS_6)
def test_next_fire_times_agree_with_croniter(expr: str, zone: str) -> None:
    fields = expr.split()
    oracle_expr = " ".join(fields[1:] + fields[:1]) if len(fields) == 6 else expr
    n = 12 if len(fields) == 5 else 6
    for start in STARTS:
        aware = start.replace(tzinfo=ZoneInfo(zone))
        assert _ours(expr, aware, n) == _oracle(oracle_expr, aware, n), (expr, zone, start)


def test_the_shipped_weekly_full_sync_runs_on_sunday() -> None:
    trigger = cron_trigger(SHIPPED["full_sync_cron"], ZoneInfo("UTC"), "full_sync_cron")
    utc = ZoneInfo("UTC")
    monday = datetime(2026, 12, 7, tzinfo=utc)
    assert trigger.get_next_fire_time(None, monday) == datetime(2026, 12, 13, 3, tzinfo=utc)


def test_a_step_from_a_star_in_the_day_keeps_both_fields_required() -> None:
    """Vixie cron and cronie: a day field starting with * (`*/2`) is not a restriction, so the
    weekday must match too (croniter reads it the other way: not in the oracle table)."""
    tz = ZoneInfo("UTC")
    trigger = cron_trigger("0 3 */2 * mon", tz, "full_sync_cron")
    runs, after = [], datetime(2026, 12, 1, tzinfo=tz)
    for _ in range(4):
        after = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
        runs.append(after)
    assert all(r.weekday() == 0 and r.day % 2 == 1 for r in runs), runs


@pytest.mark.parametrize(
    ("field", "days"),
    [("0", [0]), ("7", [0]), ("1-5", [1, 2, 3, 4, 5]), ("Mon-Fri", [1, 2, 3, 4, 5]),
     ("*/2", [0, 2, 4, 6]), ("1-5/2", [1, 3, 5]), ("0,6", [0, 6]), ("fri-sun", [0, 5, 6]),
     ("5-7", [0, 5, 6]), ("*", [0, 1, 2, 3, 4, 5, 6])],
)  # fmt: skip
def test_weekday_fields(field: str, days: list[int]) -> None:
    assert weekdays(field) == days


@pytest.mark.parametrize("expr", ["0 3 * * 8", "0 3 * * funday", "0 3 * * 5-1", "0 3 * * */0",
                                  "0 3 * * 1-", "61 3 * * *", "0 3 * *"])  # fmt: skip
def test_bad_expressions_are_config_errors(expr: str) -> None:
    with pytest.raises(ConfigError, match=r"^schedule\.full_sync_cron: '"):
        cron_trigger(expr, ZoneInfo("UTC"), "full_sync_cron")
