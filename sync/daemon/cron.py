"""Standard crontab expressions as APScheduler 3 triggers.

APScheduler 3 counts weekdays from Monday (0 = Monday, `*/2` = Mon, Wed, Fri, Sun) and always
requires both the day of month and the weekday to match; its `from_crontab` passes the weekday
field through unchanged, so `0 3 * * 0` (Sunday, in every crontab) fired on Monday. Here the
fields mean what crontab(5) says:

- weekday 0 and 7 are Sunday, 1-5 Monday to Friday; names (`sun`, `mon-fri`) in any case;
  lists, ranges and steps (`0,6`, `1-5/2`, `*/2`, `3/2` = 3-6/2) are read over 0-7;
- when both the day of month and the weekday are restricted (neither starts with `*`), a day
  matching either fires (`0 3 1 * mon`: the 1st, and every Monday), as Vixie cron and cronie do.
"""

from __future__ import annotations

from typing import Any

# Crontab's numbering, Sunday = 0. APScheduler 3 reads the same names (it maps them itself), so
# the days are passed on by name, never by number.
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class CronError(ValueError):
    """A field that crontab(5) would not accept."""


def _weekday_number(token: str) -> int:
    low = token.lower()
    if low in WEEKDAYS:
        return WEEKDAYS.index(low)
    if not low.isdigit() or int(low) > 7:
        raise CronError(f"weekday {token!r}: use 0-7 (0 and 7 are Sunday) or sun … sat")
    return int(low)


def weekdays(field: str) -> list[int]:
    """The days a crontab weekday field names, 0 (Sunday) to 6, in order."""
    days: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"weekday step {item!r}: the step should be a whole number > 0")
            step = int(step_text)
        if base in ("*", "?"):
            first, last = 0, 7 if step_text else 6
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _weekday_number(a), _weekday_number(b)
            if last == 0 and first > 0:
                last = 7  # fri-sun, 5-0: up to Sunday at the end of the week
            if first > last:
                raise CronError(f"weekday range {item!r} runs backwards")
        else:
            first = _weekday_number(base)
            last = 6 if step_text else first  # 3/2: from Wednesday, every other day, to Saturday
        days.update(d % 7 for d in range(first, last + 1, step))
    if not days:
        raise CronError(f"weekday {field!r} names no day")
    return sorted(days)


def _restricted(field: str) -> bool:
    return not field.startswith(("*", "?"))


def crontab_trigger(expr: str, tz: Any) -> Any:
    """A trigger for 5 fields (minute hour day month weekday) or 6 (seconds first); ValueError
    (CronError or APScheduler's own) for a field that is not valid; None for another count."""
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        return None
    second, minute, hour, day, month, dow = fields
    names = ",".join(WEEKDAYS[d] for d in weekdays(dow))
    common = {"second": second, "minute": minute, "hour": hour, "month": month, "timezone": tz}
    if _restricted(day) and _restricted(dow):
        return OrTrigger([CronTrigger(day=day, **common), CronTrigger(day_of_week=names, **common)])
    return CronTrigger(day=day, day_of_week=names, **common)
