"""References, links and shared data: study_references, links, ipd_information_types (AACT:
app/models/study_reference.rb, link.rb, ipd_information_type.rb). Pure."""

from __future__ import annotations

from sync.aact.forms import items, objects
from sync.aact.table import Table, field_at, simple_table

REF = "protocolSection.referencesModule.references"
LINK = "protocolSection.referencesModule.seeAlsoLinks"
IPD = "protocolSection.ipdSharingStatementModule.infoTypes"

STUDY_REFERENCES = simple_table(
    "study_references",
    "The publications the record cites.",
    lambda s: list(objects(s, "protocolSection", "referencesModule", "references")),
    [
        field_at("pmid", "VARCHAR", "pmid", "The PubMed identifier.", root=REF),
        field_at("reference_type", "VARCHAR", "type",
                 "BACKGROUND, RESULT or DERIVED (API v2 code).", root=REF),
        field_at("citation", "VARCHAR", "citation", "The citation.", root=REF),
    ],
)  # fmt: skip

LINKS = simple_table(
    "links",
    "Web links the record points to.",
    lambda s: list(objects(s, "protocolSection", "referencesModule", "seeAlsoLinks")),
    [
        field_at("url", "VARCHAR", "url", "The address.", root=LINK),
        field_at("description", "VARCHAR", "label", "The link's label.", root=LINK),
    ],
)  # fmt: skip

IPD_INFORMATION_TYPES = simple_table(
    "ipd_information_types",
    "The kinds of individual participant data documents to be shared.",
    lambda s: [
        v for v in items(s, "protocolSection", "ipdSharingStatementModule", "infoTypes")
        if isinstance(v, str)
    ],
    [field_at("name", "VARCHAR", "", "STUDY_PROTOCOL, SAP, ICF, CSR, ANALYTIC_CODE (API v2 code).",
              root=IPD)],
)  # fmt: skip

TABLES: list[Table] = [STUDY_REFERENCES, LINKS, IPD_INFORMATION_TYPES]
