"""calculated_values: the figures AACT derives from a record (AACT:
app/models/calculated_value.rb, eligibility.rb split_age, facility.rb us_territories). Pure."""

from __future__ import annotations

from datetime import date
from typing import Any

from sync.aact.forms import Study, aact_date, age_parts, integer, items, objects
from sync.aact.locations import locations
from sync.aact.table import Column, Row, Table
from sync.core.util import dig

# AACT's list of what counts as a US facility's country.
US_TERRITORIES = frozenset(
    {
        "United States", "Guam", "Puerto Rico", "U.S. Virgin Islands", "Virgin Islands (U.S.)",
        "Northern Mariana Islands", "American Samoa", "Midway Atoll", "Palmyra Atoll",
        "Baker Island", "Howland Island", "Jarvis Island", "Johnston Atoll", "Kingman Reef",
        "Wake Island", "Navassa Island", "Serranilla Bank", "Bajo Nuevo Bank",
    }
)  # fmt: skip

STATUS = ("protocolSection", "statusModule")


def _months(later: date | None, earlier: date | None) -> int | None:
    """AACT's ((later - earlier) / 30).to_i: whole 30-day months, truncated towards zero."""
    if later is None or earlier is None:
        return None
    return int((later - earlier).days / 30)


def _struct(study: Study, key: str) -> tuple[date | None, Any]:
    struct = dig(study, *STATUS, key)
    return aact_date(dig(struct, "date")), dig(struct, "type")


def _subjects(study: Study, key: str) -> int | None:
    """The sum of numAffected over the events of one kind and their groups (AACT sums its
    reported_events.subjects_affected by event type); None when there is none."""
    total, seen = 0, False
    for event in objects(study, "resultsSection", "adverseEventsModule", key):
        for stat in objects(event, "stats"):
            n = integer(stat.get("numAffected"))
            if n is not None:
                total, seen = total + n, True
    return total if seen else None


def _outcome_count(study: Study, key: str) -> int | None:
    n = len(list(objects(study, "protocolSection", "outcomesModule", key)))
    return n or None  # AACT counts by grouping: a kind with no outcome has no count


def _row(study: Study) -> Row:
    sites = locations(study)
    eligibility = dig(study, "protocolSection", "eligibilityModule")
    min_num, min_unit = age_parts(dig(eligibility, "minimumAge") or "N/A")
    max_num, max_unit = age_parts(dig(eligibility, "maximumAge") or "N/A")
    start, start_type = _struct(study, "startDateStruct")
    primary, primary_type = _struct(study, "primaryCompletionDateStruct")
    results_submitted = aact_date(dig(study, *STATUS, "resultsFirstSubmitDate"))
    first_submitted = aact_date(dig(study, *STATUS, "studyFirstSubmitDate"))
    duration = None
    if start and start_type != "ESTIMATED" and primary and primary_type != "ESTIMATED":
        duration = _months(primary, start)
    return (
        len(sites),
        _subjects(study, "otherEvents"),
        _subjects(study, "seriousEvents"),
        first_submitted.year if first_submitted else None,
        None,
        duration,
        bool(items(study, "resultsSection", "outcomeMeasuresModule", "outcomeMeasures")),
        _months(results_submitted, primary),
        any(s.get("country") in US_TERRITORIES for s in sites) if sites else None,
        len(sites) == 1 if sites else None,
        min_num,
        max_num,
        min_unit,
        max_unit,
        _outcome_count(study, "primaryOutcomes"),
        _outcome_count(study, "secondaryOutcomes"),
        _outcome_count(study, "otherOutcomes"),
    )


_SC = "protocolSection.statusModule"
_EM = "protocolSection.eligibilityModule"
_AE = "resultsSection.adverseEventsModule"

CALCULATED_VALUES = Table(
    name="calculated_values",
    about="Figures derived from the record, one row per study, as AACT computes them.",
    columns=[
        Column("number_of_facilities", "INTEGER", "The number of facilities rows.",
               "protocolSection.contactsLocationsModule.locations"),
        Column("number_of_nsae_subjects", "INTEGER",
               "Participants affected by other (not serious) adverse events, summed over the "
               "events and groups (as AACT sums reported_events); NULL without results.",
               f"{_AE}.otherEvents.stats.numAffected"),
        Column("number_of_sae_subjects", "INTEGER",
               "Participants affected by serious adverse events, summed likewise.",
               f"{_AE}.seriousEvents.stats.numAffected"),
        Column("registered_in_calendar_year", "INTEGER",
               "The year the study was first submitted.", f"{_SC}.studyFirstSubmitDate"),
        Column("nlm_download_date", "DATE", "Always NULL (AACT keeps the column, unused).",
               aact="AACT too leaves it NULL"),
        Column("actual_duration", "INTEGER",
               "Whole 30-day months from start to primary completion, when neither date is "
               "ESTIMATED.", f"{_SC}.startDateStruct, {_SC}.primaryCompletionDateStruct"),
        Column("were_results_reported", "BOOLEAN", "Whether the record has outcome results.",
               "resultsSection.outcomeMeasuresModule.outcomeMeasures"),
        Column("months_to_report_results", "INTEGER",
               "Whole 30-day months from primary completion to the first results submission.",
               f"{_SC}.resultsFirstSubmitDate, {_SC}.primaryCompletionDateStruct"),
        Column("has_us_facility", "BOOLEAN",
               "Whether a site is in the United States or its territories (NULL: no site).",
               "protocolSection.contactsLocationsModule.locations.country"),
        Column("has_single_facility", "BOOLEAN",
               "Whether the study has exactly one site (NULL: no site).",
               "protocolSection.contactsLocationsModule.locations"),
        Column("minimum_age_num", "INTEGER", "The number of the minimum age ('18 Years': 18).",
               f"{_EM}.minimumAge",
               aact="NULL for a missing age (AACT's split of 'N/A' gives 0)"),
        Column("maximum_age_num", "INTEGER", "The number of the maximum age.",
               f"{_EM}.maximumAge",
               aact="NULL for a missing age (AACT's split of 'N/A' gives 0)"),
        Column("minimum_age_unit", "VARCHAR", "The unit of the minimum age, lower case and "
               "singular ('year').", f"{_EM}.minimumAge",
               aact="NULL for a missing age (AACT's gives 'n/a')"),
        Column("maximum_age_unit", "VARCHAR", "The unit of the maximum age ('year').",
               f"{_EM}.maximumAge", aact="NULL for a missing age (AACT's gives 'n/a')"),
        Column("number_of_primary_outcomes_to_measure", "INTEGER",
               "The number of planned primary outcomes (NULL: none).",
               "protocolSection.outcomesModule.primaryOutcomes"),
        Column("number_of_secondary_outcomes_to_measure", "INTEGER",
               "The number of planned secondary outcomes (NULL: none).",
               "protocolSection.outcomesModule.secondaryOutcomes"),
        Column("number_of_other_outcomes_to_measure", "INTEGER",
               "The number of planned other outcomes (NULL: none).",
               "protocolSection.outcomesModule.otherOutcomes"),
    ],
    rows=lambda study: [_row(study)],
)  # fmt: skip

TABLES: list[Table] = [CALCULATED_VALUES]
