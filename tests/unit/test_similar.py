"""Similarity ranking: what is read out of a record (targets, therapy, cell source, disease), and
the order of the five tracked CAR-NK trials and their neighbours around NEUK203-13."""

from __future__ import annotations

from typing import Any

import pytest

from sync.testing.factory import nct
from sync.watches import similar
from tests.support.studies import (
    CD19_CART,
    CLL1,
    DLL3_CART,
    DUAL,
    LUPUS,
    NEUK,
    SCLC_CHEMO,
    UMBRELLA,
    all_studies,
    cd19_cart,
    dll3_cart,
    neuk203_13,
    sclc_chemo,
)


def _ranked(anchor: str) -> list[dict[str, Any]]:
    profiles = {p.nct_id: p for p in map(similar.profile_of_record, all_studies())}
    return similar.rank(profiles[anchor], profiles.values())


# -- what is read out of records ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("anti-CD19 CAR NK cells (KN5501)", {"CD19"}),
        ("DLL3/CD56 dual-target CAR-NK cells", {"DLL3", "CD56"}),
        ("CLL-1 CAR-NK cell injection", {"CLL1"}),
        ("CLEC12A-directed NK cells", {"CLL1"}),
        ("Anti-BCMA-CD19 CAR-T cells", {"BCMA", "CD19"}),
        ("CD70 CAR-NK", {"CD70"}),  # not CD7
        ("CD7 CAR-T", {"CD7"}),
        ("Claudin 18.2 CAR-T", {"Claudin18.2"}),
        ("CLDN18.2-targeted", {"Claudin18.2"}),
        ("anti-mesothelin CAR", {"mesothelin"}),
        ("GD2 and GPC3", {"GD2", "GPC3"}),
        ("CD19CAR-CD3Zeta-4-1BB T cells", {"CD19"}),
        ("delta-like ligand 3 (DLL3)", {"DLL3"}),
        ("treatment ceased in mesothelioma", set()),  # neither CEA nor mesothelin
    ],
)
def test_targets_in_titles_and_interventions(text: str, expected: set[str]) -> None:
    assert similar.targets_in([text]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Anti-CD19 CAR NK cells", {"CAR-NK"}),
        ("CLL1 CAR iPSC NK cells", {"CAR-NK"}),
        ("chimeric antigen receptor (CAR) natural killer (NK) cells", {"CAR-NK"}),
        ("CAR-modified NK-92 cells", {"CAR-NK"}),
        ("B7-H3CART", {"CAR-T"}),
        ("Anti-B7-H3 Chimeric Antigen Receptor T-Cell (CAR-T Cell) Injection", {"CAR-T"}),
        ("Haploidentical NK cells", {"NK cells"}),
        ("Etoposide", set()),
    ],
)
def test_kind_of_therapy(text: str, expected: set[str]) -> None:
    assert similar.modalities_in([text]) == expected


def test_cell_sources() -> None:
    assert similar.cell_sources_in(["CAR iPSC-NK"]) == {"iPSC-derived", "allogeneic"}
    assert similar.cell_sources_in(["induced pluripotent stem cell"]) == {
        "iPSC-derived",
        "allogeneic",
    }
    assert similar.cell_sources_in(["umbilical cord blood NK"]) == {"cord blood", "allogeneic"}
    assert similar.cell_sources_in(["off-the-shelf CAR-NK"]) == {"allogeneic"}
    assert similar.cell_sources_in(["Autologous T-Lymphocyte Cells"]) == {"autologous"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Extensive Stage Lung Small Cell Cancer", {"small cell lung cancer"}),
        ("ES-SCLC", {"small cell lung cancer"}),
        ("Non-Small Cell Lung Cancer", {"non-small cell lung cancer"}),
        ("NSCLC", {"non-small cell lung cancer"}),
        ("Neuroendocrine Tumors", {"neuroendocrine neoplasm"}),
        ("AML, Adult", {"acute myeloid leukaemia"}),
        ("Systemic Lupus Erythematosus", {"systemic lupus erythematosus"}),
        ("all patients with a net benefit", set()),  # abbreviations only in capitals
        ("Ovary Neoplasm", {"ovarian cancer"}),
    ],
)
def test_diseases(text: str, expected: set[str]) -> None:
    assert similar.diseases_in([text]) == expected


