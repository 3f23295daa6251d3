"""The CAR-NK neighbourhood the similarity, watch and gate tests share: the five tracked trials
(real IDs, records built to their registry entries) and synthetic neighbours around them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.testing.factory import make_study, nct

NEUK = "NCT07366658"  # NEUK203-13, iPSC DLL3 CAR-NK, SCLC and neuroendocrine tumours, Phase 1
DUAL = "NCT07480213"  # dual-target CAR-NK (DLL3/CD56/GD2), r/r SCLC, Phase 1/2
UMBRELLA = "NCT07172412"  # umbrella trial, ES-SCLC, DLL3 CAR-NK arm, Phase 2
CLL1 = "NCT06027853"  # CLL1 CAR iPSC-NK, r/r AML, Phase 1
LUPUS = "NCT06010472"  # anti-CD19 CAR-NK (KN5501), SLE, Phase 1
DLL3_CART = nct(11)  # DLL3 CAR-T in SCLC (autologous)
SCLC_CHEMO = nct(12)  # chemotherapy in SCLC
CD19_CART = nct(13)  # CD19 CAR-T in lymphoma

SCLC_MESH = ["Small Cell Lung Carcinoma"]
LUNG_ANCESTORS = [
    "Carcinoma, Bronchogenic",
    "Bronchial Neoplasms",
    "Lung Neoplasms",
    "Respiratory Tract Neoplasms",
    "Neoplasms",
]


def car_study(
    nct_id: str,
    *,
    title: str,
    conditions: Sequence[str],
    interventions: Sequence[tuple[str, str, str]],
    summary: str,
    sponsor: str,
    phases: Sequence[str] = ("PHASE1",),
    status: str = "RECRUITING",
    official: str | None = None,
    keywords: Sequence[str] = (),
    mesh: Sequence[str] = (),
    ancestors: Sequence[str] = (),
    study_type: str = "INTERVENTIONAL",
    last_update: str = "2026-10-01",
) -> dict[str, Any]:
    """A full v2 record with these facts and none of the factory template's own topic left.

    `interventions` are (type, name, description) triples.
    """
    study = make_study(
        nct_id,
        title=title,
        status=status,
        phases=phases,
        conditions=conditions,
        interventions=[(t, n) for t, n, _ in interventions],
        last_update=last_update,
    )
    ps = study["protocolSection"]
    ps["identificationModule"]["officialTitle"] = official or title
    ps["identificationModule"]["organization"] = {"fullName": sponsor, "class": "OTHER"}
    for item, (_, _, description) in zip(
        ps["armsInterventionsModule"]["interventions"], interventions, strict=True
    ):
        item["description"] = description
    ps["armsInterventionsModule"]["armGroups"][0]["description"] = summary
    ps["descriptionModule"] = {"briefSummary": summary}
    ps["conditionsModule"] = {"conditions": list(conditions), "keywords": list(keywords)}
    ps["sponsorCollaboratorsModule"] = {
        "responsibleParty": {"type": "SPONSOR"},
        "leadSponsor": {"name": sponsor, "class": "OTHER"},
    }
    ps["designModule"]["studyType"] = study_type
    # The template's outcomes and criteria speak of its own disease (ES-SCLC): searches would
    # find that text, so every study here gets neutral ones.
    ps["outcomesModule"] = {
        "primaryOutcomes": [
            {"measure": "Incidence of dose-limiting toxicities", "timeFrame": "28 days"}
        ]
    }
    ps["eligibilityModule"]["eligibilityCriteria"] = (
        "Inclusion Criteria:\n\n* Age 18 years or older\n\n"
        "Exclusion Criteria:\n\n* Active infection"
    )
    if mesh or ancestors:
        study["derivedSection"]["conditionBrowseModule"] = {
            "meshes": [{"id": f"D{i:06d}", "term": t} for i, t in enumerate(mesh)],
            "ancestors": [{"id": f"D{i + 100:06d}", "term": t} for i, t in enumerate(ancestors)],
        }
    return study


def neuk203_13() -> dict[str, Any]:
    return car_study(
        NEUK,
        title=(
            "Safety, Tolerability and Preliminary Efficacy of NEUK203-13 in Refractory "
            "Neuroendocrine Tumor Patients"
        ),
        official=(
            "A Study to Explore the Safety, Tolerability, and Preliminary Efficacy of NEUK203-13 "
            "Injection in Patients With Neuroendocrine Tumors Who Have Failed Systemic Therapy"
        ),
        conditions=["Small Cell Lung Cancer", "Neuroendocrine Tumors"],
        interventions=[
            (
                "BIOLOGICAL",
                "NEUK203-13 Injection",
                "Intravenous infusion on days 1, 4 and 7 after lymphodepletion.",
            ),
        ],
        summary=(
            "This is a Phase I clinical trial of NEUK203-13 Injection in patients with advanced "
            "small cell lung cancer (SCLC) who have failed systematic therapy or late stage "
            'neuroendocrine tumors (NETs). NEUK203-13 Injection is an "off-the-shelf" CAR-NK '
            "cell therapy developed based on induced pluripotent stem cell (iPSC) technology, "
            "targeting the DLL3 protein highly expressed in SCLC or other neuroendocrine tumors."
        ),
        sponsor="Cancer Institute and Hospital, Chinese Academy of Medical Sciences",
        mesh=[*SCLC_MESH, "Neuroendocrine Tumors"],
        ancestors=LUNG_ANCESTORS,
    )


def dual_target() -> dict[str, Any]:
    return car_study(
        DUAL,
        title=(
            "Adaptive Phase 1/2 Study of Dual-Target CAR-NK Cells in Relapsed/Refractory Small "
            "Cell Lung Cancer (SCLC)"
        ),
        conditions=["Small Cell Lung Cancer", "Relapsed/Refractory SCLC"],
        interventions=[
            ("BIOLOGICAL", "DLL3/CD56 dual-target CAR-NK cells", "Allogeneic CAR-NK cells."),
            ("BIOLOGICAL", "DLL3/GD2 dual-target CAR-NK cells", "Allogeneic CAR-NK cells."),
            ("BIOLOGICAL", "CD56/GD2 dual-target CAR-NK cells", "Allogeneic CAR-NK cells."),
            ("DRUG", "Fludarabine", "Lymphodepleting chemotherapy."),
            ("DRUG", "Cyclophosphamide", "Lymphodepleting chemotherapy."),
        ],
        summary=(
            "An open-label, multi-center, adaptive Phase 1/2 trial of allogeneic dual-target "
            "CAR-NK cell products manufactured from healthy-donor NK cells in adults with "
            "relapsed or refractory small cell lung cancer."
        ),
        sponsor="SCLC Cell Therapy Consortium",
        phases=("PHASE1", "PHASE2"),
        mesh=SCLC_MESH,
        ancestors=LUNG_ANCESTORS,
    )


def umbrella() -> dict[str, Any]:
    return car_study(
        UMBRELLA,
        title=(
            "Open-Label, Biomarker-Integrated Umbrella Trial for First-Line Treatment of "
            "Extensive-stage Small Cell Lung Cancer"
        ),
        conditions=["Extensive Stage Lung Small Cell Cancer"],
        interventions=[
            ("BIOLOGICAL", "DLL3-CAR-NK cells", "1.0 x 10^9 DLL3-CAR-positive NK cells d5 q6w."),
            ("DRUG", "Selinexor", "Oral selinexor 60 mg biweekly."),
            ("DRUG", "Anlotinib", "Oral anlotinib 12 mg on days 1-14."),
            ("DRUG", "Etoposide", "100 mg/m2 on days 1-3."),
            ("DRUG", "Carboplatin", "AUC5 on day 1."),
        ],
        summary=(
            "An open-label umbrella study in first-line ES-SCLC: DLL3-CAR-NK cells, selinexor or "
            "anlotinib by biomarker group, each combined with ICI, etoposide and carboplatin."
        ),
        sponsor="Tianjin Medical University Cancer Institute and Hospital",
        phases=("PHASE2",),
        status="NOT_YET_RECRUITING",
        mesh=SCLC_MESH,
        ancestors=LUNG_ANCESTORS,
    )


def cll1_aml() -> dict[str, Any]:
    return car_study(
        CLL1,
        title="Natural Killer(NK) Cell Therapy Targeting CLL1 in Acute Myeloid Leukemia",
        conditions=["AML, Adult"],
        interventions=[("DRUG", "CLL1 CAR-NK cell injection", "CLL1 CAR iPSC-NK cells.")],
        summary=(
            "A phase 1, first-in-human, open-label, multicohort study of CLL1 target CAR iPSC NK "
            "cells in patients with relapsed/refractory AML."
        ),
        sponsor="Zhejiang University",
        mesh=["Leukemia, Myeloid, Acute"],
        ancestors=["Leukemia, Myeloid", "Leukemia", "Neoplasms"],
    )


def cd19_lupus() -> dict[str, Any]:
    return car_study(
        LUPUS,
        title=(
            "An Exploratory Clinical Study of Anti-CD19 CAR NK Cells in the Treatment of "
            "Systemic Lupus Erythematosus"
        ),
        conditions=[
            "Systemic Lupus Erythematosus",
            "Cutaneous Lupus Erythematosus",
            "Lupus",
        ],
        interventions=[
            ("BIOLOGICAL", "anti-CD19 CAR NK cells (KN5501)", "Allogeneic anti-CD19 CAR-NK cells.")
        ],
        summary=(
            "A single arm, open-label pilot study of anti-CD19 chimeric antigen receptor (CAR) "
            "natural killer (NK) cells (KN5501) in moderate to severe refractory SLE."
        ),
        sponsor="Changhai Hospital",
        mesh=["Lupus Erythematosus, Systemic", "Lupus Erythematosus, Cutaneous"],
        ancestors=["Connective Tissue Diseases", "Autoimmune Diseases", "Skin Diseases"],
    )


def dll3_cart() -> dict[str, Any]:
    return car_study(
        DLL3_CART,
        title="DLL3-targeted CAR-T Cells in Extensive-Stage Small Cell Lung Cancer",
        conditions=["Small Cell Lung Cancer"],
        interventions=[("BIOLOGICAL", "DLL3 CAR-T cells", "Autologous DLL3 CAR-T cells.")],
        summary="Autologous CAR-T cells targeting DLL3 in relapsed small cell lung cancer.",
        sponsor="Synthetic Oncology Group",
        mesh=SCLC_MESH,
        ancestors=LUNG_ANCESTORS,
    )


def sclc_chemo() -> dict[str, Any]:
    return car_study(
        SCLC_CHEMO,
        title="Etoposide and Carboplatin With or Without Maintenance in Small Cell Lung Cancer",
        conditions=["Small Cell Lung Cancer"],
        interventions=[("DRUG", "Etoposide", "IV"), ("DRUG", "Carboplatin", "IV")],
        summary="A randomised chemotherapy study in extensive-stage small cell lung cancer.",
        sponsor="Synthetic Lung Group",
        phases=("PHASE3",),
        mesh=SCLC_MESH,
        ancestors=LUNG_ANCESTORS,
    )


def cd19_cart() -> dict[str, Any]:
    return car_study(
        CD19_CART,
        title="CD19 CAR-T Cells in Relapsed Diffuse Large B-cell Lymphoma",
        conditions=["Diffuse Large B-cell Lymphoma"],
        interventions=[("BIOLOGICAL", "CD19 CAR-T cells", "Autologous CD19 CAR-T cells.")],
        summary="Autologous anti-CD19 CAR-T cells after lymphodepletion.",
        sponsor="Synthetic Lymphoma Group",
        phases=("PHASE2",),
    )


def all_studies() -> list[dict[str, Any]]:
    return [
        neuk203_13(),
        dual_target(),
        umbrella(),
        cll1_aml(),
        cd19_lupus(),
        dll3_cart(),
        sclc_chemo(),
        cd19_cart(),
    ]
