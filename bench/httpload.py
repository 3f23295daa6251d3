"""HTTP load on loopback: `trialwatch serve` in its own process, driven by N keep-alive
connections (one thread each), with latencies, requests a second and the server's CPU time."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Server:
    host: str
    port: int
    pid: int

    def cpu_s(self) -> float | None:
        """The server process's user + system CPU seconds so far (Linux /proc), else None."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


@contextmanager
def serving(db_url: str, tmp: Path) -> Iterator[Server]:
    """`trialwatch serve --port 0` over db_url with an empty config (no watches to write)."""
    config = tmp / "web-bench.toml"
    config.write_text("")
    env = {**os.environ, "TRIALWATCH_DATABASE_URL": db_url, "TRIALWATCH_CONFIG": str(config)}
    env.pop("TRIALWATCH_WEB__TOKEN", None)
    cli = Path(sys.executable).parent / "trialwatch"
    proc = subprocess.Popen(
        [str(cli), "serve", "--host", "127.0.0.1", "--port", "0", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        text = ""
        while not text.rstrip().endswith("}"):  # its --json object, printed as it listens
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"trialwatch serve exited {proc.wait()} before listening")
            text += line
        url = urlsplit(json.loads(text)["url"])
        assert url.hostname and url.port
        yield Server(url.hostname, url.port, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pct(ms: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted ms."""
    return ms[max(0, min(len(ms) - 1, int(round(q * len(ms))) - 1))]


def summary(ms: list[float], wall_s: float, cpu_s: float | None) -> dict[str, Any]:
    ms = sorted(ms)
    n = len(ms)
    return {
        "requests": n,
        "wall_s": wall_s,
        "rps": n / wall_s if wall_s else 0.0,
        "p50_ms": _pct(ms, 0.50),
        "p95_ms": _pct(ms, 0.95),
        "p99_ms": _pct(ms, 0.99),
        "max_ms": ms[-1],
        # The server's CPU per answer: what the figure would be on an idle machine's core.
        "cpu_ms": 1000 * cpu_s / n if cpu_s is not None and n else None,
        "load": os.getloadavg()[0],
    }


# As a browser asks: gzip accepted (the bytes counted are the ones sent).
HEADERS = {"Accept-Encoding": "gzip"}


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, int]:
    conn.request("GET", path, headers=HEADERS)
    r = conn.getresponse()
    body = r.read()
    return r.status, len(body)


def sequential(server: Server, path: str, requests: int, warmups: int = 3) -> dict[str, Any]:
    """`requests` GETs one after another on one connection, after `warmups`; the first
    request's time (cold: the page rendered) is kept apart."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
    try:
        t0 = time.perf_counter()
        status, size = _get(conn, path)
        cold = (time.perf_counter() - t0) * 1000
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
        for _ in range(warmups):
            _get(conn, path)
        ms = []
        cpu0 = server.cpu_s()
        start = time.perf_counter()
        for _ in range(requests):
            t0 = time.perf_counter()
            status, _n = _get(conn, path)
            ms.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status}")
        wall = time.perf_counter() - start
        cpu1 = server.cpu_s()
    finally:
        conn.close()
    out = summary(ms, wall, None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
    return {**out, "cold_ms": cold, "bytes": size}


def concurrent(
    server: Server, path: str, connections: int, seconds: float, min_requests: int = 0
) -> dict[str, Any]:
    """`connections` keep-alive connections, each sending GETs back to back for `seconds`
    (and together at least `min_requests`); every answer must be a 200."""
    ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    go = threading.Event()
    deadline = [0.0]

    def worker() -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
        mine: list[float] = []
        try:
            _get(conn, path)  # connect and warm up outside the timed span
            go.wait()
            while time.perf_counter() < deadline[0] or len(ms) + len(mine) < min_requests:
                t0 = time.perf_counter()
                status, _n = _get(conn, path)
                mine.append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    raise RuntimeError(f"GET {path}: {status}")
                if len(mine) % 50 == 0:
                    with lock:
                        ms.extend(mine)
                        mine = []
        except Exception as exc:  # noqa: BLE001  (reported once the threads are joined)
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            with lock:
                ms.extend(mine)
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    cpu0 = server.cpu_s()
    start = time.perf_counter()
    deadline[0] = start + seconds
    go.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    cpu1 = server.cpu_s()
    if errors:
        raise RuntimeError(f"GET {path} under load: {errors[0]}")
    out = summary(ms, wall, None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
    return {**out, "connections": connections}
