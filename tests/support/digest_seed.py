"""A realistic stored history for digest tests: real syncs of changed records, watch events, a
failed run, and an eligibility criterion that carries HTML meant to run in a reader's browser."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from models import Change, SyncRun, Trial, Watch, WatchEvent
from models.db import session_scope
from sync.ingest.run import run_sync, track
from sync.testing.factory import (
    make_study,
    nct,
    with_criteria,
    with_enrollment,
    with_last_update,
    with_site,
)
from sync.testing.factory import with_status as with_overall_status

CRITERIA_V1 = """Inclusion Criteria:

* Age 18 years or older at the time of consent
* Histologically confirmed extensive-stage small cell lung cancer (ES-SCLC)
* Disease progression after at least one platinum-based regimen
* ECOG performance status 0 or 1
* Measurable disease per RECIST 1.1

Exclusion Criteria:

* Active or untreated central nervous system metastases
* Prior treatment with any DLL3-targeted therapy
"""

CRITERIA_V2 = """Inclusion Criteria:

* Age 18 years or older at the time of consent
* Histologically confirmed extensive-stage small cell lung cancer (ES-SCLC) or \
large cell neuroendocrine carcinoma
* Disease progression after at least one platinum-based regimen
* ECOG performance status 0 to 2
* Measurable disease per RECIST 1.1

Exclusion Criteria:

* Active or untreated central nervous system metastases
* Prior treatment with any DLL3-targeted therapy
* Prior allogeneic stem cell transplant
"""

# Registry text is untrusted: these must reach a reader as text, never as markup.
SCRIPT_TEXT = "Able to read <script>window.__pwned = 1</script> the consent form"
IMG_TEXT = 'Adequate organ function <img src=x onerror="window.__pwned = 2">'
CRITERIA_HOSTILE = CRITERIA_V1.replace(
    "* Measurable disease per RECIST 1.1\n",
    f"* Measurable disease per RECIST 1.1\n* {SCRIPT_TEXT}\n* {IMG_TEXT}\n",
)

SUSPENDED = nct(101)
SITES = nct(102)
HOSTILE = nct(103)
ENTERED = nct(104)
LEFT = nct(105)


@dataclass
class Seeded:
    trials: list[str]
    failed_run_id: int
    change_ids: dict[str, list[int]] = field(default_factory=dict)
    since: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=1))


def seed(engine, fake, client, *, failed_run: bool = True) -> Seeded:  # type: ignore[no-untyped-def]
    """Three tracked trials synced over three registry refreshes with real changes, two watch
    events, and (unless told otherwise) a failed run at the end."""
    v1 = {
        SUSPENDED: make_study(
            SUSPENDED,
            title="DLL3-targeted CAR-NK Cells in Relapsed Extensive-Stage Small Cell Lung Cancer",
            status="NOT_YET_RECRUITING",
            enrollment=(24, "ESTIMATED"),
            criteria=CRITERIA_V1,
            last_update="2026-03-02",
        ),
        SITES: make_study(
            SITES,
            title="iPSC-derived CAR-NK Cells for Neuroendocrine Tumours",
            enrollment=(36, "ESTIMATED"),
            sites=[("Peking Union Medical College Hospital", "Beijing", "China")],
            start=("2026-01-15", "ESTIMATED"),
            last_update="2026-03-02",
        ),
        HOSTILE: make_study(
            HOSTILE,
            title="Umbrella Trial of Biomarker-Matched Therapy in ES-SCLC <b>bold</b> & co",
            criteria=CRITERIA_V1,
            last_update="2026-05-11",
        ),
    }
    for study in v1.values():
        fake.put(study)
    with session_scope(engine) as s:
        track(s, list(v1))
    first = run_sync(engine, client)
    assert first.outcome == "ok", first.errors

    # Mid-year: the first trial opens and grows.
    v2 = with_enrollment(with_overall_status(v1[SUSPENDED], "RECRUITING"), 36, "ESTIMATED")
    fake.put(with_last_update(v2, "2026-07-14"))
    fake.bump()
    # Full: an incremental run only asks for records posted since the last sync (today).
    second = run_sync(engine, client, full=True)
    assert second.outcome == "ok", second.errors

    v3 = {
        SUSPENDED: with_criteria(
            with_enrollment(
                with_overall_status(v2, "SUSPENDED", why_stopped="Safety review."),
                72,
                "ESTIMATED",
            ),
            CRITERIA_V2,
        ),
        SITES: with_site(v1[SITES], "Fudan University Shanghai Cancer Center", "Shanghai", "China"),
        HOSTILE: with_criteria(v1[HOSTILE], CRITERIA_HOSTILE),
    }
    v3[SITES]["protocolSection"]["statusModule"]["startDateStruct"] = {
        "date": "2026-04-01",
        "type": "ESTIMATED",
    }
    for study in v3.values():
        fake.put(with_last_update(study, "2026-11-21"))
    fake.bump()
    third = run_sync(engine, client)
    assert third.outcome == "ok", third.errors
    assert third.changes > 0

    failed_id = 0
    if failed_run:
        fake.bump()
        fake.add_fault("status", status=503, times=100, path="/api/v2/studies")
        fourth = run_sync(engine, client)
        fake.clear_faults()
        assert fourth.outcome == "failed", fourth
        failed_id = fourth.run_id or 0

    with session_scope(engine) as s:
        watch = Watch(name="car-nk", params={"query.intr": "CAR-NK"})
        s.add(watch)
        s.flush()
        s.add(WatchEvent(watch_id=watch.id or 0, nct_id=ENTERED, event="entered",
                         reason="matches query.intr CAR-NK", summary=f"{ENTERED} entered car-nk"))
        s.add(WatchEvent(watch_id=watch.id or 0, nct_id=LEFT, event="left",
                         reason="no longer returned by the search",
                         summary=f"{LEFT} left car-nk"))  # fmt: skip
        ids: dict[str, list[int]] = {}
        for c, t in s.exec(select(Change, Trial).where(Change.trial_id == Trial.id)):
            ids.setdefault(t.nct_id, []).append(c.id or 0)
        assert s.exec(select(SyncRun)).first() is not None
    return Seeded(trials=list(v1), failed_run_id=failed_id, change_ids=ids)
