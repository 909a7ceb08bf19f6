# Two commands on a fresh machine with Python 3.11 and pip: `make demo`, `make test`.
# Each bootstraps a pinned uv into .tools/ and installs the locked environment into .venv/.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: demo test bench lint fmt clean chromium postgresql airflow

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-groups --compile-bytecode --python $(PYTHON)
	touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/silobridge demo

test: $(VENV)/.synced chromium postgresql
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/python -m pytest

# The county database test starts a PostgreSQL server of its own (tests/cli/
# test_cli_databases.py): Debian's server binaries, installed from Debian's packages when
# missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's postgresql for the county database test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "the county database test needs Debian's postgresql: sudo apt-get install postgresql"; exit 1; fi; }

# The pipeline at 100k and 1M source records beside its baselines: bench/results.*, README
bench: $(VENV)/.synced
	$(VENV)/bin/silobridge bench

# Browser tests drive Debian's Chromium (a test tool's own browser download cannot work
# offline); installed from Debian's packages when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# Airflow's UI with the project's DAGs and the mock gateway, until Ctrl-C
airflow: $(VENV)/.synced
	$(VENV)/bin/silobridge airflow

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

fmt: $(VENV)/.synced
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var .pytest_cache .ruff_cache
