"""Whether the daemon's last heartbeat says it runs, judged by clocks that do not jump.

A heartbeat carries three clocks: the machine's boot id with the seconds since that boot
(CLOCK_BOOTTIME: monotonic, untouched when the wall clock is set or jumps), the database's
clock (models.db.database_now) and, for the record, the daemon's own wall clock. The reader
compares like with like:

- on the machine the daemon ran on, in the same boot: the seconds since boot, both read here;
- on the same machine after a restart: the daemon of that boot is gone;
- elsewhere: the database's clock, then and now (one clock, whatever either process's says);
- a heartbeat from before these fields: the two processes' wall clocks, the only ones it has.

A heartbeat stamped in the future by the clock it is judged by (more than a minute: two
clocks that disagree) does not say the daemon runs: nothing is known of it until the clocks
agree, and `status` says so rather than "heartbeat 0 s ago".
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sync.core.util import aware

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
FUTURE_TOLERANCE = 60.0  # seconds a heartbeat may lie ahead before it is "in the future"
DATABASE_CLOCK = "database"


def boot_id() -> str | None:
    """This machine's boot id (Linux), None where there is none."""
    try:
        return BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def since_boot() -> float | None:
    """Seconds since this machine booted, suspend included; None where unknown."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    if clock is None:
        return None
    try:
        return time.clock_gettime(clock)
    except OSError:
        return None


def stamp(database_time: datetime, wall_time: datetime) -> dict[str, Any]:
    """The clocks a heartbeat carries (beside pid, host, state)."""
    return {
        "heartbeat": database_time.isoformat(),
        "heartbeat_clock": DATABASE_CLOCK,
        "daemon_clock": wall_time.isoformat(),
        "boot_id": boot_id(),
        "since_boot": since_boot(),
    }


@dataclass(frozen=True, slots=True)
class Judged:
    """The age of a heartbeat by the clock it was judged by, and why."""

    age: float
    reason: str
    gone: bool = False  # known not to run (its machine restarted)
    future: bool = False  # stamped ahead of the clock it is judged by


def span(value: float) -> str:
    """A length of time as status shows it: "4s", "12 min", "5 h", "400 days"."""
    value = abs(value)
    if value < 120:
        return f"{int(value)}s"
    if value < 7200:
        return f"{int(value // 60)} min"
    if value < 172800:
        return f"{int(value // 3600)} h"
    return f"{round(value / 86400)} days"


def judge(info: dict[str, Any], database_now: datetime, wall_now: datetime) -> Judged:
    """How old the heartbeat `info` is, by the best clock both ends share."""
    host = socket.gethostname()
    here = info.get("host") == host
    boot, then = info.get("boot_id"), info.get("since_boot")
    by_database = info.get("heartbeat_clock") == DATABASE_CLOCK
    beat = aware(datetime.fromisoformat(info["heartbeat"]))
    if here and boot and boot == boot_id():
        now = since_boot()
        if now is not None and isinstance(then, int | float):
            return _judged(now - then, "by this machine's clock since boot")
    if here and boot and boot_id() and boot != boot_id():
        age = (database_now - beat).total_seconds() if by_database else 0.0
        return Judged(max(0.0, age), f"{host} restarted since this heartbeat", gone=True)
    if by_database:
        return _judged((database_now - beat).total_seconds(), "by the database's clock")
    return _judged(
        (wall_now - beat).total_seconds(), "by the daemon's clock then and this process's now"
    )


def _judged(age: float, by: str) -> Judged:
    if age < -FUTURE_TOLERANCE:
        return Judged(
            0.0,
            f"heartbeat stamped {span(age)} in the future {by}: a clock is wrong, "
            "so whether the daemon runs is not known",
            future=True,
        )
    return Judged(max(0.0, age), f"heartbeat {span(age)} ago {by}")
