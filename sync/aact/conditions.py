"""Conditions, keywords and the registry's MeSH terms: conditions, keywords,
browse_conditions, browse_interventions (AACT: app/models/condition.rb, keyword.rb,
browse_condition.rb, browse_intervention.rb). Pure."""

from __future__ import annotations

from typing import Any

from sync.aact.forms import Study, items, lower
from sync.aact.table import Field, Table, const, field_at, simple_table, union_table


def _strings(*path: str) -> Any:
    def entries(study: Study) -> list[Any]:
        return [v for v in items(study, *path) if isinstance(v, str)]

    return entries


def _names(source: str, what: str) -> list[Field]:
    return [
        field_at("name", "VARCHAR", "", f"The {what}, as the sponsor wrote it.", root=source),
        field_at("downcase_name", "VARCHAR", "", f"The {what} in lower case.", lower,
                 root=source),
    ]  # fmt: skip


CONDITIONS = simple_table(
    "conditions",
    "The conditions or diseases the study is about, as the sponsor named them.",
    _strings("protocolSection", "conditionsModule", "conditions"),
    _names("protocolSection.conditionsModule.conditions", "condition"),
)

KEYWORDS = simple_table(
    "keywords",
    "The sponsor's keywords.",
    _strings("protocolSection", "conditionsModule", "keywords"),
    _names("protocolSection.conditionsModule.keywords", "keyword"),
)


def _mesh(module: str, kind: str, what: str) -> list[Field]:
    source = f"derivedSection.{module}.{'meshes' if kind == 'mesh-list' else 'ancestors'}"
    return [
        field_at("mesh_term", "VARCHAR", "term", f"The MeSH term of the {what}.", root=source),
        field_at("downcase_mesh_term", "VARCHAR", "term", "The MeSH term in lower case.", lower,
                 root=source),
        const("mesh_type", kind,
              "mesh-list: a term the registry matched to the record; mesh-ancestor: a broader "
              "term above one.", source),
    ]  # fmt: skip


def _browse(name: str, module: str, what: str) -> Table:
    def entries(part: str) -> Any:
        return lambda study: [
            e for e in items(study, "derivedSection", module, part) if isinstance(e, dict)
        ]

    return union_table(
        name,
        f"The MeSH terms ClinicalTrials.gov derived from the {what}s, and their ancestors.",
        [
            (entries("meshes"), _mesh(module, "mesh-list", what)),
            (entries("ancestors"), _mesh(module, "mesh-ancestor", what)),
        ],
    )


BROWSE_CONDITIONS = _browse("browse_conditions", "conditionBrowseModule", "condition")
BROWSE_INTERVENTIONS = _browse("browse_interventions", "interventionBrowseModule", "intervention")

TABLES: list[Table] = [CONDITIONS, KEYWORDS, BROWSE_CONDITIONS, BROWSE_INTERVENTIONS]
