"""Declared dependencies match the imports: runtime code imports only runtime dependencies and
only public APIs of them; the unit tests import nothing that needs a database, network or
process."""

from __future__ import annotations

import ast
import tomllib

import pytest

from tests.support import PROJECT_ROOT as ROOT


def _imports(folder: str) -> set[str]:
    names: set[str] = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


def _dist(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0]


@pytest.mark.parametrize("oracle", ["deepdiff", "croniter"])
def test_an_oracle_is_a_test_dependency_only(oracle: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_dist(r).strip() for r in project["dependencies"]}
    tests = {_dist(r).strip() for r in project["optional-dependencies"]["test"]}
    assert oracle not in runtime and oracle in tests
    assert oracle in {n.split(".")[0] for n in _imports("tests")}
    assert not {n for n in _imports("sync") | _imports("models") if n.startswith(oracle)}


def test_no_private_module_of_a_dependency() -> None:
    private = sorted(
        n for n in _imports("sync") | _imports("models")
        if any(part.startswith("_") for part in n.split(".")[1:]) and not n.startswith("sync.")
    )
    assert private == [], private


# What makes a test an integration test: a database, the network, another process.
IMPURE_MODULES = (
    "subprocess", "socket", "multiprocessing", "httpx", "playwright", "sqlalchemy", "sqlmodel",
    "psycopg", "models.db", "sync.store", "sync.registry", "sync.ingest", "sync.testing.fakectgov",
    "tests.support.fixtures", "tests.support.cli", "tests.support.receivers",
)
IMPURE_FIXTURES = {"pg_database", "db_url", "engine", "fake_ctgov", "client", "cli"}
# Modules under an impure prefix that are pure themselves: the read side's typed results are
# dataclasses over sync.core (a terminal renderer's unit test builds them by hand).
PURE_MODULES = {"sync.store.results", "sync.watches.results"}


def test_unit_tests_are_pure() -> None:
    """tests/unit holds tests without database, network or subprocess: any found go to
    tests/integration."""
    found = []
    for path in sorted((ROOT / "tests" / "unit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found += [f"{path.name}: {node.name}({a.arg})" for a in node.args.args
                          if a.arg in IMPURE_FIXTURES]
            found += [f"{path.name}: {n}" for n in names
                      if n not in PURE_MODULES
                      and any(n == m or n.startswith(m + ".") for m in IMPURE_MODULES)]
    assert found == []
