"""The analysis views of an AACT export (status spans, date slips, enrollment drift, sites over
time), defined over the versioned tables, with the dictionary's description of every column.
DuckDB SQL. Pure: strings only.

The current status span is closed by the export's as-of day: the day (UTC) the file was last
written (`trialwatch_export.updated_at`), named `ended_or_as_of` and flagged `is_current`; the
first span of a study starts at trialwatch's first stored version of it
(`starts_at_first_version`), not necessarily when the registry's status began.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.aact.sql import SCHEMA, quote
from sync.aact.table import Column, col

H = SCHEMA  # the versioned tables
MARKER_TABLE = "trialwatch_export"  # the export marker (sync.report.export_target)

# The export's as-of day: when the file was last written, in UTC.
AS_OF_DAY = f"(SELECT CAST(timezone('UTC', max(updated_at)) AS DATE) FROM main.{MARKER_TABLE})"


@dataclass(frozen=True)
class View:
    name: str
    about: str
    columns: tuple[Column, ...]
    select: str  # the query, its columns in `columns` order

    def create(self) -> str:
        return f"CREATE OR REPLACE VIEW main.{self.name} AS\n{self.select.strip()}"

    def comments(self) -> list[str]:
        out = [f"COMMENT ON VIEW main.{self.name} IS {quote(self.about)}"]
        for c in self.columns:
            out.append(f"COMMENT ON COLUMN main.{self.name}.{c.name} IS {quote(c.about)}")
        return out


def _precision(month_year: str) -> str:
    return (
        f"CASE length({month_year}) WHEN 10 THEN 'day' WHEN 7 THEN 'month' WHEN 4 THEN 'year' END"
    )


NCT = col("nct_id", "VARCHAR", "The study's ClinicalTrials.gov identifier.")

STATUS_SPANS = View(
    "status_spans",
    "Each study's overall status over its stored versions: one row per span of consecutive "
    f"versions with the same status (from {H}.studies).",
    (
        NCT,
        col("span", "INTEGER", "The span's number within the study, from 1."),
        col("overall_status", "VARCHAR", "The overall status (API v2 code) the span holds."),
        col("from_version", "INTEGER", "The first stored version with this status."),
        col(
            "to_version",
            "INTEGER",
            "The last stored version with this status; NULL while the current version has it.",
        ),
        col("started", "DATE", "The day from_version took effect."),
        col(
            "ended",
            "DATE",
            "The day the next status took effect (exclusive); NULL for the current span.",
        ),
        col(
            "ended_or_as_of",
            "DATE",
            "The span's closing bound: ended, or for the current span the export's as-of day "
            "(the day, UTC, the file was last written).",
        ),
        col(
            "is_current",
            "BOOLEAN",
            "The span holds at the latest stored version (ended is NULL; ended_or_as_of is "
            "the export's as-of day).",
        ),
        col("days", "INTEGER", "ended_or_as_of - started, in days."),
        col(
            "starts_at_first_version",
            "BOOLEAN",
            "The study's first span: it starts at trialwatch's first stored version of the "
            "study (first poll or the first version of a backfilled history), not necessarily "
            "when the status began.",
        ),
    ),  # fmt: skip
    f"""
WITH marked AS (
    SELECT nct_id, overall_status, valid_from_version, valid_to_version, valid_from, valid_to,
           CASE WHEN row_number() OVER w = 1 THEN 1
                WHEN lag(overall_status) OVER w IS NOT DISTINCT FROM overall_status THEN 0
                ELSE 1 END AS starts
    FROM {H}.studies
    WINDOW w AS (PARTITION BY nct_id ORDER BY valid_from_version)
), numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY nct_id ORDER BY valid_from_version) AS span
    FROM marked
), spans AS (
    SELECT nct_id, CAST(span AS INTEGER) AS span,
           min(overall_status) AS overall_status,
           min(valid_from_version) AS from_version,
           CASE WHEN count(*) = count(valid_to_version) THEN max(valid_to_version) END
               AS to_version,
           min(valid_from) AS started,
           CASE WHEN count(*) = count(valid_to) THEN max(valid_to) END AS ended
    FROM numbered
    GROUP BY nct_id, span
)
SELECT nct_id, span, overall_status, from_version, to_version, started, ended,
       coalesce(ended, {AS_OF_DAY}) AS ended_or_as_of,
       to_version IS NULL AS is_current,
       CAST(coalesce(ended, {AS_OF_DAY}) - started AS INTEGER) AS days,
       span = 1 AS starts_at_first_version
