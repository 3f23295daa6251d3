"""Sponsors and identifiers: sponsors, responsible_parties, id_information (AACT:
app/models/sponsor.rb, responsible_party.rb, id_information.rb). Pure."""

from __future__ import annotations

from typing import Any

from sync.aact.forms import Study, objects
from sync.aact.table import Field, Table, const, field_at, simple_table, union_table
from sync.core.util import dig

SCM = "protocolSection.sponsorCollaboratorsModule"
IM = "protocolSection.identificationModule"


def _sponsor_fields(role: str, key: str) -> list[Field]:
    source = f"{SCM}.{key}"
    return [
        field_at("agency_class", "VARCHAR", "class",
                 "INDUSTRY, NIH, FED, OTHER, … (API v2 code).", root=source),
        const("lead_or_collaborator", role, "lead or collaborator.", source),
        field_at("name", "VARCHAR", "name", "The sponsor's name.", root=source),
    ]  # fmt: skip


def _lead(study: Study) -> list[Any]:
    lead = dig(study, "protocolSection", "sponsorCollaboratorsModule", "leadSponsor")
    return [lead] if isinstance(lead, dict) else []


SPONSORS = union_table(
    "sponsors",
    "The lead sponsor and the collaborators.",
    [
        (_lead, _sponsor_fields("lead", "leadSponsor")),
        (lambda s: list(objects(s, "protocolSection", "sponsorCollaboratorsModule",
                                "collaborators")),
         _sponsor_fields("collaborator", "collaborators")),
    ],
)  # fmt: skip

RP = f"{SCM}.responsibleParty"

RESPONSIBLE_PARTIES = simple_table(
    "responsible_parties",
    "Who is responsible for the record (one row when the record names one).",
    lambda s: [m] if isinstance(m := dig(s, "protocolSection", "sponsorCollaboratorsModule",
                                         "responsibleParty"), dict) else [],
    [
        field_at("responsible_party_type", "VARCHAR", "type",
                 "SPONSOR, PRINCIPAL_INVESTIGATOR or SPONSOR_INVESTIGATOR.", root=RP),
        field_at("name", "VARCHAR", "investigatorFullName", "The investigator's name.", root=RP),
        field_at("title", "VARCHAR", "investigatorTitle", "The investigator's title.", root=RP),
        field_at("organization", "VARCHAR", "oldOrganization",
                 "The organisation of a record entered before 2017.", root=RP),
        field_at("affiliation", "VARCHAR", "investigatorAffiliation",
                 "The investigator's affiliation.", root=RP),
        field_at("old_name_title", "VARCHAR", "oldNameTitle",
                 "The name and title of a record entered before 2017.", root=RP),
    ],
)  # fmt: skip


def _id_fields(source: str, path: str, *, alias: bool = False) -> list[Field]:
    where = f"{IM}.{path}"
    kind = {"nctIdAliases": "nct_alias", "orgStudyIdInfo": "org_study_id"}.get(path, "secondary_id")
    if alias:
        return [
            const("id_source", kind, "nct_alias, org_study_id or secondary_id.", where),
            field_at("id_value", "VARCHAR", "", "The identifier.", root=where),
            const("id_type", None, "The kind of secondary identifier (API v2 code).", where),
            const("id_type_description", None, "The issuing domain (id's domain).", where),
            const("id_link", None, "A link to the identifier's record.", where),
        ]
    return [
        const("id_source", kind, "nct_alias, org_study_id or secondary_id.", where),
        field_at("id_value", "VARCHAR", "id", "The identifier.", root=where),
        field_at("id_type", "VARCHAR", "type", "The kind of secondary identifier (API v2 code).",
                 root=where),
        field_at("id_type_description", "VARCHAR", "domain", "The issuing domain.", root=where),
        field_at("id_link", "VARCHAR", "link", "A link to the identifier's record.", root=where),
    ]  # fmt: skip


def _org_id(study: Study) -> list[Any]:
    info = dig(study, "protocolSection", "identificationModule", "orgStudyIdInfo")
    return [info] if isinstance(info, dict) else []


ID_INFORMATION = union_table(
    "id_information",
    "The study's other identifiers: the organisation's, secondary IDs, and NCT aliases.",
    [
        (_org_id, _id_fields("org", "orgStudyIdInfo")),
        (lambda s: list(objects(s, "protocolSection", "identificationModule",
                                "secondaryIdInfos")),
         _id_fields("secondary", "secondaryIdInfos")),
        (lambda s: [a for a in (dig(s, "protocolSection", "identificationModule",
                                    "nctIdAliases") or []) if isinstance(a, str)],
         _id_fields("alias", "nctIdAliases", alias=True)),
    ],
)  # fmt: skip

TABLES: list[Table] = [SPONSORS, RESPONSIBLE_PARTIES, ID_INFORMATION]
