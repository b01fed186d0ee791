# Two commands for a fresh machine with only python3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_CUSTOMERS ?= 2000

export LAOKE_DATA ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test install clean dagster chromium benchmark

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/laoke demo --customers $(DEMO_CUSTOMERS)

# The tests run in TEST_WORKERS processes (pytest-xdist), a test file to each: the files that
# build warehouses take most of the time and keep their module fixtures in one process.
TEST_WORKERS ?= 2
test: $(STAMP) chromium
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The report test opens the HTML report in headless Chromium (Debian's package). Installed when
# missing and we are root (CI); elsewhere the test says it was skipped and why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: the report rendering test will be skipped"; }

# `make benchmark SIZE=10m` (1m, 10m, 100m): the table of benchmarks/RESULTS.md on this machine.
SIZE ?= 1m
benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py $(SIZE)

dagster: $(STAMP)
	mkdir -p $(DAGSTER_HOME) && cp -n orchestration/dagster.yaml $(DAGSTER_HOME)/dagster.yaml || true
	$(BIN)/dagster dev -m orchestration.definitions

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
