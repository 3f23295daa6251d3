"""The real samples as stored histories for the AACT tests: every study of ctgov/versions
synced once per capture (real successive versions), every other real record (records/,
results/) synced once; and what the raw JSON says each study was on a given day."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sync.testing.factory import samples_dir

Capture = tuple[date, dict[str, Any]]
# (the day it took effect, when known; the record)
Story = list[tuple[date | None, dict[str, Any]]]


def _posted(study: dict[str, Any]) -> date:
    posted = study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
    return date.fromisoformat(posted)


def stories() -> dict[str, list[Capture]]:
    """Each real study's captures in order, with the day each took effect (its last update)."""
    root = samples_dir()
    out: dict[str, list[Capture]] = {}
    for folder in sorted((root / "versions").iterdir()):
        caps = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
        out[folder.name] = [(_posted(s), s) for s in caps]
    for sub in ("records", "results"):
        for path in sorted((root / sub).glob("*.json")):
            study = json.loads(path.read_text(encoding="utf-8"))
            nct = study["protocolSection"]["identificationModule"]["nctId"]
            out.setdefault(nct, [(_posted(study), study)])
    return out


def stored_versions(engine) -> dict[str, list[Capture]]:  # type: ignore[no-untyped-def]
    """Each stored study's versions as the store holds them, with the day each took effect."""
    from sqlmodel import Session, select

    from models import Trial
    from sync.store import snapshots as store

    out: dict[str, list[Capture]] = {}
    with Session(engine) as session:
        for trial in session.exec(select(Trial).order_by(Trial.nct_id)):
            snaps = store.snapshots(session, trial.id or 0)
            out[trial.nct_id] = [
                (
                    date.fromisoformat(store.version_date(snap, before)[:10]),
                    store.record_of(session, snap),
                )
                for snap, before in zip(snaps, [None, *snaps], strict=False)
            ]
    return out


def in_force(caps: list[Capture], day: date) -> dict[str, Any] | None:
    """The capture in force on `day`: the last one that took effect on or before it."""
    found = [s for d, s in caps if d <= day]
    return found[-1] if found else None


def sync_all(cli, fake, told: dict[str, Story]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Every study added and synced, then once more per further capture, in order."""
    for caps in told.values():
        fake.put(caps[0][1])
    r = cli("add", *told)
    assert r.exit_code == 0, r.stderr
    r = cli("sync", "--full")
    assert r.exit_code == 0, r.stderr
    for step in range(1, max(len(c) for c in told.values())):
        for caps in told.values():
            if step < len(caps):
                fake.put(caps[step][1])
        fake.bump()
        r = cli("sync", "--full")
        assert r.exit_code == 0, r.stderr
    return {t["nct_id"]: t["latest_version"] for t in cli("list", "--json").json()}
