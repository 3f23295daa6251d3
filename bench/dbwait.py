"""How long a sync takes to end when its PostgreSQL connection goes silent, default settings.

`python -m bench.dbwait`: a fake registry and a proxy in front of PostgreSQL on loopback
(127.0.0.1:5432, or TRIALWATCH_TEST_DATABASE_URL); `trialwatch sync` in its own process with
the default [database] settings; the proxy goes silent (keeps the sockets, relays nothing)
while the sync fetches its second page; the figure is the time from then to the process's end.
`--quick` (CI): small timeouts instead of the defaults, so that it ends in seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from models import db
from models.db import session_scope
from sync.ingest.run import track
from sync.testing.dbproxy import DbProxy
from sync.testing.factory import make_study, nct, with_last_update, with_status
from sync.testing.fakectgov import serve

PG_URL = os.environ.get(
    "TRIALWATCH_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TRIALS = [nct(i) for i in range(301, 341)]
# --quick: the timeouts of the chaos cases (tests/chaos/dbwait.py), in seconds.
QUICK = {"CONNECT_TIMEOUT_SECONDS": "2", "STATEMENT_TIMEOUT_SECONDS": "1",
         "REPLY_TIMEOUT_SECONDS": "2", "TCP_USER_TIMEOUT_SECONDS": "2"}  # fmt: skip


def _sync(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sync", "sync"], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    admin = sa.create_engine(sa.make_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"trialwatch_bench_dbwait_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp, serve() as fake, DbProxy() as proxy:
            engine = db.make_engine(url)
            db.upgrade(engine)
            for n in TRIALS:
                fake.put(make_study(n, last_update="2026-10-01"))
            with session_scope(engine) as s:
                track(s, TRIALS)
            (Path(tmp) / "config.toml").write_text("", encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
            env |= {
                "TRIALWATCH_CONFIG": str(Path(tmp) / "config.toml"),
                "TRIALWATCH_DATABASE_URL": proxy.url_for(url),
                "TRIALWATCH_API_URL": fake.base_url,
                "TRIALWATCH_HISTORY_URL": fake.history_url,
                "TRIALWATCH_API__REQUESTS_PER_SECOND": "1000",
                "TRIALWATCH_API__BATCH_SIZE": "10",
                "TRIALWATCH_API__PAGE_SIZE": "5",
                "XDG_STATE_HOME": str(Path(tmp) / "state"),
            }
            if quick:
                env |= {f"TRIALWATCH_DATABASE__{k}": v for k, v in QUICK.items()}
            first = _sync(env)
            assert first.wait(120) == 0, first.communicate()[1]
            for n in TRIALS:
                study = fake.get(n)
                assert study is not None
                fake.put(with_last_update(with_status(study, "COMPLETED"), "2026-11-21"))
            fake.set_data_timestamp("2026-11-21T09:00:03")
            asked = len(fake.requests)
            proc = _sync(env)
            while len(fake.requests) < asked + 3 and proc.poll() is None:
                time.sleep(0.01)  # /version, then the first two pages
            proxy.silent()
            silent_at = time.monotonic()
            _, err = proc.communicate(timeout=600)
            took = time.monotonic() - silent_at
            which = "quick: small timeouts" if quick else "default [database] settings"
            print(f"sync under a silent PostgreSQL connection, {which}")
            print(f"  ended after {took:.1f} s, exit {proc.returncode}")
            print(f"  said: {err.strip()}")
            proxy.resume()
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
