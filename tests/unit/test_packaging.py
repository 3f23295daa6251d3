"""Declared dependencies match the imports: runtime code imports only runtime dependencies and
only public APIs of them."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def test_deepdiff_is_a_test_dependency_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_dist(r).strip() for r in project["dependencies"]}
    tests = {_dist(r).strip() for r in project["optional-dependencies"]["test"]}
    assert "deepdiff" not in runtime and "deepdiff" in tests
    assert "deepdiff" in {n.split(".")[0] for n in _imports("tests")}
    assert not {n for n in _imports("sync") | _imports("models") if n.startswith("deepdiff")}


def test_no_private_module_of_a_dependency() -> None:
    private = sorted(
        n for n in _imports("sync") | _imports("models")
        if any(part.startswith("_") for part in n.split(".")[1:]) and not n.startswith("sync.")
    )
    assert private == [], private
