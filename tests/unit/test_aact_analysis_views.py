"""The analysis views of an AACT file: each column the SQL gives is one the dictionary
describes, in order and of the type it says (an undescribed or retyped column fails)."""

from __future__ import annotations

import duckdb

from sync.aact import analysis, sql
from sync.report.export_target import MARKER_SQL, MARKER_TABLE


def test_every_view_column_is_described_with_its_type() -> None:
    assert analysis.MARKER_TABLE == MARKER_TABLE
    con = duckdb.connect()
    for statement in [*sql.schema_sql(), MARKER_SQL, *analysis.views_sql()]:
        con.execute(statement)
    for name, view in analysis.VIEWS.items():
        got = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [name],
        ).fetchall()
        assert [(c, t) for c, t, _ in got] == [(c.name, c.type) for c in view.columns], name
        assert all(text for _, _, text in got), name
    con.close()
