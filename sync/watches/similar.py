"""Rank studies by likeness to one study: diseases, MeSH, antigen targets, cell source, phase."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from sync.core.membership import phase_label as phase_label
from sync.core.util import dig

# -- what is pulled out of a record --------------------------------------------------------------

# The vocabulary is data (similar_vocabulary.toml beside this module): a new antigen, disease
# or spelling is a line there, not code.
_VOCABULARY = tomllib.loads(
    resources.files(__package__).joinpath("similar_vocabulary.toml").read_text(encoding="utf-8")
)
# Canonical antigen name -> spellings seen in registry titles and intervention names.
TARGETS: dict[str, tuple[str, ...]] = {
    name: tuple(spellings) for name, spellings in _VOCABULARY["targets"].items()
}
MODALITIES: dict[str, str] = dict(_VOCABULARY["modalities"])
CELL_SOURCES: dict[str, str] = dict(_VOCABULARY["cell_sources"])
_ALSO_ALLOGENEIC = tuple(_VOCABULARY["cell_source_rules"]["also_allogeneic"])
# Disease group -> (pattern, broader families).
DISEASES: dict[str, tuple[str, tuple[str, ...]]] = {
    name: (d["pattern"], tuple(d["families"])) for name, d in _VOCABULARY["diseases"].items()
}

_NOT_AFTER_ALNUM = r"(?<![A-Za-z0-9])"
# Capitals may follow ("CD19CAR"); digits (CD7 in CD70) and lower case ("CEA" in "ceased") not.
_NOT_BEFORE_DIGIT_OR_LOWER = r"(?![0-9a-z])"


def _compile_targets() -> dict[str, re.Pattern[str]]:
    out = {}
    for name, spellings in TARGETS.items():
        alts = "|".join(re.escape(s).replace(r"\ ", r"[\s\-]+") for s in spellings)
        out[name] = re.compile(f"{_NOT_AFTER_ALNUM}(?i:{alts}){_NOT_BEFORE_DIGIT_OR_LOWER}")
    return out


_TARGET_RES = _compile_targets()
_MODALITY_RES = {k: re.compile(v, re.IGNORECASE) for k, v in MODALITIES.items()}
_SOURCE_RES = {k: re.compile(v, re.IGNORECASE) for k, v in CELL_SOURCES.items()}


def _top_level_alternatives(pattern: str) -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = pattern.index("]", i + 1)
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    return [*parts, pattern[start:]]


def _disease_re(pattern: str) -> re.Pattern[str]:
    # Words match in any case; abbreviations (SCLC, NET, AML, ALL, SLE) only in capitals,
    # since "net" and "all" are ordinary words.
    parts = []
    for alt in _top_level_alternatives(pattern):
        letters = re.sub(r"\\[a-zA-Z]|\[[^\]]*\]|\(\?[^)]*\)", "", alt)
        parts.append(alt if re.search(r"[A-Z]{2}", letters) else f"(?i:{alt})")
    return re.compile("|".join(parts))


_DISEASE_RES = {k: (_disease_re(v[0]), v[1]) for k, v in DISEASES.items()}


def targets_in(texts: Iterable[str]) -> set[str]:
    found = set()
    for text in texts:
        for name, rx in _TARGET_RES.items():
            if rx.search(text):
                found.add(name)
    return found


def modalities_in(texts: Iterable[str]) -> set[str]:
    found = set()
    for text in texts:
        for name, rx in _MODALITY_RES.items():
            if rx.search(text):
                found.add(name)
    # A CAR-NK therapy is also made of NK cells; say the specific thing only.
    if "CAR-NK" in found:
        found.discard("NK cells")
    return found


def cell_sources_in(texts: Iterable[str]) -> set[str]:
    found = set()
    for text in texts:
        for name, rx in _SOURCE_RES.items():
            if rx.search(text):
                found.add(name)
    if found & set(_ALSO_ALLOGENEIC):
        found.add("allogeneic")
    return found


def diseases_in(texts: Iterable[str]) -> set[str]:
    found = set()
    for text in texts:
        for name, (rx, _families) in _DISEASE_RES.items():
            if rx.search(text):
                found.add(name)
    return found


def families_of(diseases: Iterable[str]) -> set[str]:
    return {f for d in diseases for f in DISEASES[d][1]}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


# -- the profile of one study ----------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What similarity is judged on, pulled out of a full record or a watch match."""

    nct_id: str
    title: str = ""
    status: str | None = None
    phases: frozenset[str] = frozenset()
    sponsor: str | None = None
    conditions: frozenset[str] = frozenset()  # normalised condition strings
    mesh: frozenset[str] = frozenset()  # MeSH condition terms
    mesh_ancestors: frozenset[str] = frozenset()
    diseases: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    modalities: frozenset[str] = frozenset()
    cell_sources: frozenset[str] = frozenset()
    sources: tuple[str, ...] = field(default=(), compare=False)

    def features(self) -> dict[str, Any]:
        return {
            "diseases": sorted(self.diseases),
            "targets": sorted(self.targets),
            "modalities": sorted(self.modalities),
            "cell_sources": sorted(self.cell_sources),
            "phases": sorted(self.phases),
            "mesh": sorted(self.mesh),
        }




