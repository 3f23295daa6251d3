"""AACT's tables (CTTI's relational form of ClinicalTrials.gov), with every stored version.

One module per AACT area maps an API v2 record to its tables' rows (pure: protocol,
conditions, arms, locations, parties, references, calculated), `catalog` lists them, `spans`
turns a study's versions into rows with the span of versions each holds for, `sql` is the
DuckDB schema, views, macro and comments, `export` writes the file (`export --format aact`).
"""
