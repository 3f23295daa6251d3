"""The benchmark workload: full-size study records made from the real samples, and their changes."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import orjson

from sync.testing.factory import nct, samples_dir

# The base records predate the fake's first data release (2026-11-20): an incremental sync's
# date window must not catch unchanged records.
BASE_LAST_UPDATE_MAX = "2026-11-01"
FIRST_UPDATE = date(2008, 1, 1)
UPDATE_DAYS = (date.fromisoformat(BASE_LAST_UPDATE_MAX) - FIRST_UPDATE).days + 1
CHANGE_KINDS = ("status", "enrollment", "criterion", "site")
# Which status a changed record moves to, from the one it had.
NEXT_STATUS = {
    "NOT_YET_RECRUITING": "RECRUITING",
    "RECRUITING": "ACTIVE_NOT_RECRUITING",
    "ENROLLING_BY_INVITATION": "ACTIVE_NOT_RECRUITING",
    "ACTIVE_NOT_RECRUITING": "COMPLETED",
    "UNKNOWN": "RECRUITING",
}
CITIES = (
    ("Memorial Sloan Kettering Cancer Center", "New York", "United States"),
    ("Gustave Roussy", "Villejuif", "France"),
    ("National Cancer Center Hospital East", "Kashiwa", "Japan"),
    ("Peter MacCallum Cancer Centre", "Melbourne", "Australia"),
    ("Charité - Universitätsmedizin Berlin", "Berlin", "Germany"),
    ("Sun Yat-sen University Cancer Center", "Guangzhou", "China"),
)


@functools.cache
def sample_bytes() -> tuple[bytes, ...]:
    """The real full records, as the API sent them, in a fixed order."""
    files = sorted((samples_dir() / "records").glob("NCT*.json"))
    return tuple(f.read_bytes() for f in files)


def sample(name: str) -> dict[str, Any]:
    """One real record by NCT ID (a fresh copy)."""
    doc: dict[str, Any] = orjson.loads((samples_dir() / "records" / f"{name}.json").read_bytes())
    return doc


def real_version_pairs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(label, old, new) for each pair of successive real captures in versions/."""
    pairs = []
    for folder in sorted((samples_dir() / "versions").iterdir()):
        files = sorted(folder.glob("*.json"))
        for old, new in zip(files, files[1:], strict=False):
            pairs.append(
                (f"{folder.name} {old.stem[12:22]}->{new.stem[12:22]}",
                 orjson.loads(old.read_bytes()), orjson.loads(new.read_bytes()))
            )
    return pairs


def _ps(study: dict[str, Any], module: str) -> dict[str, Any]:
    node: dict[str, Any] = study.setdefault("protocolSection", {}).setdefault(module, {})
    return node


def make_record(i: int, seed: int = 0) -> dict[str, Any]:
    """Study number i: a real sample (cycled) with its ID and a few small fields varied."""
    samples = sample_bytes()
    study: dict[str, Any] = orjson.loads(samples[i % len(samples)])
    rng = random.Random(seed * 1_000_003 + i)
    nct_id = nct(i)
    ident = _ps(study, "identificationModule")
    ident["nctId"] = nct_id
    ident.pop("nctIdAliases", None)
    ident["orgStudyIdInfo"] = {"id": f"BENCH-{i:06d}"}
    if isinstance(ident.get("briefTitle"), str):
        ident["briefTitle"] = f"{ident['briefTitle']} (cohort {i % 97 + 1})"
    # Each study its own last update, spread over the registry's years as real ones are: with
    # the sample's own date, sorted by date (a mirror's pages) a page was hundreds of copies
    # of one record, the 369 KB one included, which no registry page is.
    status = _ps(study, "statusModule")
    last = (FIRST_UPDATE + timedelta(days=rng.randrange(UPDATE_DAYS))).isoformat()
    status["lastUpdatePostDateStruct"] = {"date": last, "type": "ACTUAL"}
    status["lastUpdateSubmitDate"] = last
    enrollment = _ps(study, "designModule").get("enrollmentInfo")
    if isinstance(enrollment, dict) and isinstance(enrollment.get("count"), int):
        enrollment["count"] = max(1, enrollment["count"] + rng.randint(-5, 25))
    return study


def records(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        yield make_record(i, seed)


def change(study: dict[str, Any], kind: str, day: str, round_: int = 1) -> dict[str, Any]:
    """The record after one realistic sponsor update of `kind`, posted on `day` (in place)."""
    status = _ps(study, "statusModule")
    if kind == "status":
        old = status.get("overallStatus")
        status["overallStatus"] = NEXT_STATUS.get(str(old), "RECRUITING")
        if status["overallStatus"] == "COMPLETED":
            status["completionDateStruct"] = {"date": day, "type": "ACTUAL"}
    elif kind == "enrollment":
        info = _ps(study, "designModule").setdefault("enrollmentInfo", {})
        count = info.get("count") if isinstance(info.get("count"), int) else 20
        info["count"] = int(count) + 3 + round_
        info["type"] = "ACTUAL" if round_ % 2 else "ESTIMATED"
    elif kind == "criterion":
        elig = _ps(study, "eligibilityModule")
        text = elig.get("eligibilityCriteria") or "Inclusion Criteria:\n\n* Adults"
        marker = "\n\nExclusion Criteria"
        item = f"\n* Adequate organ function as defined in protocol amendment {round_}"
        at = text.find(marker)
        elig["eligibilityCriteria"] = text[:at] + item + text[at:] if at >= 0 else text + item
    elif kind == "site":
        contacts = _ps(study, "contactsLocationsModule")
        locations = contacts.setdefault("locations", [])
        facility, city, country = CITIES[round_ % len(CITIES)]
        locations.append(
            {"facility": f"{facility} (site {round_})", "status": "RECRUITING", "city": city,
             "country": country}
        )
    else:
        raise ValueError(f"unknown change kind {kind!r}; known: {CHANGE_KINDS}")
    status["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    status["lastUpdateSubmitDate"] = day
    status["statusVerifiedDate"] = day[:7]
    return study


def changed_indices(n: int, share: float, round_: int = 1) -> list[int]:
    """Which of studies 1..n change in this round: an even spread, shifted each round."""
    k = max(1, round(n * share)) if share > 0 else 0
    if k == 0:
        return []
    step = n / k
    return sorted({int(j * step + round_ * 7) % n + 1 for j in range(k)})
