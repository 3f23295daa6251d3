"""The data dictionary as a page of the docs (docs/reference/aact.md), from the same source
as the DuckDB comments: the tables' and columns' own descriptions. Pure.

Regenerate: python -m sync.aact.dictionary > docs/reference/aact.md
"""

from __future__ import annotations

from sync.aact.analysis import AS_OF_DAY, VIEWS
from sync.aact.catalog import TABLES
from sync.aact.sql import SCHEMA, VIEW_SCHEMAS
from sync.aact.table import all_columns

INTRO = f"""# AACT tables: data dictionary

`trialwatch export FILE.duckdb --format aact` writes every stored version of every study as
[AACT](https://aact.ctti-clinicaltrials.org/)'s tables (CTTI's relational form of
ClinicalTrials.gov), from API v2 records as AACT's loader maps them
(ctti-clinicaltrials/aact, `app/models/*.rb`).

- `{SCHEMA}.TABLE`: AACT's columns and, on every row, the span of versions it holds for:
  `valid_from_version`, `valid_to_version` (NULL while current), `valid_from`, `valid_to`
  (the days those versions took effect; `valid_to` is the first day without the row). A row
  unchanged by a version is not repeated.
- {" and ".join(f"`{s}.TABLE`" for s in VIEW_SCHEMAS)}: the current state under AACT's plain
  names, so that a query written for AACT (`FROM studies` or `FROM ctgov.studies`) runs
  unchanged.
- `aact_as_of('TABLE', 'YYYY-MM-DD')`: the rows of a table on that day
  (`SELECT * FROM aact_as_of('facilities', '2025-06-30') WHERE country = 'China'`).
- `as_of.TABLE`: the state on the day `SET VARIABLE aact_day = DATE 'YYYY-MM-DD'` names;
  after `SET schema = 'as_of'` a query written for AACT (`FROM studies`) runs unchanged on
  that day.
- On PostgreSQL the same tables live in the database itself (schemas `{SCHEMA}`, `ctgov` and
  `as_of`, with these descriptions as `COMMENT ON`), refreshed after every sync when
  `[aact] live = true`: see [PostgreSQL](../how-to/postgresql.md#aacts-tables-in-the-live-database).
- Into a folder, `--format aact` writes one Parquet file per `{SCHEMA}` table (this
  dictionary in each file's key-value metadata: `trialwatch:table`, `trialwatch:columns`,
  `trialwatch:types`), and `--format aact-txt` pipe-delimited `TABLE.txt` files (a header
  line, empty = NULL) with `schema.sql`, the tables' DDL and comments, and `schema.csv`,
  each column's type and R class (`table,column,type,r_class`, for `data.table::fread`'s
  `colClasses`). The current state of a table there is its rows with an empty
  `valid_to_version`.

Values keep AACT's forms: API v2 codes unchanged (`RECRUITING`, `INTERVENTIONAL`, `DRUG`),
`studies.phase` the phases joined with `/` (`PHASE1/PHASE2`), a month-only date as the last
day of its month with the registry's string in `…_month_year` and ACTUAL / ESTIMATED in
`…_date_type`, ages as text (`18 Years`, `N/A`) with their numbers in `calculated_values`,
AACT's own constants in lower case (`lead` / `collaborator`, `primary` / `backup`,
`mesh-list` / `mesh-ancestor`). Queries written before 2024 use the old display strings
(`'Recruiting'`, `'Phase 1'`) and match nothing here, as on today's AACT.

`id` columns are this export's own: a row keeps its id while it holds (a study's ids are its
trial's id times 10⁹ plus a count, the same in a whole export and one updated with `--since`);
a row that refers to another (`facility_id`, `intervention_id`, `design_group_id`) refers to the
row in force in the same version, so a change to the referenced row starts a new span of the
referring one.
"""

ANALYSIS = f"""
## Analysis views

Views of the DuckDB file (in `main`, beside the current-state views), over the
`{SCHEMA}` tables: how each study's status, dates, enrollment and sites moved across its
stored versions. A study's first stored version is trialwatch's first poll of it (or the
first version of a backfilled history): what happened before is not in the tables, so the
first status span starts there (`starts_at_first_version`), not when the status began. The
current status span is closed by the export's as-of day, the day (UTC) the file was last
written: `{AS_OF_DAY}`. Slips are in days always; a date of month or year precision counts
as AACT stores it (the last day of its month or year), its precision beside it.
"""


def render() -> str:
    out = [INTRO]
    for table in TABLES.values():
        out.append(f"\n## `{table.name}`\n\n{table.about}\n")
        out.append("| column | type | what | from (API v2) | departs from AACT |")
        out.append("|---|---|---|---|---|")
        for c in all_columns(table):
            source = f"`{c.source}`" if c.source else ""
            about = c.about.replace("|", "\\|")
            out.append(f"| `{c.name}` | {c.type} | {about} | {source} | {c.aact} |")
    out.append(ANALYSIS)
    for view in VIEWS.values():
        out.append(f"\n### `{view.name}`\n\n{view.about}\n")
        out.append("| column | type | what |")
        out.append("|---|---|---|")
        for c in view.columns:
            about = c.about.replace("|", "\\|")
            out.append(f"| `{c.name}` | {c.type} | {about} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
