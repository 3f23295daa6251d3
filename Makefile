# trialwatch: `make run` and `make test` are the two commands of the README.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
TW := $(BIN)/trialwatch
PYTEST_ARGS ?=

.PHONY: run test install prereqs axe chaos bench lint docs demo dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,docs]'
	touch $@

install: $(VENV)/.installed

# axe-core (accessibility rules) for the web app's browser tests, from the npm registry into a
# cache folder: no package.json, no lock file, nothing committed.
AXE_DIR := .cache/axe
AXE := $(AXE_DIR)/node_modules/axe-core/axe.min.js
$(AXE):
	mkdir -p $(AXE_DIR)
	npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix $(AXE_DIR) 'axe-core@^4.10'

axe: $(AXE)

# Upgrade the database, sync the trials in config.toml, print what is stored. A failed sync
# fails the recipe: trialwatch exits 1, and make itself then exits 2.
run: install
	$(TW) db upgrade
	$(TW) sync; rc=$$?; $(TW) list; exit $$rc

# Debian's chromium and openssl: installed when missing (as root), else one line and a stop.
prereqs:
	@.ci/prereqs

test: install prereqs $(AXE)
	$(BIN)/python -m pytest -q -n 2 -m "not slow" $(PYTEST_ARGS)

# The attack suite (tests marked slow), ending with the table of what was tried and what held.
# `python -m` puts the checkout on sys.path, where `-p` finds the tests package's plugin.
chaos: install prereqs
	$(BIN)/python -m pytest -q -n 2 -m slow -p tests.chaos.table $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench
	$(BIN)/python -m bench.export
	$(BIN)/python -m bench.aact_live
	$(BIN)/python -m bench.mirror
	$(BIN)/python -m bench.explain
	$(BIN)/python -m bench.cli
	$(BIN)/python -m bench.event_rules
	$(BIN)/python -m bench.dbwait
	$(BIN)/python -m bench.outcomes

lint: install
	$(BIN)/ruff check sync models tests bench
	$(BIN)/mypy sync models
	$(BIN)/lint-imports

# The manual: docs/ built by MkDocs (Material) into site/; `mkdocs serve` previews it.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The sdist and the wheel, as a packager builds them (tests/outside installs them and runs them).
dist: install
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) data .pytest_cache .cache site dist build
