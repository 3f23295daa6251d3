"""Queries published against AACT, kept as their authors wrote them (only the layout of the
text may differ), with where each was found; and their answers computed from raw JSON."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sync.aact.forms import aact_date

# rpubs.com: "What is AACT?" analysis, https://rstudio-pubs-static.s3.amazonaws.com/
# 1374742_7f768c9e68904562ac43a78bd77c972b.html, section 3 (studies) and 4 (sponsors).
PHASE2_STUDIES = """
SELECT
    nct_id,
    brief_title,
    overall_status,
    phase,
    enrollment,
    start_date,
    completion_date,
    number_of_arms,
    study_type
FROM studies
WHERE
    (phase = 'PHASE2' OR phase = 'PHASE1/PHASE2' OR phase = 'PHASE2/PHASE3')
    AND study_type = 'INTERVENTIONAL'
    AND start_date >= '2019-03-01'
    AND start_date <= '2024-12-31'
"""

LEAD_SPONSORS = """
SELECT
    nct_id,
    agency_class,
    lead_or_collaborator
FROM sponsors
WHERE lead_or_collaborator = 'lead'
"""

# GitHub sanasyn/dbQueries, sql/aact_master.sql (first query): written for AACT before 2024,
# with the old display strings; on today's AACT, as here, it matches nothing.
ALZHEIMER_RECRUITING_OLD = """
select
	c.nct_id,
	c.name as condition_name,
	e.gender,
	e.minimum_age,
	e.maximum_age,
	e.healthy_volunteers,
	e.criteria,
	f.status,
	f.name as facility_name,
	f.city,
	f.state,
	f.zip,
	f.country,
	s.brief_title,
	s.official_title,
	sum.description
from conditions c
left join eligibilities e on c.nct_id = e.nct_id
left join facilities f on e.nct_id = f.nct_id
left join studies s on f.nct_id = s.nct_id
left join brief_summaries sum on s.nct_id = sum.nct_id
where c.name like 'Alz%' and (s.overall_status = 'Recruiting' and f.status = 'Recruiting');
"""  # noqa: W191, E101

# A public GitHub SQL file found with the library's find_string (file id 41477969899; its
# repository is not named by the index): the investigators of each site.
SITE_INVESTIGATORS = """
select
	b.name as full_name,
	a.city as city,
	a.state as state,
	a.zip as postal_code,
	a.country as country,
	a.nct_id
from
	ctgov.facilities a
inner join
	ctgov.facility_investigators b
		on a.id = b.facility_id;
"""  # noqa: W191, E101

# A public GitHub SQL file of industry trial analyses (library file id 67157463449, "Query 5:
# Site and geographic footprint by development phase"; its repository is not named by the
# index).
SITE_FOOTPRINT_BY_PHASE = """
WITH trial_core AS (
    SELECT
        s.nct_id,
        COALESCE(s.phase, 'NOT_REPORTED') AS phase
    FROM ctgov.studies AS s
    WHERE s.study_type = 'INTERVENTIONAL'
        AND s.start_date >= DATE '2015-01-01'
        AND s.start_date < DATE '2026-01-01'
        AND EXISTS (
            SELECT 1
            FROM ctgov.sponsors AS sp
            WHERE sp.nct_id = s.nct_id
                AND sp.lead_or_collaborator = 'lead'
                AND sp.agency_class = 'INDUSTRY'
        )
        AND EXISTS (
            SELECT 1
            FROM ctgov.interventions AS i
            WHERE i.nct_id = s.nct_id
                AND i.intervention_type IN ('DRUG', 'BIOLOGICAL')
        )
),
facility_summary AS (
    SELECT
        f.nct_id,
        COUNT(DISTINCT f.id) AS site_count,
        COUNT(DISTINCT f.country)
            FILTER (WHERE f.country IS NOT NULL) AS site_country_count
    FROM ctgov.facilities AS f
    GROUP BY f.nct_id
),
trial_footprint AS (
    SELECT
        tc.nct_id,
        tc.phase,
        fs.site_count,
        fs.site_country_count
    FROM trial_core AS tc
    LEFT JOIN facility_summary AS fs
        ON tc.nct_id = fs.nct_id
)
SELECT
    phase,
    COUNT(*) AS total_trials,
    COUNT(site_count) AS trials_with_site_data,
    ROUND(
        100.0 * COUNT(site_count)
        / NULLIF(COUNT(*), 0),
        1
    ) AS site_data_coverage_pct,
    ROUND(
        PERCENTILE_CONT(0.50)
        WITHIN GROUP (ORDER BY site_count)
        FILTER (WHERE site_count IS NOT NULL)::NUMERIC,
        0
    ) AS median_site_count,
    ROUND(
        PERCENTILE_CONT(0.75)
        WITHIN GROUP (ORDER BY site_count)
        FILTER (WHERE site_count IS NOT NULL)::NUMERIC,
        0
    ) AS p75_site_count,
    ROUND(
        PERCENTILE_CONT(0.50)
        WITHIN GROUP (ORDER BY site_country_count)
        FILTER (WHERE site_country_count IS NOT NULL)::NUMERIC,
        0
    ) AS median_country_count,
    ROUND(
        PERCENTILE_CONT(0.75)
        WITHIN GROUP (ORDER BY site_country_count)
        FILTER (WHERE site_country_count IS NOT NULL)::NUMERIC,
        0
    ) AS p75_country_count
