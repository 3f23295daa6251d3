"""Arms, interventions and planned outcomes: design_groups, interventions,
intervention_other_names, design_group_interventions, design_outcomes (AACT:
app/models/design_group.rb, intervention.rb, design_outcome.rb). Pure."""

from __future__ import annotations

from typing import Any

from sync.aact.forms import Study, objects
from sync.aact.table import Column, Field, Row, Table, const, field_at, simple_table, union_table

AIM = "protocolSection.armsInterventionsModule"


def _arms(study: Study) -> list[dict[str, Any]]:
    return list(objects(study, "protocolSection", "armsInterventionsModule", "armGroups"))


def _interventions(study: Study) -> list[dict[str, Any]]:
    return list(objects(study, "protocolSection", "armsInterventionsModule", "interventions"))


DESIGN_GROUPS = simple_table(
    "design_groups",
    "The arms (interventional) or groups (observational) of the study.",
    _arms,
    [
        field_at("group_type", "VARCHAR", "type",
                 "EXPERIMENTAL, ACTIVE_COMPARATOR, PLACEBO_COMPARATOR, … (API v2 code).",
                 root=f"{AIM}.armGroups"),
        field_at("title", "VARCHAR", "label", "The arm's label.", root=f"{AIM}.armGroups"),
        field_at("description", "VARCHAR", "description", "The arm, described.",
                 root=f"{AIM}.armGroups"),
    ],
)  # fmt: skip

INTERVENTIONS = simple_table(
    "interventions",
    "The interventions studied.",
    _interventions,
    [
        field_at("intervention_type", "VARCHAR", "type",
                 "DRUG, DEVICE, BIOLOGICAL, PROCEDURE, … (API v2 code).",
                 root=f"{AIM}.interventions"),
        field_at("name", "VARCHAR", "name", "The intervention's name.",
                 root=f"{AIM}.interventions"),
        field_at("description", "VARCHAR", "description", "The intervention, described.",
                 root=f"{AIM}.interventions"),
    ],
)  # fmt: skip

_INTERVENTION_ID = Column(
    "intervention_id", "BIGINT", "The interventions row (id) this row belongs to.",
    f"{AIM}.interventions",
)  # fmt: skip


def _other_names(study: Study) -> list[Row]:
    return [
        (i, name)
        for i, item in enumerate(_interventions(study))
        for name in (item.get("otherNames") or [])
        if isinstance(name, str)
    ]


INTERVENTION_OTHER_NAMES = Table(
    name="intervention_other_names",
    about="Other names of an intervention (brand names, codes, synonyms).",
    columns=[
        _INTERVENTION_ID,
        Column("name", "VARCHAR", "The other name.", f"{AIM}.interventions.otherNames"),
    ],
    rows=_other_names,
    refs={"intervention_id": "interventions"},
)


def _group_interventions(study: Study) -> list[Row]:
    # AACT finds the arm by its label (the last arm of that label, as its index keeps it).
    by_label = {arm.get("label"): n for n, arm in enumerate(_arms(study))}
    return [
        (by_label.get(label), i)
        for i, item in enumerate(_interventions(study))
        for label in (item.get("armGroupLabels") or [])
        if isinstance(label, str)
    ]


DESIGN_GROUP_INTERVENTIONS = Table(
    name="design_group_interventions",
    about="Which intervention is given in which arm.",
    columns=[
        Column("design_group_id", "BIGINT",
               "The design_groups row (id) of the arm; NULL when no arm has the label.",
               f"{AIM}.interventions.armGroupLabels"),
        _INTERVENTION_ID,
    ],
    rows=_group_interventions,
    refs={"design_group_id": "design_groups", "intervention_id": "interventions"},
)  # fmt: skip


def _outcome_fields(kind: str, key: str) -> list[Field]:
    source = f"protocolSection.outcomesModule.{key}"
    return [
        const("outcome_type", kind, "primary, secondary or other.", source),
        field_at("measure", "VARCHAR", "measure", "The outcome measure's title.", root=source),
        field_at("time_frame", "VARCHAR", "timeFrame", "When the outcome is measured.",
                 root=source),
        field_at("population", "VARCHAR", "population",
                 "The population (AACT keeps the column; API v2 records have no such field).",
                 root=source),
        field_at("description", "VARCHAR", "description", "The outcome measure, described.",
                 root=source),
    ]  # fmt: skip


def _outcomes(key: str) -> Any:
    return lambda study: list(objects(study, "protocolSection", "outcomesModule", key))


DESIGN_OUTCOMES = union_table(
    "design_outcomes",
    "The outcome measures the protocol plans (primary, secondary, other).",
    [
        (_outcomes("primaryOutcomes"), _outcome_fields("primary", "primaryOutcomes")),
        (_outcomes("secondaryOutcomes"), _outcome_fields("secondary", "secondaryOutcomes")),
        (_outcomes("otherOutcomes"), _outcome_fields("other", "otherOutcomes")),
    ],
)

TABLES: list[Table] = [
    DESIGN_GROUPS,
    INTERVENTIONS,
    INTERVENTION_OTHER_NAMES,
    DESIGN_GROUP_INTERVENTIONS,
    DESIGN_OUTCOMES,
]
