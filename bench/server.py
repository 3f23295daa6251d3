"""The fake registry in a process of its own, so its CPU cost never counts as trialwatch's."""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from multiprocessing.connection import Connection
from typing import Any

from bench import workload


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _serve(conn: Connection) -> None:
    """The child: a lean FakeRegistry and a loop of commands from the parent."""
    from sync.testing.fakectgov import FakeRegistry

    registry = FakeRegistry(lean=True).start()
    conn.send({"base_url": registry.base_url, "history_url": registry.history_url})
    while True:
        cmd, args = conn.recv()
        try:
            if cmd == "stop":
                registry.close()
                conn.send(None)
                return
            if cmd == "populate":
                n, seed = args
                registry._studies.clear()  # a fresh registry per size, without a new process
                for study in workload.records(n, seed):
                    registry.put(study)
                conn.send(n)
            elif cmd == "change":
                n, share, round_ = args
                day = registry.bump()[:10]
                changed = []
                for j, i in enumerate(workload.changed_indices(n, share, round_)):
                    nct_id = workload.nct(i)
                    study = registry.get(nct_id)
                    if study is None:
                        continue
                    kind = workload.CHANGE_KINDS[(j + round_) % len(workload.CHANGE_KINDS)]
                    registry.put(workload.change(study, kind, day, round_))
                    changed.append(nct_id)
                conn.send(changed)
            elif cmd == "bump":
                conn.send(registry.bump())
            elif cmd == "cpu":
                conn.send(_cpu())
            elif cmd == "requests":
                conn.send(len(registry.requests))
            else:
                conn.send(ValueError(f"unknown command {cmd!r}"))
        except Exception as exc:  # report to the parent instead of dying silently
            conn.send(exc)


class FakeServer:
    """Handle of the fake registry process: populate it, change records, read its CPU time."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        urls = self._conn.recv()
        self.base_url: str = urls["base_url"]
        self.history_url: str = urls["history_url"]

    def _call(self, cmd: str, *args: Any) -> Any:
        self._conn.send((cmd, args))
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def populate(self, n: int, seed: int = 0) -> float:
        """Replace the registry's records with n generated ones; returns seconds taken."""
        start = time.perf_counter()
        self._call("populate", n, seed)
        return time.perf_counter() - start

    def change(self, n: int, share: float, round_: int = 1) -> list[str]:
        """A new data release in which `share` of studies 1..n changed; their IDs."""
        changed: list[str] = self._call("change", n, share, round_)
        return changed

    def bump(self) -> str:
        """A new data release with no record changed."""
        ts: str = self._call("bump")
        return ts

    def cpu(self) -> float:
        """CPU seconds the fake has used so far."""
        seconds: float = self._call("cpu")
        return seconds

    def requests(self) -> int:
        count: int = self._call("requests")
        return count

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._call("stop")
            except (EOFError, OSError):
                pass
            self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.terminate()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
