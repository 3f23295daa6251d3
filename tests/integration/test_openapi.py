"""The OpenAPI description is what the app serves: schemathesis (every check, every phase)
against the app under uvicorn over loopback, on SQLite and PostgreSQL, with stored versions."""

from __future__ import annotations

import gc
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_web_attacks import served
from tests.support.web_seed import TOKEN, add_watch, sync_one

ST = Path(sys.executable).parent / "st"


@pytest.fixture
def seeded(cli, fake_ctgov, engine) -> str:  # type: ignore[no-untyped-def]
    nct = sync_one(cli, fake_ctgov)
    add_watch(engine)
    gc.collect()
    return nct


def test_schemathesis_finds_no_mismatch(db_url, engine, seeded, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    with served(db_url, engine, token=TOKEN) as url:
        r = subprocess.run(
            [str(ST), "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", "25",
             "--seed", "24", "--no-color", "--report-dir", str(tmp_path),
             "--header", f"Authorization: Bearer {TOKEN}"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )  # fmt: skip
    out = r.stdout + r.stderr
    summary = out[out.find("SUMMARY") :] if "SUMMARY" in out else out[-3000:]
    print(summary)
    assert r.returncode == 0, out[-12000:]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary.split("Test cases")[0]
