"""The export tables and analysis views as DuckDB SQL, one definition for the file and README."""

from __future__ import annotations

# The key fields of a version, flattened (trials and versions share them).
KEY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("title", "VARCHAR"),
    ("overall_status", "VARCHAR"),
    ("enrollment_count", "INTEGER"),
    ("enrollment_type", "VARCHAR"),
    ("study_type", "VARCHAR"),
    ("start_date", "DATE"),
    ("start_date_type", "VARCHAR"),
    ("start_date_precision", "VARCHAR"),
    ("primary_completion_date", "DATE"),
    ("primary_completion_date_type", "VARCHAR"),
    ("primary_completion_date_precision", "VARCHAR"),
    ("completion_date", "DATE"),
    ("completion_date_type", "VARCHAR"),
    ("completion_date_precision", "VARCHAR"),
    ("phases", "VARCHAR[]"),
    ("lead_sponsor", "VARCHAR"),
    ("site_count", "INTEGER"),
    ("countries", "VARCHAR[]"),
    ("has_results", "BOOLEAN"),
)

# Table name -> (column, DuckDB type), in column order.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "trials": (
        ("nct_id", "VARCHAR"),
        ("active", "BOOLEAN"),
        ("source", "VARCHAR"),
        ("registry_state", "VARCHAR"),
        ("alias_of", "VARCHAR"),
        ("added_at", "TIMESTAMPTZ"),
        ("last_checked_at", "TIMESTAMPTZ"),
        ("latest_version", "INTEGER"),
        ("last_update_posted", "DATE"),
        *KEY_COLUMNS,
    ),
    "versions": (
        ("nct_id", "VARCHAR"),
        ("version", "INTEGER"),
        ("origin", "VARCHAR"),
        ("registry_version", "INTEGER"),
        ("registry_date", "DATE"),
        ("fetched_at", "TIMESTAMPTZ"),
        ("last_update_posted", "DATE"),
        ("version_date", "DATE"),
        *KEY_COLUMNS,
    ),
    "changes": (
        ("nct_id", "VARCHAR"),
        ("change_id", "BIGINT"),
        ("from_version", "INTEGER"),
        ("to_version", "INTEGER"),
        ("last_update_posted", "DATE"),
        ("category", "VARCHAR"),
        ("path", "VARCHAR"),
        ("old", "JSON"),
        ("new", "JSON"),
        ("summary", "VARCHAR"),
        ("severity", "VARCHAR"),
        ("detail", "JSON"),
        ("event_kind", "VARCHAR"),
        ("event_importance", "VARCHAR"),
        ("detected_at", "TIMESTAMPTZ"),
    ),
    "sites": (
        ("nct_id", "VARCHAR"),
        ("site_key", "VARCHAR"),
        ("site_id", "INTEGER"),
        ("facility", "VARCHAR"),
        ("city", "VARCHAR"),
        ("state", "VARCHAR"),
        ("zip", "VARCHAR"),
        ("country", "VARCHAR"),
        ("status", "VARCHAR"),
        ("valid_from_version", "INTEGER"),
        ("valid_to_version", "INTEGER"),
        ("valid_from", "DATE"),
        ("valid_to", "DATE"),
    ),
    "watch_events": (
        ("event_id", "BIGINT"),
        ("watch", "VARCHAR"),
        ("nct_id", "VARCHAR"),
        ("event", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("summary", "VARCHAR"),
        ("at", "TIMESTAMPTZ"),
        ("run_id", "BIGINT"),
    ),
}


def create_table(name: str, prefix: str = "") -> str:
    cols = ", ".join(f'"{col}" {kind}' for col, kind in TABLES[name])
    return f"CREATE TABLE {prefix}{name} ({cols})"


# The analysis views, over the tables above. A version stands from its version_date until the
# next version's; the latest version's span is open (ended and days are NULL).
VIEWS: dict[str, str] = {
    "status_spans": """
-- Days in each overall status per study (cthist's status lengths): consecutive versions with
-- the same status are one span; a span ends when the next one starts.
CREATE OR REPLACE VIEW status_spans AS
WITH marked AS (
    SELECT nct_id, version, version_date, overall_status,
           CASE WHEN lag(overall_status) OVER (PARTITION BY nct_id ORDER BY version)
                     IS NOT DISTINCT FROM overall_status THEN 0 ELSE 1 END AS starts
    FROM versions
), numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY nct_id ORDER BY version) AS span
    FROM marked
), spans AS (
    SELECT nct_id, span,
           arg_min(overall_status, version) AS overall_status,
           min(version) AS from_version,
           max(version) AS to_version,
           arg_min(version_date, version) AS started
    FROM numbered
    GROUP BY nct_id, span
), ended AS (
    SELECT *, lead(started) OVER (PARTITION BY nct_id ORDER BY span) AS ended FROM spans
)
SELECT nct_id, overall_status, from_version, to_version, started, ended,
       CAST(ended - started AS INTEGER) AS days
FROM ended
""",
    "completion_slips": """
-- Each version's primary completion date against the first one known, in days.
CREATE OR REPLACE VIEW completion_slips AS
SELECT nct_id, version, version_date, primary_completion_date, primary_completion_date_type,
       first_value(primary_completion_date IGNORE NULLS) OVER whole
           AS first_primary_completion_date,
       CAST(primary_completion_date
            - first_value(primary_completion_date IGNORE NULLS) OVER whole AS INTEGER)
           AS slip_days
FROM versions
WINDOW whole AS (PARTITION BY nct_id ORDER BY version
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
""",
    "enrollment_drift": """
-- First against latest target enrollment (ESTIMATED) and the actual count when there is one.
CREATE OR REPLACE VIEW enrollment_drift AS
SELECT nct_id,
       arg_min(enrollment_count, version)
           FILTER (WHERE enrollment_type = 'ESTIMATED' AND enrollment_count IS NOT NULL)
           AS first_target,
       arg_max(enrollment_count, version)
           FILTER (WHERE enrollment_type = 'ESTIMATED' AND enrollment_count IS NOT NULL)
           AS latest_target,
       arg_max(enrollment_count, version)
           FILTER (WHERE enrollment_type = 'ACTUAL' AND enrollment_count IS NOT NULL) AS actual,
       latest_target - first_target AS target_change,
       round(actual / nullif(first_target, 0), 3) AS actual_share_of_first_target,
       max(version) AS latest_version
FROM versions
GROUP BY nct_id
""",
    "sites_by_country": """
-- Sites per study, version and country, and how many of them are recruiting.
CREATE OR REPLACE VIEW sites_by_country AS
SELECT v.nct_id, v.version, v.version_date, s.country,
       count(*) AS sites,
       count(*) FILTER (WHERE s.status = 'RECRUITING') AS recruiting
FROM versions v
JOIN sites s
  ON s.nct_id = v.nct_id
 AND v.version BETWEEN s.valid_from_version AND coalesce(s.valid_to_version, v.version)
GROUP BY ALL
""",
}


def views_sql() -> str:
    """Every view, as the README prints it for Parquet users (the file runs the same text)."""
    return "\n".join(sql.strip() + ";\n" for sql in VIEWS.values())
