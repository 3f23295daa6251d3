"""Events with and without the revert rule on histories built from the real flips, and the
results events of changes built from the real results records: counts, never times."""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from typing import Any

from sync.core.diff.walk import diff_records
from sync.core.events import at_least, build_events
from sync.core.reverts import history_reverts
from sync.testing.factory import load_sample

V = "versions/{0}/{0}_{1}.json"
NCT04736173 = [V.format("NCT04736173", d) for d in ("2026-02-03_91d8d988", "2026-03-10_66773312")]
NCT06825494 = [V.format("NCT06825494", d) for d in ("2026-02-11_afb21bfb", "2026-03-14_14b1b906")]


def _sites(study: dict[str, Any]) -> list[dict[str, Any]]:
    return study["protocolSection"]["contactsLocationsModule"]["locations"]  # type: ignore[no-any-return]


def _edit(study: dict[str, Any], fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    new = copy.deepcopy(study)
    fn(new)
    return new


def histories() -> list[tuple[str, list[dict[str, Any]]]]:
    """(label, versions): the real pairs with the registry's flips back built on."""
    a1, a2 = (load_sample(p) for p in NCT04736173)
    davao = next(s["facility"] for s in _sites(a1) if s["facility"].startswith("Metro Davao"))

    def restore_davao(s: dict[str, Any]) -> None:
        for site in _sites(s):
            if site["facility"].startswith("Metro Davao"):
                site["facility"] = davao

    b1, b2 = (load_sample(p) for p in NCT06825494)

    def mojibake(s: dict[str, Any]) -> None:
        site = next(x for x in _sites(s) if x["city"] == "Ürümqi")
        site["city"] = site["city"].encode("utf-8").decode("cp1252")  # Ürümqi -> Ãœrümqi

    def verified(s: dict[str, Any]) -> None:
        s["protocolSection"]["statusModule"]["statusVerifiedDate"] = "2026-04"

    def restore(s: dict[str, Any]) -> None:
        for site in _sites(s):
            if site["facility"].startswith("Xinjiang Medical University"):
                site["city"] = "Ürümqi"

    b3 = _edit(b2, mojibake)
    b4 = _edit(b3, verified)
    return [
        ("NCT04736173 v1 v2 v2+name restored", [a1, a2, _edit(a2, restore_davao)]),
        ("NCT04736173 v1 v2 v1", [a1, a2, copy.deepcopy(a1)]),
        ("NCT06825494 v1 v2(map point) v1", [b1, b2, copy.deepcopy(b1)]),
        ("NCT06825494 +city re-encoded, edit, restored", [b1, b2, b3, b4, _edit(b4, restore)]),
    ]


def _count(versions: list[dict[str, Any]], with_reverts: bool) -> tuple[int, int, int, int]:
    """(versions stored, events, versions notifying at medium, at low)."""
    stored = [versions[0]]
    for v in versions[1:]:
        if diff_records(stored[-1], v):
            stored.append(v)
    by_version = {i + 1: diff_records(stored[i - 1], stored[i]) for i in range(1, len(stored))}
    reverts = history_reverts(by_version) if with_reverts else {}
    events, medium, low = 0, 0, 0
    for version, changes in by_version.items():
        found = build_events(changes, reverts.get(version))
        events += len(found)
        notable = [e for e in found if e.kind != "reverted"]
        medium += any(at_least(e.importance, "medium") for e in notable)
        low += bool(notable)
    return len(stored), events, medium, low


def reverts_table() -> None:
    print("history                                        versions  events before/after  "
          "notify at medium before/after  at low before/after")  # fmt: skip
    for label, versions in histories():
        n, e0, m0, l0 = _count(versions, False)
        _, e1, m1, l1 = _count(versions, True)
        print(f"{label:<46} {n:>8}  {e0:>6} / {e1:<12} {m0:>6} / {m1:<22} {l0:>3} / {l1}")


def results_cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    base = load_sample("records/NCT04256421.json")

    def rs(s: dict[str, Any]) -> dict[str, Any]:
        return s["resultsSection"]  # type: ignore[no-any-return]

    def value(s: dict[str, Any]) -> None:
        m = rs(s)["outcomeMeasuresModule"]["outcomeMeasures"][0]
        m["classes"][0]["categories"][0]["measurements"][0]["value"] = "5.75"

    def reformat(s: dict[str, Any]) -> None:
        m = rs(s)["outcomeMeasuresModule"]["outcomeMeasures"][0]
        m["classes"][0]["categories"][0]["measurements"][0]["value"] = "5.550"

    def p_value(s: dict[str, Any]) -> None:
        rs(s)["outcomeMeasuresModule"]["outcomeMeasures"][0]["analyses"][0]["pValue"] = "0.0421"

    def serious(s: dict[str, Any]) -> None:
        rs(s)["adverseEventsModule"]["seriousEvents"][0]["stats"][0]["numAffected"] += 1

    def other(s: dict[str, Any]) -> None:
        rs(s)["adverseEventsModule"]["otherEvents"][0]["stats"][0]["numAffected"] += 1

    def flow(s: dict[str, Any]) -> None:
        ach = rs(s)["participantFlowModule"]["periods"][0]["milestones"][0]["achievements"][0]
        ach["numSubjects"] = str(int(ach["numSubjects"]) + 1)

    def contact(s: dict[str, Any]) -> None:
        rs(s)["moreInfoModule"]["pointOfContact"]["phone"] = "888-662-6729"

    edits = [("outcome value", value), ("number reformatted", reformat), ("p-value", p_value),
             ("serious AE count", serious), ("other AE count", other),
             ("participant flow count", flow), ("point of contact", contact)]  # fmt: skip
    return [(label, base, _edit(base, fn)) for label, fn in edits]


def results_table() -> None:
    print("\nNCT04256421 results edit     events (kind importance)")
    for label, old, new in results_cases():
        found = build_events(diff_records(old, new))
        print(f"{label:<28} " + "; ".join(f"{e.kind} {e.importance}" for e in found))
        for e in found:
            print(f"{'':<28}   {e.summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same (it takes a second)")
    parser.parse_args()
    reverts_table()
    results_table()


if __name__ == "__main__":
    main()
