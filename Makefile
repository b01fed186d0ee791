# Two commands for a fresh machine with only python3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_CUSTOMERS ?= 2000

export LAOKE_DATA ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test install clean dagster

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/laoke demo --customers $(DEMO_CUSTOMERS)

test: $(STAMP)
	$(BIN)/python -m pytest

dagster: $(STAMP)
	mkdir -p $(DAGSTER_HOME) && cp -n orchestration/dagster.yaml $(DAGSTER_HOME)/dagster.yaml || true
	$(BIN)/dagster dev -m orchestration.definitions

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
