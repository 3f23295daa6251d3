"""Sites and contacts: facilities, facility_contacts, facility_investigators, countries,
central_contacts, overall_officials (AACT: app/models/facility.rb, country.rb,
central_contact.rb, overall_official.rb). Pure."""

from __future__ import annotations

import re
from typing import Any

from sync.aact.forms import Study, number, objects, text
from sync.aact.table import Column, Row, Table, field_at, field_fn, simple_table

CLM = "protocolSection.contactsLocationsModule"
LOC = f"{CLM}.locations"
# AACT's test for a location contact that is an investigator, not a contact.
_INVESTIGATOR = re.compile(r"investigator|study.chair", re.IGNORECASE)


def locations(study: Study) -> list[dict[str, Any]]:
    return list(objects(study, "protocolSection", "contactsLocationsModule", "locations"))


FACILITIES = simple_table(
    "facilities",
    "The sites (locations) of the study, one row per location of the record.",
    locations,
    [
        field_at("status", "VARCHAR", "status",
                 "The site's recruitment status (API v2 code).", root=LOC),
        field_at("name", "VARCHAR", "facility", "The facility's name.", root=LOC),
        field_at("city", "VARCHAR", "city", "The city.", root=LOC),
        field_at("state", "VARCHAR", "state", "The state or province.", root=LOC),
        field_at("zip", "VARCHAR", "zip", "The postal code.", root=LOC),
        field_at("country", "VARCHAR", "country", "The country.", root=LOC),
        field_at("latitude", "DOUBLE", "geoPoint.lat",
                 "The latitude the registry gives the city.", number, root=LOC),
        field_at("longitude", "DOUBLE", "geoPoint.lon",
                 "The longitude the registry gives the city.", number, root=LOC),
    ],
)  # fmt: skip

_FACILITY_ID = Column("facility_id", "BIGINT", "The facilities row (id) of the site.", LOC)


def _site_people(study: Study, investigators: bool) -> list[tuple[int, int, dict[str, Any]]]:
    """(site position, position among the site's kept contacts, contact)."""
    out: list[tuple[int, int, dict[str, Any]]] = []
    for n, loc in enumerate(locations(study)):
        kept = [
            c
            for c in objects(loc, "contacts")
            if bool(_INVESTIGATOR.search(str(c.get("role") or ""))) == investigators
        ]
        out.extend((n, i, c) for i, c in enumerate(kept))
    return out


def _facility_contacts(study: Study) -> list[Row]:
    return [
        (n, "primary" if i == 0 else "backup", text(c.get("name")), text(c.get("email")),
         text(c.get("phone")), text(c.get("phoneExt")))
        for n, i, c in _site_people(study, investigators=False)
    ]  # fmt: skip


FACILITY_CONTACTS = Table(
    name="facility_contacts",
    about="The contacts of a site (its contacts whose role is not an investigator's).",
    columns=[
        _FACILITY_ID,
        Column("contact_type", "VARCHAR", "primary for the site's first contact, else backup.",
               f"{LOC}.contacts"),
        Column("name", "VARCHAR", "The contact's name.", f"{LOC}.contacts.name"),
        Column("email", "VARCHAR", "The contact's email.", f"{LOC}.contacts.email"),
        Column("phone", "VARCHAR", "The contact's phone.", f"{LOC}.contacts.phone"),
        Column("phone_extension", "VARCHAR", "The phone extension.", f"{LOC}.contacts.phoneExt"),
    ],
    rows=_facility_contacts,
    refs={"facility_id": "facilities"},
)  # fmt: skip


def _facility_investigators(study: Study) -> list[Row]:
    return [
        (n, text(c.get("role")), text(c.get("name")))
        for n, _, c in _site_people(study, investigators=True)
    ]


FACILITY_INVESTIGATORS = Table(
    name="facility_investigators",
    about="The investigators of a site (its contacts whose role is an investigator's or a "
    "study chair's).",
    columns=[
        _FACILITY_ID,
        Column("role", "VARCHAR", "PRINCIPAL_INVESTIGATOR, SUB_INVESTIGATOR, … (API v2 code).",
               f"{LOC}.contacts.role"),
        Column("name", "VARCHAR", "The investigator's name.", f"{LOC}.contacts.name"),
    ],
    rows=_facility_investigators,
    refs={"facility_id": "facilities"},
)  # fmt: skip


def _countries(study: Study) -> list[Row]:
    out: list[Row] = []
    for loc in locations(study):
        row = (text(loc.get("country")), False)
        if row not in out:
            out.append(row)
    removed = study.get("derivedSection", {}).get("miscInfoModule", {}).get("removedCountries")
    for name in removed if isinstance(removed, list) else []:
        row = (text(name), True)
        if row not in out:
            out.append(row)
    return out


COUNTRIES = Table(
    name="countries",
    about="The countries of the study's sites (once each), and those removed from it.",
    columns=[
        Column("name", "VARCHAR", "The country.",
               f"{LOC}.country, derivedSection.miscInfoModule.removedCountries"),
        Column("removed", "BOOLEAN",
               "true for a country the study no longer lists (removedCountries).",
               "derivedSection.miscInfoModule.removedCountries"),
    ],
    rows=_countries,
)  # fmt: skip

CC = f"{CLM}.centralContacts"

CENTRAL_CONTACTS = simple_table(
    "central_contacts",
    "The study's central contacts.",
    lambda study: list(objects(study, "protocolSection", "contactsLocationsModule",
                               "centralContacts")),
    [
        field_fn("contact_type", "VARCHAR", "primary for the first contact, else backup.",
                 lambda _c, i: "primary" if i == 0 else "backup", source=CC),
        field_at("name", "VARCHAR", "name", "The contact's name.", root=CC),
        field_at("phone", "VARCHAR", "phone", "The contact's phone.", text, root=CC),
        field_at("email", "VARCHAR", "email", "The contact's email.", root=CC),
        field_at("phone_extension", "VARCHAR", "phoneExt", "The phone extension.", text,
                 root=CC),
        field_at("role", "VARCHAR", "role", "The contact's role (API v2 code).", root=CC),
    ],
)  # fmt: skip

OO = f"{CLM}.overallOfficials"

OVERALL_OFFICIALS = simple_table(
    "overall_officials",
    "The people responsible for the study's scientific leadership.",
    lambda study: list(objects(study, "protocolSection", "contactsLocationsModule",
                               "overallOfficials")),
    [
        field_at("role", "VARCHAR", "role",
                 "PRINCIPAL_INVESTIGATOR, STUDY_CHAIR, STUDY_DIRECTOR (API v2 code).", root=OO),
        field_at("name", "VARCHAR", "name", "The official's name.", root=OO),
        field_at("affiliation", "VARCHAR", "affiliation", "The official's affiliation.",
                 root=OO),
    ],
)  # fmt: skip

TABLES: list[Table] = [
    FACILITIES,
    FACILITY_CONTACTS,
    FACILITY_INVESTIGATORS,
    COUNTRIES,
    CENTRAL_CONTACTS,
    OVERALL_OFFICIALS,
]
