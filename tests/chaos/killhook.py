"""The trialwatch CLI with a kill switch, for crash tests (`python -m tests.chaos.killhook ARGS`).

TW_KILL_AT="<point>:<n>" SIGKILLs the process at the n-th occurrence of the point:
  request        before the n-th HTTP request is sent (while fetching)
  flush          right after the n-th ORM flush (rows written, transaction still open)
  before_commit  just before the n-th commit
  commit         right after the n-th commit (between pages and batches)
  snapshot       after the n-th new version is flushed, before its transaction commits
  export_*       points of an export (tests.chaos.export.install_hook: batches, tables, the swap)
The production code has no hook: this module patches it from outside, in the child only.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

POINTS = ("request", "flush", "before_commit", "commit", "snapshot")
EXPORT_POINTS = ("export_batch", "export_table", "export_swap", "export_aside", "export_in")


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str) -> None:
    point, _, n_text = spec.partition(":")
    if point not in (*POINTS, *EXPORT_POINTS):
        known = ", ".join((*POINTS, *EXPORT_POINTS))
        raise SystemExit(f"unknown kill point {point!r}; known: {known}")
    n = int(n_text or "1")
    seen = 0

    def tick(*_args: Any, **_kwargs: Any) -> None:
        nonlocal seen
        seen += 1
        if seen >= n:
            _die()

    if point in EXPORT_POINTS:
        from tests.chaos import export as export_chaos

        export_chaos.install_hook(point, tick)
    elif point == "request":
        from sync.registry import client as ctgov

        send = ctgov.CtgovClient._send

        def counted_send(self: Any, *args: Any, **kwargs: Any) -> Any:
            tick()
            return send(self, *args, **kwargs)

        ctgov.CtgovClient._send = counted_send  # type: ignore[method-assign]
    elif point == "snapshot":
        from sync.store import snapshots as store

        store_version = store.store_version

        def counted_store(session: Any, *args: Any, **kwargs: Any) -> Any:
            stored = store_version(session, *args, **kwargs)
            if stored is not None:
                session.flush()  # the version's rows are in the open transaction
                tick()
            return stored

        store.store_version = counted_store  # type: ignore[assignment]
        insert_first = store.insert_first_versions

        def counted_first(session: Any, rows: Any) -> None:
            insert_first(session, rows)
            session.flush()
            for _ in rows:  # each of them a new version in the open transaction
                tick()

        store.insert_first_versions = counted_first  # type: ignore[assignment]
    else:
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        name = {"flush": "after_flush", "before_commit": "before_commit", "commit": "after_commit"}
        event.listen(Session, name[point], tick)


def main() -> None:
    spec = os.environ.get("TW_KILL_AT")
    if spec:
        install(spec)
    from sync.cli.app import main as cli_main

    sys.argv = ["trialwatch", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
