# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export DO_NOT_TRACK := 1

.PHONY: install run test lint format clean airflow

$(INSTALLED): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test,airflow]'
	touch $(INSTALLED)

install: $(INSTALLED) ## create .venv and install the project with its test tools

run: $(INSTALLED) ## the whole pipeline on the bundled sample market into ./data
	$(BIN)/equity-analytics run --sample-market

test: $(INSTALLED) lint debian-packages ## every test
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Airflow on http://127.0.0.1:8080 (login: see docs/airflow.md) with the daily DAG against the local
# default: DuckDB in ./data. Tiingo settings come from your environment (TIINGO_API_KEY, or
# TIINGO_BASE_URL of `equity-analytics serve-sample`).
airflow: export AIRFLOW_HOME := $(CURDIR)/data/airflow
airflow: export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
airflow: export AIRFLOW__CORE__LOAD_EXAMPLES := False
airflow: export AIRFLOW__API__HOST := 127.0.0.1
airflow: export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
airflow: export EQUITY_DATA_DIR := $(CURDIR)/data
airflow: $(INSTALLED) ## Airflow standalone (UI, scheduler) running the DAG against ./data
	$(BIN)/airflow db migrate
	$(BIN)/airflow pools set equity_duckdb 1 "DuckDB allows one writer"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/airflow standalone  # it starts its parts as `airflow ...`

# Debian packages behind the docs: Graphviz renders the diagrams, Chromium runs the docs-site
# test. Installed when missing (CI runs as root, with Debian's apt); a no-op once present.
DEBIAN_PACKAGES := graphviz chromium fonts-dejavu-core
DATA_DIR := $(abspath $(or $(EQUITY_DATA_DIR),data))
DOCS_PORT ?= 8081
DBT_IN_DATA_DIR := --target-path $(DATA_DIR)/dbt/target --log-path $(DATA_DIR)/dbt/logs

.PHONY: debian-packages diagrams docs

# A failed install is a warning, not an error: only `make diagrams` and the docs-site browser
# test need these, and that test says it was skipped.
debian-packages:
	@if command -v dot >/dev/null && command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES) >/dev/null; then :; \
	else echo "warning: could not apt-get install $(DEBIAN_PACKAGES) (needs root):" \
		"make diagrams will not work and the docs-site browser test will be skipped"; fi

diagrams: $(INSTALLED) debian-packages ## regenerate docs/*.png (and docs/diagrams/*.dot) from the dbt manifest
	$(BIN)/python -m ingestion.diagrams

# Builds the sample warehouse first if there is none (the site's catalog reads the warehouse).
docs: export EQUITY_DUCKDB_PATH := $(DATA_DIR)/warehouse.duckdb
docs: $(INSTALLED) ## generate the dbt docs site and serve it on http://127.0.0.1:$(DOCS_PORT)
	test -f $(DATA_DIR)/warehouse.duckdb || $(BIN)/equity-analytics --data-dir $(DATA_DIR) run --sample-market
	cd dbt_project && ../$(BIN)/dbt docs generate $(DBT_IN_DATA_DIR)
	@echo "dbt docs: http://127.0.0.1:$(DOCS_PORT) (Ctrl+C to stop)"
	cd dbt_project && ../$(BIN)/dbt docs serve --host 127.0.0.1 --port $(DOCS_PORT) --no-browser $(DBT_IN_DATA_DIR)

clean: ## remove local data and build artefacts (keeps .venv)
	rm -rf data dbt_project/target dbt_project/logs .pytest_cache
