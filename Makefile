# Two set-up commands (README quickstart): `make demo` and `make test`.
# Each creates .venv with the interpreter below (Python >= 3.11) and installs what it needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PIP    := $(VENV)/bin/python -m pip
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test install dev clean

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "moneytrail needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP_RUN): $(VENV)/bin/python pyproject.toml
	$(PIP) install --quiet -e .
	touch $@

$(STAMP_DEV): $(VENV)/bin/python pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)
dev: $(STAMP_DEV)

# a new folder each time: moneytrail-demo, then moneytrail-demo-2, ... (a demo never overwrites one)
demo: $(STAMP_RUN)
	$(VENV)/bin/moneytrail demo

test: $(STAMP_DEV)
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) moneytrail-demo moneytrail-demo-* .pytest_cache .hypothesis
