"""Both cores: records prepared (parsed, hashed, compressed: sync.ingest.prepare) in worker
processes while the one writer, this process, commits what came back, in order.

A fixed number of batches is in flight (`workers + 1`): memory stays bounded however long the
load. Results come back in the order they were asked for, so the writer commits batches in
the order a single process would, and a load killed anywhere resumes from the position its
last commit stored (nothing a worker prepared is durable until the writer commits it). A
worker whose parent dies ends itself: nothing is left behind by a SIGKILL.

A pool costs its start (a fresh interpreter a worker, ~0.3 s of CPU) and the records' trip
through pipes: it serves a run with enough records to pay for it (`api.pool_min_records`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# The workers of the latest pool (the benchmark counts their memory with the parent's).
LAST_WORKERS = 0


def worker_count(configured: int) -> int:
    """`configured` workers, or one per CPU this process may use when it is 0."""
    if configured > 0:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def wanted(records: int, workers: int, threshold: int) -> bool:
    """Whether a run of about `records` records is worth a pool of `workers`."""
    return workers > 1 and records >= threshold


def _orphan_guard(parent: int) -> None:
    """End this worker when its parent is gone (a SIGKILLed writer never shuts it down)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="orphan-guard", daemon=True).start()


class Pool:
    """A process pool serving one run; `with Pool(n) as pool: pool.ordered(...)`."""

    def __init__(self, workers: int) -> None:
        global LAST_WORKERS
        self.workers = workers
        LAST_WORKERS = workers
        # spawn: a fresh interpreter that imports only what prepare needs (no copy of the
        # writer's heap, its database connections or its threads).
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_orphan_guard,
            initargs=(os.getpid(),),
        )

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # Waits for the workers to end: their CPU time is then the parent's children's.
        self._executor.shutdown(wait=True, cancel_futures=True)

    def ordered(
        self,
        fn: Callable[..., T],
        tasks: Iterable[Callable[[], tuple[Any, ...]]],
        *,
        ahead: int | None = None,
    ) -> Iterator[T]:
        """fn(*task()) for each task, in a worker, results in the order of the tasks.

        A task is a callable that gives fn's arguments when it is sent, not before: what
        the writer has learnt meanwhile (a dictionary trained on the first batch) reaches
        the batches sent after. At most `ahead` (workers + 1) are in flight at once."""
        limit = ahead or self.workers + 1
        pending: deque[Future[T]] = deque()
        source = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                task = next(source, None)
                if task is None:
                    exhausted = True
                    break
                pending.append(self._executor.submit(fn, *task()))
            if not pending:
                return
            yield pending.popleft().result()
