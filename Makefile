# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export DO_NOT_TRACK := 1

.PHONY: install run test lint format clean

$(INSTALLED): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(INSTALLED)

install: $(INSTALLED) ## create .venv and install the project with its test tools

run: $(INSTALLED) ## the whole pipeline on the bundled sample market into ./data
	$(BIN)/equity-analytics run --sample-market

test: $(INSTALLED) lint ## every test
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## remove local data and build artefacts (keeps .venv)
	rm -rf data dbt_project/target dbt_project/logs .pytest_cache
