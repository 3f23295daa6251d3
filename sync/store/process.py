"""Who runs a run: the process identity a SyncRun row keeps while it is "running", so that the
next run, of any kind, can tell a row whose process has ended (killed, crashed, the machine
restarted) from one whose process is still at work."""

from __future__ import annotations

import os
import socket
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import Any

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@cache
def boot_id() -> str | None:
    """This boot of this machine (Linux); None where the system does not say."""
    with suppress(OSError):
        return BOOT_ID.read_text(encoding="ascii").strip() or None
    return None


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process, from /proc; None when
    there is no such process or no /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count after it.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def identity(lock: str | None = None) -> dict[str, Any]:
    """This process, as a running row records it; `lock`: the lock the run holds, if any."""
    pid = os.getpid()
    stat = _stat(pid)
    return {
        "host": socket.gethostname(),
        "boot": boot_id(),
        "pid": pid,
        "start": stat[1] if stat else None,
        "lock": lock,
    }


def is_self(ident: dict[str, Any]) -> bool:
    me = identity()
    return all(ident.get(k) == me[k] for k in ("host", "boot", "pid", "start"))


def ended(ident: dict[str, Any]) -> bool:
    """True when the process `ident` names has surely ended: it ran on this machine, and the
    machine has restarted since, or no process has its pid, or the one that has is another
    (started at another time) or a zombie. A process of another machine cannot be seen from
    here: False."""
    if ident.get("host") != socket.gethostname():
        return False
    boot = boot_id()
    if boot is not None and ident.get("boot") not in (None, boot):
        return True
    pid = ident.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    stat = _stat(pid)
    if stat is None:
        return False
    state, start = stat
    return state == "Z" or (ident.get("start") is not None and ident.get("start") != start)
