# Two commands on a fresh machine with Python 3.11 and pip: `make demo`, `make test`.
# Each bootstraps a pinned uv into .tools/ and installs the locked environment into .venv/.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: demo test lint fmt clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-groups --python $(PYTHON)
	touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/silobridge demo

test: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .

fmt: $(VENV)/.synced
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var .pytest_cache .ruff_cache