def _strs(values: Any) -> list[str]:
    if isinstance(values, str):
        return [values]
    if isinstance(values, list):
        return [v for v in values if isinstance(v, str)]
    return []


def make_profile(
    nct_id: str,
    *,
    title: str = "",
    other_titles: Iterable[str] = (),
    status: str | None = None,
    phases: Iterable[str] = (),
    sponsor: str | None = None,
    conditions: Iterable[str] = (),
    keywords: Iterable[str] = (),
    interventions: Iterable[str] = (),
    summary: Iterable[str] = (),
    mesh: Iterable[str] = (),
    mesh_ancestors: Iterable[str] = (),
    sources: Iterable[str] = (),
) -> Profile:
    """A profile from the parts of a study; `summary` is the fallback text.

    Targets and modality come from the titles and intervention texts; the summary is read only
    when those name none, because summaries also mention the therapies a study is compared with.
    """
    conditions = list(conditions)
    mesh = list(mesh)
    primary = [title, *other_titles, *interventions]
    summary = list(summary)
    targets = targets_in(primary) or targets_in(summary)
    modalities = modalities_in(primary) or modalities_in(summary)
    disease_text = [*conditions, *keywords, title, *other_titles, *mesh]
    return Profile(
        nct_id=nct_id,
        title=title,
        status=status,
        phases=frozenset(phases),
        sponsor=sponsor,
        conditions=frozenset(_norm(c) for c in conditions if c.strip()),
        mesh=frozenset(mesh),
        mesh_ancestors=frozenset(mesh_ancestors) - frozenset(mesh),
        diseases=frozenset(diseases_in(disease_text)),
        targets=frozenset(targets),
        modalities=frozenset(modalities),
        cell_sources=frozenset(cell_sources_in([*primary, *summary])),
        sources=tuple(sources),
    )


def profile_of_record(study: dict[str, Any], sources: Iterable[str] = ()) -> Profile:
    """The profile of a full v2 record (read defensively)."""
    ps = study.get("protocolSection") or {}
    ident = ps.get("identificationModule") or {}
    arms = ps.get("armsInterventionsModule") or {}
    interventions: list[str] = []
    for item in arms.get("interventions") or []:
        if isinstance(item, dict):
            interventions += _strs(item.get("name")) + _strs(item.get("otherNames"))
            interventions += _strs(item.get("description"))
    for arm in arms.get("armGroups") or []:
        if isinstance(arm, dict):
            interventions += _strs(arm.get("label")) + _strs(arm.get("interventionNames"))
    browse = dig(study, "derivedSection", "conditionBrowseModule") or {}
    return make_profile(
        str(ident.get("nctId") or ""),
        title=str(ident.get("briefTitle") or ""),
        other_titles=_strs(ident.get("officialTitle")) + _strs(ident.get("acronym")),
        status=dig(ps, "statusModule", "overallStatus"),
        phases=_strs(dig(ps, "designModule", "phases")),
        sponsor=dig(ps, "sponsorCollaboratorsModule", "leadSponsor", "name"),
        conditions=_strs(dig(ps, "conditionsModule", "conditions")),
        keywords=_strs(dig(ps, "conditionsModule", "keywords")),
        interventions=interventions,
        summary=_strs(dig(ps, "descriptionModule", "briefSummary")),
        mesh=[m["term"] for m in browse.get("meshes") or [] if isinstance(m, dict) and "term" in m],
        mesh_ancestors=[
            m["term"] for m in browse.get("ancestors") or [] if isinstance(m, dict) and "term" in m
        ],
        sources=sources,
    )