FROM trial_footprint
GROUP BY phase
ORDER BY median_site_count DESC NULLS LAST;
"""

# -- the answers from the raw JSON ---------------------------------------------------------------


def _ps(study: dict[str, Any]) -> dict[str, Any]:
    ps: dict[str, Any] = study["protocolSection"]
    return ps


def _phase(study: dict[str, Any]) -> str | None:
    phases = _ps(study).get("designModule", {}).get("phases")
    return "/".join(phases) if phases else None


def _start(study: dict[str, Any]) -> date | None:
    return aact_date(_ps(study)["statusModule"].get("startDateStruct", {}).get("date"))


def phase2_studies(current: dict[str, dict[str, Any]]) -> set[str]:
    return {
        nct
        for nct, s in current.items()
        if _phase(s) in ("PHASE2", "PHASE1/PHASE2", "PHASE2/PHASE3")
        and _ps(s)["designModule"].get("studyType") == "INTERVENTIONAL"
        and (start := _start(s)) is not None
        and date(2019, 3, 1) <= start <= date(2024, 12, 31)
    }


def lead_sponsors(current: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (nct, lead.get("class"))
        for nct, s in current.items()
        if (lead := _ps(s).get("sponsorCollaboratorsModule", {}).get("leadSponsor"))
    }


def site_investigators(current: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (c.get("name"), loc.get("city"), loc.get("state"), loc.get("zip"), loc.get("country"), nct)
        for nct, s in current.items()
        for loc in _ps(s).get("contactsLocationsModule", {}).get("locations", [])
        for c in loc.get("contacts", [])
        if any(w in (c.get("role") or "") for w in ("INVESTIGATOR", "STUDY_CHAIR"))
    )


def _round(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def site_footprint(current: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """phase -> (total trials, trials with sites, median site count)."""
    by_phase: dict[str, list[int | None]] = defaultdict(list)
    for s in current.values():
        ps = _ps(s)
        start = _start(s)
        lead = ps.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {})
        arms = ps.get("armsInterventionsModule", {})
        kinds = {i.get("type") for i in arms.get("interventions", [])}
        if (
            ps["designModule"].get("studyType") == "INTERVENTIONAL"
            and start is not None
            and date(2015, 1, 1) <= start < date(2026, 1, 1)
            and lead.get("class") == "INDUSTRY"
            and kinds & {"DRUG", "BIOLOGICAL"}
        ):
            sites = ps.get("contactsLocationsModule", {}).get("locations", [])
            by_phase[_phase(s) or "NOT_REPORTED"].append(len(sites) or None)
    out = {}
    for phase, counts in by_phase.items():
        known = [c for c in counts if c is not None]
        median = _round(statistics.median(known)) if known else None
        out[phase] = (len(counts), len(known), median)
    return out
