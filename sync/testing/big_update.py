"""The largest realistic update of a real record: NCT04267848 (1,148 sites) before and after the
registry set every site's status, added investigator contacts, re-encoded facility names, and
the sponsor reopened recruitment and rewrote two criteria."""

from __future__ import annotations

import copy
from typing import Any

from sync.testing.factory import load_sample

BIG = "NCT04267848"
RENAMED = 9
# Two inclusion criteria the sponsor rewrote (thresholds loosened).
REWRITES = (
    (
        "Platelet count \\>= 100,000/mm\\^3",
        "Platelet count \\>= 75,000/mm\\^3 (transfusion allowed)",
    ),
    ("Hemoglobin \\>= 8 gm/dl", "Hemoglobin \\>= 9 gm/dl without transfusion in the last 14 days"),
)


def big_record() -> dict[str, Any]:
    return load_sample(f"records/{BIG}.json")


def _sites(study: dict[str, Any]) -> list[dict[str, Any]]:
    sites: list[dict[str, Any]] = study["protocolSection"]["contactsLocationsModule"]["locations"]
    return sites


def statuses_set() -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, new): the real record without site statuses, then as the registry sent it."""
    new = big_record()
    old = copy.deepcopy(new)
    for site in _sites(old):
        site.pop("status", None)
    return old, new


def largest_update() -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, new) for every kind of churn at once on the 1,148-site record."""
    old, new = statuses_set()
    old["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    renamed = 0
    for i, (site_old, site_new) in enumerate(zip(_sites(old), _sites(new), strict=True)):
        if renamed < RENAMED and "e" in site_old["facility"]:
            renamed += 1
            # Accented in one version, mojibake in the next: the registry's re-encoding.
            accented = site_old["facility"].replace("e", "é", 1)
            site_old["facility"] = accented
            site_new["facility"] = accented.encode("utf-8").decode("latin-1")
        if i % 6 != 5:
            site_new["contacts"] = site_new.get("contacts", []) + [
                {"name": f"Investigator {i}", "role": "PRINCIPAL_INVESTIGATOR"},
                {"name": f"Coordinator {i}", "role": "CONTACT", "phone": f"555-01{i:04d}"},
            ]
    module = new["protocolSection"]["eligibilityModule"]
    text = module["eligibilityCriteria"]
    for before, after in REWRITES:
        assert before in text, before
        text = text.replace(before, after)
    module["eligibilityCriteria"] = text
    return old, new


def store_pair(engine: Any, nct_id: str, old: dict[str, Any], new: dict[str, Any]) -> int:
    """Store two versions of a trial and the changes between them, as a poll would; returns how
    many changes were stored."""
    from models.db import session_scope
    from sync.ingest.run import track
    from sync.store import snapshots as store
    from sync.testing.scope import store_update

    with session_scope(engine) as s:
        track(s, [nct_id])
    with session_scope(engine) as s:
        trial = store.get_trial(s, nct_id)
        assert trial is not None
        if trial.latest_version == 0:
            store.store_version(s, trial, old)
            s.flush()
        changes = store_update(s, trial, new)
        assert changes
    return changes
