# One-command setup. `make run` and `make test` are the README's quick start.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint sample-data clean help browser qgis notebooks exercises docs qgis-plugin

help:
	@echo "make run          set up .venv and run the default pipeline on the bundled sample (out/sample/)"
	@echo "make test         set up .venv with the dev extra, run make lint, then the whole test suite"
	@echo "make lint         ruff (check, format --check) over the project, mypy over geo/"
	@echo "make sample-data  regenerate sample_rasters/ from the committed endmember table"
	@echo "make notebooks    open the training notebooks in JupyterLab (notebooks/)"
	@echo "make exercises    write the learners' version of each lesson (no solutions) to out/exercises/"
	@echo "make docs         build the documentation site into site/ (mkdocs build --strict; works offline)"
	@echo "make qgis-plugin  build the QGIS plugin zip (Plugins > Install from ZIP) into dist/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/geo run pipelines/landsat_prospectivity.yaml --out out/sample --overwrite

test: $(STAMP) lint browser qgis  # CI (.ci/run) runs this: lint and types are enforced
	$(BIN)/python -m pytest

browser:  # Debian's chromium for the report tests; skipped (with the reason) where impossible
	@bash scripts/install_chromium.sh

qgis:  # Debian's python3-qgis and qgis_process for the QGIS, QField and plugin tests; skipped (with the reason) where impossible
	@bash scripts/install_qgis.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy geo  # settings: [tool.mypy] in pyproject.toml; cache in .mypy_cache

sample-data: $(STAMP)
	$(BIN)/geo sample-data sample_rasters --overwrite

notebooks: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[notebooks]"
	$(BIN)/jupyter lab notebooks/

exercises: $(STAMP)
	$(BIN)/python scripts/make_exercises.py --out out/exercises

docs: $(STAMP)  # the dev extra brings the docs extra (mkdocs, material, mkdocstrings, mkdocs-click)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

qgis-plugin: $(STAMP)  # dist/geo_targeting-<version>.zip; docs/guide/qgis.md says how to install it
	$(BIN)/python scripts/build_qgis_plugin.py dist

clean:
	rm -rf out .pytest_cache .ruff_cache