# -- scoring ---------------------------------------------------------------------------------

WEIGHTS: dict[str, float] = dict(_VOCABULARY["weights"])
# MeSH tree tops every cancer (or every immune disease) shares: saying so explains nothing.
GENERIC_MESH = frozenset(_VOCABULARY["mesh"]["generic"])
# Caps keep one long list from outweighing the rest.
CAPS: dict[str, float] = dict(_VOCABULARY["caps"])


def _names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))


def score(anchor: Profile, other: Profile) -> tuple[float, list[str]]:
    """How similar `other` is to `anchor`, and why, one reason a line."""
    total = 0.0
    why: list[str] = []
    if shared := anchor.targets & other.targets:
        total += WEIGHTS["target"] * len(shared)
        why.append(f"same target: {_names(shared)}")
    if shared := anchor.modalities & other.modalities:
        total += WEIGHTS["modality"] * len(shared)
        why.append(f"same kind of therapy: {_names(shared)}")
    shared_diseases = anchor.diseases & other.diseases
    if shared_diseases:
        total += WEIGHTS["disease"] * len(shared_diseases)
        why.append(f"same disease: {_names(shared_diseases)}")
    families = families_of(anchor.diseases) & families_of(other.diseases)
    families -= families_of(shared_diseases)
    if families:
        total += WEIGHTS["family"] * len(families)
        why.append(f"related disease: both {_names(families)}")
    if shared := anchor.mesh & other.mesh:
        total += min(CAPS["mesh"], WEIGHTS["mesh"] * len(shared))
        why.append(f"shared MeSH terms: {_names(shared)}")
    ancestors = (anchor.mesh_ancestors | anchor.mesh) & (other.mesh_ancestors | other.mesh)
    ancestors -= anchor.mesh & other.mesh
    ancestors -= GENERIC_MESH
    if ancestors:
        total += min(CAPS["mesh_ancestor"], WEIGHTS["mesh_ancestor"] * len(ancestors))
        why.append(f"shared broader MeSH terms: {_names(ancestors)}")
    if shared := anchor.conditions & other.conditions:
        total += min(CAPS["condition"], WEIGHTS["condition"] * len(shared))
        why.append(f"same conditions listed: {_names(shared)}")
    sources = anchor.cell_sources & other.cell_sources
    if sources:
        specific = sources & set(_ALSO_ALLOGENEIC)
        total += WEIGHTS["specific_source"] * len(specific)
        total += WEIGHTS["source"] * len(sources - specific)
        why.append(f"same cell source: {_names(sources)}")
    if shared := anchor.phases & other.phases:
        total += WEIGHTS["phase"]
        why.append(f"same phase: {_names(phase_label(p) for p in shared)}")
    if anchor.sponsor and anchor.sponsor == other.sponsor:
        total += WEIGHTS["sponsor"]
        why.append(f"same sponsor: {anchor.sponsor}")
    return round(total, 2), why


def rank(
    anchor: Profile, others: Iterable[Profile], limit: int | None = None
) -> list[dict[str, Any]]:
    """The other studies most similar to `anchor` first (those sharing nothing are left out)."""
    scored: list[tuple[float, Profile, list[str]]] = []
    for other in others:
        if other.nct_id == anchor.nct_id:
            continue
        points, why = score(anchor, other)
        if points > 0:
            scored.append((points, other, why))
    scored.sort(key=lambda t: (-t[0], t[1].nct_id))
    rows = [
        {
            "nct_id": other.nct_id,
            "score": points,
            "title": other.title,
            "status": other.status,
            "phases": sorted(other.phases),
            "sources": list(other.sources),
            "why": why,
        }
        for points, other, why in scored
    ]
    return rows[:limit] if limit else rows
