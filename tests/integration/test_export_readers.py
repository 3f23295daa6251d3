"""The reading recipes of docs/how-to/exports.md, run as written on a real export: pandas and
Polars on the Parquet files, R's data.table on the CSV files and the AACT flat files; and every
table read with pandas, Polars and DuckDB, each column of the type the export declares."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from sync.report.export import SCHEMA_CSV
from sync.report.export_sql import TABLES
from tests.integration.test_export_defects import sync_captures
from tests.support import PROJECT_ROOT

STUDIES = ("NCT04514484", "NCT05414032", "NCT06821503", "NCT04736173")


def _recipes() -> dict[str, list[str]]:
    page = (PROJECT_ROOT / "docs" / "how-to" / "exports.md").read_text(encoding="utf-8")
    section = page[page.index("Reading the files.") :]
    found: dict[str, list[str]] = {"python": [], "r": []}
    for m in re.finditer(r"^```(python|r)\n(.*?)^```$", section, re.DOTALL | re.MULTILINE):
        found[m[1]].append(m[2])
    return found


@pytest.fixture
def exported(cli, fake_ctgov, tmp_path):  # type: ignore[no-untyped-def]
    sync_captures(cli, fake_ctgov, *STUDIES)
    for args in (
        ("file.duckdb",),
        ("parquet",),
        ("csv", "--format", "csv"),
        ("aact-flat", "--format", "aact-txt"),
    ):
        r = cli("export", str(tmp_path / args[0]), *args[1:])
        assert r.exit_code == 0, r.stderr
    return tmp_path


def test_every_table_reads_typed_with_pandas_polars_and_duckdb(exported: Path) -> None:
    import pandas as pd
    import polars as pl

    con = duckdb.connect(str(exported / "file.duckdb"), read_only=True)
    ints = {"INTEGER", "BIGINT"}
    for name, columns in TABLES.items():
        path = exported / "parquet" / f"{name}.parquet"
        want = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        frame = pd.read_parquet(path, dtype_backend="pyarrow")
        polars = pl.read_parquet(path)
        assert len(frame) == len(polars) == want, name
        for column, kind in columns:
            dtype = str(frame[column].dtype)
            if kind in ints:
                assert dtype.startswith("int"), (name, column, dtype)
            if kind == "DATE":
                assert dtype.startswith("date32"), (name, column, dtype)
            if kind == "JSON":
                assert polars[column].dtype == pl.String, (name, column, polars[column].dtype)
        # CSV, read by DuckDB with the schema file's types: the same rows as the file.
        schema = {
            r[0]: r[1]
            for r in duckdb.execute(
                f"SELECT \"column\", type FROM read_csv('{exported / 'csv' / SCHEMA_CSV}') "
                'WHERE "table" = ?',
                [name],
            ).fetchall()
        }
        assert list(schema) == [c for c, _ in columns]
        types = {c: ("VARCHAR" if k.endswith("[]") else k) for c, k in schema.items()}
        csv = exported / "csv" / f"{name}.csv"
        got = duckdb.execute(
            f"SELECT * FROM read_csv('{csv}', header=true, columns={types!r})"
        ).fetchall()
        cols = ", ".join(
            f'CAST(to_json("{c}") AS VARCHAR)' if k.endswith("[]") else f'"{c}"' for c, k in columns
        )
        assert sorted(got, key=repr) == sorted(
            con.execute(f"SELECT {cols} FROM {name}").fetchall(), key=repr
        ), name
    # Lists in CSV are JSON arrays, never DuckDB's [A, B].
    phases = duckdb.execute(
        f"SELECT phases FROM read_csv('{exported / 'csv' / 'versions.csv'}', all_varchar=true) "
        "WHERE phases IS NOT NULL"
    ).fetchall()
    assert phases and all(isinstance(json.loads(p), list) for (p,) in phases)
    # A column empty in every row keeps its type: polled versions have no registry_version.
    assert con.execute("SELECT count(registry_version) FROM versions").fetchone()[0] == 0
    con.close()


def test_the_python_recipes_run_as_written(exported: Path) -> None:
    pandas_recipe, polars_recipe = _recipes()["python"]
    checks = {
        pandas_recipe: "assert str(versions['enrollment_count'].dtype).startswith('int')\n"
        "assert str(versions['start_date'].dtype).startswith('date32')\n"
        "assert any('slip' in d for d in details)\n",
        polars_recipe: "assert changes['slip_days'].drop_nulls().len() > 0\n"
        "assert versions['version_date'].dtype == pl.Date\n",
    }
    folder = exported / "py"
    folder.mkdir()
    (folder / "exports").symlink_to(exported / "parquet")
    for code, check in checks.items():
        r = subprocess.run(
            [sys.executable, "-c", code + check],
            cwd=folder,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert r.returncode == 0, r.stderr


def _rscript() -> str:
    found = shutil.which("Rscript")
    assert found, "Rscript is missing: .ci/prereqs installs r-base-core and r-cran-data.table"
    return found


def test_the_r_recipe_reads_the_csv_and_the_flat_files(exported: Path) -> None:
    (recipe,) = _recipes()["r"]
    folder = exported / "r"
    folder.mkdir()
    (folder / "exports").symlink_to(exported / "csv")
    (folder / "aact-flat").symlink_to(exported / "aact-flat")
    script = recipe + (
        'for (name in unique(schema$table)) cat(name, nrow(read_export(name)), "\\n")\n'
        'cat("types", class(versions$version_date), class(versions$enrollment_count),'
        ' class(versions$registry_version), "\\n")\n'
        "d <- changes$detail[!is.na(changes$detail)]\n"
        'ok <- startsWith(d, "{") & !grepl("\\"\\"", d, fixed = TRUE)\n'
        'cat("json", sum(ok), length(d), "\\n")\n'
        'for (f in list.files("aact-flat", pattern = "[.]txt$")) '
        'cat("aact", sub("[.]txt$", "", f), nrow(fread(file.path("aact-flat", f), sep = "|",'
        ' na.strings = "")), "\\n")\n'
        # Every AACT table read with schema.csv's classes: per column its class, NAs, and a
        # checksum of its values (characters, sum, trues, latest date).
        "for (name in unique(aact_schema$table)) { dt <- read_aact(name); "
        "for (c in names(dt)) { v <- dt[[c]]; k <- class(v)[1]; w <- v[!is.na(v)]; "
        's <- if (k == "character") sum(nchar(w)) else if (k == "logical") sum(w) '
        'else if (k == "Date") (if (length(w)) as.character(max(w)) else "none") '
        "else format(sum(as.numeric(w)), digits = 15, scientific = FALSE); "
        'cat("col", name, c, k, sum(is.na(v)), s, "\\n") } }\n'
    )
    r = subprocess.run(
        [_rscript(), "-e", script], cwd=folder, capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    said = [line.split() for line in r.stdout.splitlines() if line.strip()]
    con = duckdb.connect(str(exported / "file.duckdb"), read_only=True)
    counts = {w[0]: int(w[1]) for w in said if len(w) == 2}
    assert counts == {n: con.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in TABLES}
    (types,) = [w[1:] for w in said if w[0] == "types"]
    assert types == ["Date", "integer", "integer"]  # an all-empty column keeps its type
    (json_line,) = [w[1:] for w in said if w[0] == "json"]
    assert json_line[0] == json_line[1] != "0"  # every detail is JSON text R can parse
    flat = {w[1]: int(w[2]) for w in said if w[0] == "aact"}
    marker = json.loads((exported / "aact-flat" / ".trialwatch-export.json").read_text())
    assert flat == marker["tables"] and flat
    con.close()
    _r_reads_the_aact_columns_typed([w[1:] for w in said if w[0] == "col"], exported)


R_CLASS = {"VARCHAR": "character", "INTEGER": "integer", "BIGINT": "numeric",
           "DOUBLE": "numeric", "BOOLEAN": "logical", "DATE": "Date"}  # fmt: skip


def _r_reads_the_aact_columns_typed(said: list[list[str]], exported: Path) -> None:
    """What R read of each AACT column (class, NAs, checksum) against the table definitions
    and DuckDB's reading of the same file with them."""
    from sync.aact.catalog import TABLES as AACT
    from sync.aact.table import all_columns

    got = {(t, c): rest for t, c, *rest in said}
    con = duckdb.connect()
    checked = 0
    for name, table in AACT.items():
        cols = all_columns(table)
        types = ", ".join(f"'{c.name}': '{c.type}'" for c in cols)
        path = exported / "aact-flat" / f"{name}.txt"
        source = f"read_csv('{path}', delim='|', header=true, columns={{{types}}})"
        for c in cols:
            q = f'"{c.name}"'
            check = {
                "VARCHAR": f"coalesce(sum(length({q})), 0)",
                "BOOLEAN": f"coalesce(sum(CAST({q} AS INTEGER)), 0)",
                "DATE": f"coalesce(CAST(max({q}) AS VARCHAR), 'none')",
            }.get(c.type, f"coalesce(sum(CAST({q} AS HUGEINT)), 0)")
            if c.type == "DOUBLE":
                check = f"coalesce(sum({q}), 0)"
            nulls, value = con.execute(
                f"SELECT count(*) - count({q}), {check} FROM {source}"
            ).fetchone()
            k, na, s = got[(name, c.name)]
            assert k == R_CLASS[c.type], (name, c.name, k)
            assert int(na) == nulls, (name, c.name, na, nulls)
            if c.type == "DOUBLE":
                assert abs(float(s) - float(value)) <= 1e-6 * max(1.0, abs(value)), (name, c.name)
            else:
                assert s == str(value), (name, c.name, s, value)
            checked += 1
    assert checked == len(got)
    con.close()