FROM spans
""",
)

_MILESTONES = ("start", "primary_completion", "completion")

DATE_SLIPS = View(
    "date_slips",
    "Each study's start, primary completion and completion dates over its stored versions: "
    "one row per milestone and run of versions with the same date (as the registry wrote it) "
    f"and type, with the slip in days against the first date known (from {H}.studies).",
    (
        NCT,
        col("milestone", "VARCHAR", "start, primary_completion or completion."),
        col("from_version", "INTEGER", "The first stored version with this date and type."),
        col(
            "to_version",
            "INTEGER",
            "The last stored version with this date and type; NULL while current.",
        ),
        col("valid_from", "DATE", "The day from_version took effect."),
        col(
            "valid_to",
            "DATE",
            "The day the next date or type took effect (exclusive); NULL while current.",
        ),
        col(
            "date",
            "DATE",
            "The milestone's date as AACT stores it (a month-only date the last day of its "
            "month, a year 31 December).",
        ),
        col("month_year", "VARCHAR", "The date as the registry wrote it."),
        col("date_precision", "VARCHAR", "day, month or year: how precise month_year is."),
        col("date_type", "VARCHAR", "ACTUAL or ESTIMATED."),
        col("first_date", "DATE", "The first date of this milestone trialwatch stored."),
        col("first_month_year", "VARCHAR", "first_date as the registry wrote it."),
        col("first_date_precision", "VARCHAR", "day, month or year: how precise first_date is."),
        col(
            "slip_days",
            "INTEGER",
            "date - first_date, in days always (dates of month or year precision compared "
            "as AACT stores them); positive = later.",
        ),
        col("previous_date", "DATE", "The date of the run before; NULL for the first."),
        col(
            "slip_days_from_previous",
            "INTEGER",
            "date - previous_date, in days; NULL for the first run.",
        ),
        col("is_current", "BOOLEAN", "The run holds at the latest stored version."),
    ),  # fmt: skip
    """
WITH dates AS (
"""
    + "\n    UNION ALL\n".join(
        f"    SELECT nct_id, '{m}' AS milestone, {m}_date AS day, {m}_month_year AS month_year,\n"
        f"           {m}_date_type AS date_type, valid_from_version, valid_to_version,\n"
        f"           valid_from, valid_to\n"
        f"    FROM {H}.studies"
        for m in _MILESTONES
    )
    + f"""
), marked AS (
    SELECT *,
           CASE WHEN row_number() OVER w = 1 THEN 1
                WHEN lag(month_year) OVER w IS NOT DISTINCT FROM month_year
                 AND lag(date_type) OVER w IS NOT DISTINCT FROM date_type THEN 0
                ELSE 1 END AS starts
    FROM dates
    WINDOW w AS (PARTITION BY nct_id, milestone ORDER BY valid_from_version)
), numbered AS (
    SELECT *,
           sum(starts) OVER (PARTITION BY nct_id, milestone ORDER BY valid_from_version) AS run
    FROM marked
), runs AS (
    SELECT nct_id, milestone, run,
           min(valid_from_version) AS from_version,
           CASE WHEN count(*) = count(valid_to_version) THEN max(valid_to_version) END
               AS to_version,
           min(valid_from) AS valid_from,
           CASE WHEN count(*) = count(valid_to) THEN max(valid_to) END AS valid_to,
           min(day) AS day, min(month_year) AS month_year, min(date_type) AS date_type
    FROM numbered
    GROUP BY nct_id, milestone, run
    HAVING min(day) IS NOT NULL
)
SELECT nct_id, milestone, from_version, to_version, valid_from, valid_to,
       day AS date, month_year, {_precision("month_year")} AS date_precision, date_type,
       first_value(day) OVER whole AS first_date,
       first_value(month_year) OVER whole AS first_month_year,
       {_precision("first_value(month_year) OVER whole")} AS first_date_precision,
       CAST(day - first_value(day) OVER whole AS INTEGER) AS slip_days,
       lag(day) OVER ordered AS previous_date,
       CAST(day - lag(day) OVER ordered AS INTEGER) AS slip_days_from_previous,
       to_version IS NULL AS is_current
