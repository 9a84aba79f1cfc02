# gharchive-pipeline: every target sets up what it needs (a fresh machine has only Python 3.11 + Java 17).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
HOME_DIR ?= .home
SAMPLES  := data/gharchive
DEMO_START ?= 2015-01-01T00
DEMO_END   ?= 2015-01-01T05

.PHONY: setup demo test test-fast lint typecheck bench bench-day package lock clean bqemulator

$(VENV)/.installed: pyproject.toml setup.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,spark]"
	touch $@

# The normalizer's native fast path (C, built by setup.py; optional: without a C compiler the
# package installs and runs the pure-Python path). Rebuilt when its source changes.
NATIVE_SRC := src/gharchive_pipeline/normalize/_fastpath.c src/gharchive_pipeline/normalize/_fastpath_columns.h
$(VENV)/.native: $(VENV)/.installed $(NATIVE_SRC)
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -c 'from gharchive_pipeline.normalize import native; print("native fast path:", "built" if native.AVAILABLE else "NOT built (pure-Python normalizer)")'
	touch $@

# checkov vendors its own `hcl2` module (bc-python-hcl2) that overwrites python-hcl2's: own venv.
TOOLS_VENV := .toolsvenv
$(TOOLS_VENV)/.installed:
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q "checkov>=3"
	touch $@

# bqemulator (local BigQuery for the BigQuery tests) pins duckdb 1.5.5, which clashes with ours: own venv.
BQVENV := .bqvenv
BQ_SPATIAL := import duckdb, duckdb_extension_spatial as s, pathlib; \
  f = next(pathlib.Path(s.__file__).parent.glob("extensions/*/spatial.duckdb_extension")); \
  duckdb.sql("INSTALL " + repr(str(f)))
$(BQVENV)/.installed:
	$(PYTHON) -m venv $(BQVENV)
	$(BQVENV)/bin/pip install -q bqemulator numpy pyarrow "duckdb==1.5.5" "duckdb-extension-spatial==1.5.5"
	$(BQVENV)/bin/python -c '$(BQ_SPATIAL)'
	touch $@

bqemulator: $(BQVENV)/.installed  ## the BigQuery emulator's virtualenv (.bqvenv)

setup: $(VENV)/.installed $(VENV)/.native $(TOOLS_VENV)/.installed  ## create the virtualenvs (package+tests+Spark, checkov)

demo: setup  ## run the whole local pipeline on the bundled real sample hours
	$(BIN)/gharchive run $(DEMO_START) $(DEMO_END) --source $(SAMPLES) --home $(HOME_DIR)
	$(BIN)/gharchive status --home $(HOME_DIR)
	$(BIN)/gharchive stats --home $(HOME_DIR) --by type
	$(BIN)/gharchive report --home $(HOME_DIR) -o $(HOME_DIR)/report.html
	@echo "report: $(HOME_DIR)/report.html"

LINTED := src functions spark tests tools bench

test: setup $(BQVENV)/.installed  ## lint, type-check and run the whole test suite
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -x -m "not slow"

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: setup
	$(BIN)/mypy

bench: setup  ## normalizer vs the pandas seed and a DuckDB reference on a 200k-event hour; a 1M-event hour's local load
	$(PY) bench/run_bench.py

bench-day: setup  ## `gharchive run` over a day of 24 x 50k-event hours vs a one-statement DuckDB reference
	$(PY) bench/run_bench_day.py

package: setup  ## zip each Cloud Function with the core package (what Terraform uploads)
	$(PY) tools/generate_terraform_inputs.py
	$(PY) tools/package_functions.py

lock: setup  ## pin what the function zips and the Spark bundle install to this venv's versions, with hashes (locks/)
	$(PY) tools/lock_dependencies.py

clean:
	rm -rf $(HOME_DIR) .bench build dist