def test_profile_of_neuk203_13_reads_the_summary_when_names_say_nothing() -> None:
    # Its title and intervention name never say CAR-NK or DLL3; the brief summary does.
    p = similar.profile_of_record(neuk203_13())
    assert p.targets == {"DLL3"}
    assert p.modalities == {"CAR-NK"}
    assert p.cell_sources == {"iPSC-derived", "allogeneic"}
    assert p.diseases == {"small cell lung cancer", "neuroendocrine neoplasm"}
    assert p.phases == {"PHASE1"}
    assert p.mesh == {"Small Cell Lung Carcinoma", "Neuroendocrine Tumors"}


def test_summary_is_not_read_when_titles_and_interventions_name_targets() -> None:
    study = cd19_cart()
    study["protocolSection"]["descriptionModule"]["briefSummary"] = (
        "Unlike DLL3-directed CAR-NK products, this study uses autologous CD19 CAR-T cells."
    )
    p = similar.profile_of_record(study)
    assert p.targets == {"CD19"}
    assert p.modalities == {"CAR-T"}


# -- ranking -----------------------------------------------------------------------------------


def test_neuk203_13_ranks_dll3_car_nk_sclc_above_cd19_car_nk_lupus() -> None:
    ranked = _ranked(NEUK)
    order = [r["nct_id"] for r in ranked]
    assert NEUK not in order
    assert order[0] == DUAL  # DLL3 CAR-NK in SCLC, allogeneic, Phase 1/2
    assert order.index(UMBRELLA) < order.index(LUPUS)
    assert order.index(DUAL) < order.index(LUPUS)
    # The same target and disease outweigh the same kind of therapy alone...
    assert order.index(DLL3_CART) < order.index(CLL1)
    # ...and an iPSC CAR-NK in another disease still beats a CD19 CAR-NK in lupus.
    assert order.index(CLL1) < order.index(LUPUS)
    by_id = {r["nct_id"]: r for r in ranked}
    assert by_id[DUAL]["why"][:3] == [
        "same target: DLL3",
        "same kind of therapy: CAR-NK",
        "same disease: small cell lung cancer",
    ]
    assert "same phase: Phase 1" in by_id[DUAL]["why"]
    assert by_id[LUPUS]["why"] == [
        "same kind of therapy: CAR-NK",
        "same cell source: allogeneic",
        "same phase: Phase 1",
    ]
    assert by_id[LUPUS]["score"] == 3.5
    assert by_id[CLL1]["why"] == [
        "same kind of therapy: CAR-NK",
        "same cell source: allogeneic, iPSC-derived",
        "same phase: Phase 1",
    ]
    assert by_id[DUAL]["score"] > by_id[UMBRELLA]["score"] > by_id[LUPUS]["score"]


def test_studies_sharing_nothing_are_left_out() -> None:
    ranked = _ranked(LUPUS)
    ids = [r["nct_id"] for r in ranked]
    assert SCLC_CHEMO not in ids  # no target, therapy, disease, source or phase in common
    assert ids[0] in (CD19_CART, CLL1, NEUK, DUAL)
    assert next(r for r in ranked if r["nct_id"] == CD19_CART)["why"][0] == "same target: CD19"


def test_shared_mesh_terms_and_related_diseases_are_explained() -> None:
    a = similar.profile_of_record(sclc_chemo())
    b = similar.profile_of_record(dll3_cart())
    points, why = similar.score(a, b)
    assert "same disease: small cell lung cancer" in why
    assert "shared MeSH terms: Small Cell Lung Carcinoma" in why
    assert "same conditions listed: small cell lung cancer" in why
    assert points == 2.5 + 1.0 + 1.0 + 0.5  # disease, MeSH, ancestors (capped), condition
    lung = similar.make_profile(nct(20), conditions=["Non-Small Cell Lung Cancer"])
    _, why = similar.score(a, lung)
    assert why == ["related disease: both lung cancer, solid tumour"]


def test_limit() -> None:
    profiles = [similar.profile_of_record(s) for s in all_studies()]
    assert len(similar.rank(profiles[0], profiles, limit=2)) == 2
