"""Parquet files of long texts within the export's DuckDB memory limit.

DuckDB's Parquet writer holds a whole row group uncompressed before writing it (122,880 rows
unless told); with AACT's long texts that is hundreds of MB, far past the export's limit, and
10,000 studies x 10 versions into AACT Parquet ended in an "Out of Memory Error"."""

from __future__ import annotations

from pathlib import Path

from sync.report import export

ROWS = 200_000
TEXT = 1_920  # 60 MD5 digests: 380 MB of text in all, 12 times the export's memory limit


def test_long_texts_are_written_to_parquet_within_the_memory_limit(tmp_path: Path) -> None:
    con = export.connect(tmp_path / "scratch.duckdb", tmp_path / "spill")
    try:
        before = con.execute("SELECT current_setting('memory_limit')").fetchone()
        con.execute(
            "CREATE TABLE texts AS SELECT i AS id, repeat(md5(i::VARCHAR), 60) AS text "
            f"FROM range({ROWS}) AS r(i)"
        )
        out = tmp_path / "texts.parquet"
        export.copy_parquet(con, "texts", "'" + str(out) + "'")
        read = con.execute(
            "SELECT count(*), count(DISTINCT id), sum(length(text)) FROM read_parquet(?)",
            [str(out)],
        ).fetchone()
        assert read == (ROWS, ROWS, ROWS * TEXT)
        # Cut by size: many row groups, none near the default's 122,880 rows.
        groups = con.execute(
            "SELECT count(DISTINCT row_group_id), max(row_group_num_rows) "
            "FROM parquet_metadata(?)",
            [str(out)],
        ).fetchone()
        assert groups is not None and groups[0] > 10 and groups[1] < 20_000, groups
        # The export's own limit is back for what comes after the COPY.
        after = con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert after == before
    finally:
        con.close()