FROM runs
WINDOW ordered AS (PARTITION BY nct_id, milestone ORDER BY from_version),
       whole AS (PARTITION BY nct_id, milestone ORDER BY from_version
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
""",
)

ENROLLMENT_DRIFT = View(
    "enrollment_drift",
    "Each study's enrollment over its stored versions: the first and latest target "
    f"(ESTIMATED) and the actual count when there is one (from {H}.studies).",
    (
        NCT,
        col("first_target", "INTEGER", "The first ESTIMATED enrollment trialwatch stored."),
        col("first_target_version", "INTEGER", "The first stored version with first_target."),
        col("first_target_from", "DATE", "The day first_target_version took effect."),
        col("latest_target", "INTEGER", "The latest ESTIMATED enrollment stored."),
        col("target_change", "INTEGER", "latest_target - first_target."),
        col(
            "target_values",
            "INTEGER",
            "How many different ESTIMATED enrollments the study's versions gave.",
        ),
        col("actual", "INTEGER", "The latest ACTUAL enrollment; NULL if none was given."),
        col(
            "actual_share_of_first_target",
            "DOUBLE",
            "actual / first_target, rounded to 3 decimals.",
        ),
        col("enrollment", "INTEGER", "The enrollment at the latest stored version."),
        col("enrollment_type", "VARCHAR", "ACTUAL or ESTIMATED, at the latest stored version."),
    ),  # fmt: skip
    f"""
WITH targets AS (
    SELECT nct_id,
           CAST(arg_min(enrollment, valid_from_version) AS INTEGER) AS first_target,
           CAST(min(valid_from_version) AS INTEGER) AS first_target_version,
           min(valid_from) AS first_target_from,
           CAST(arg_max(enrollment, valid_from_version) AS INTEGER) AS latest_target,
           CAST(count(DISTINCT enrollment) AS INTEGER) AS target_values
    FROM {H}.studies
    WHERE enrollment_type = 'ESTIMATED' AND enrollment IS NOT NULL
    GROUP BY nct_id
), actuals AS (
    SELECT nct_id, CAST(arg_max(enrollment, valid_from_version) AS INTEGER) AS actual
    FROM {H}.studies
    WHERE enrollment_type = 'ACTUAL' AND enrollment IS NOT NULL
    GROUP BY nct_id
)
SELECT c.nct_id, t.first_target, t.first_target_version, t.first_target_from,
       t.latest_target, t.latest_target - t.first_target AS target_change, t.target_values,
       a.actual, round(a.actual / nullif(t.first_target, 0), 3) AS actual_share_of_first_target,
       CAST(c.enrollment AS INTEGER) AS enrollment, c.enrollment_type
FROM {H}.studies c
LEFT JOIN targets t USING (nct_id)
LEFT JOIN actuals a USING (nct_id)
WHERE c.valid_to_version IS NULL
""",
)

SITES_OVER_TIME = View(
    "sites_over_time",
    "Each study's sites (facilities) over its stored versions: one row from its first stored "
    "version and one from each version that changed its facilities, holding until the next "
    f"(from {H}.facilities).",
    (
        NCT,
        col("from_version", "INTEGER", "The stored version from which these counts hold."),
        col(
            "to_version",
            "INTEGER",
            "The last stored version with these facilities; NULL while current.",
        ),
        col("valid_from", "DATE", "The day from_version took effect."),
        col(
            "valid_to",
            "DATE",
            "The day the next change of the facilities took effect (exclusive); NULL while "
            "current.",
        ),
        col("facilities", "INTEGER", "The study's facilities (rows of facilities) then."),
        col("recruiting", "INTEGER", "Of them, those with status RECRUITING."),
        col("countries", "INTEGER", "The distinct countries of those facilities."),
        col(
            "facilities_change",
            "INTEGER",
            "facilities - the row before's facilities; NULL for the first row.",
        ),
    ),  # fmt: skip
    f"""
WITH points AS (
    SELECT nct_id, valid_from_version AS version, valid_from AS day
    FROM (SELECT *, row_number() OVER (PARTITION BY nct_id ORDER BY valid_from_version) AS n
          FROM {H}.studies)
    WHERE n = 1
    UNION ALL
    SELECT nct_id, valid_from_version, valid_from FROM {H}.facilities
    UNION ALL
    SELECT nct_id, valid_to_version + 1, valid_to FROM {H}.facilities
    WHERE valid_to_version IS NOT NULL
), changes AS (
    SELECT nct_id, version, min(day) AS day FROM points GROUP BY nct_id, version
), counted AS (
    SELECT c.nct_id, c.version, c.day,
           CAST(count(f.nct_id) AS INTEGER) AS facilities,
           CAST(count(f.nct_id) FILTER (WHERE f.status = 'RECRUITING') AS INTEGER) AS recruiting,
           CAST(count(DISTINCT f.country) AS INTEGER) AS countries
    FROM changes c
    LEFT JOIN {H}.facilities f
      ON f.nct_id = c.nct_id AND f.valid_from_version <= c.version
     AND (f.valid_to_version IS NULL OR f.valid_to_version >= c.version)
    GROUP BY c.nct_id, c.version, c.day
)
SELECT nct_id, version AS from_version,
       CAST(lead(version) OVER w - 1 AS INTEGER) AS to_version,
       day AS valid_from, lead(day) OVER w AS valid_to,
       facilities, recruiting, countries,
       facilities - lag(facilities) OVER w AS facilities_change
FROM counted
WINDOW w AS (PARTITION BY nct_id ORDER BY version)
""",
)

VIEWS: dict[str, View] = {
    v.name: v for v in (STATUS_SPANS, DATE_SLIPS, ENROLLMENT_DRIFT, SITES_OVER_TIME)
}


def views_sql() -> list[str]:
    """Every analysis view and its comments (after the export marker: the as-of day)."""
    out = [v.create() for v in VIEWS.values()]
    for v in VIEWS.values():
        out.extend(v.comments())
    return out
