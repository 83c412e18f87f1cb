# Two entry points for a fresh machine with Python 3.11; each installs what it needs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

.PHONY: serve test lint bench
serve: $(STAMP)
	$(BIN)/goldkey check && $(BIN)/goldkey serve --demo

test: $(STAMP)
	$(BIN)/ruff check engine server tests bench printouts
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/deadlines.py
	$(BIN)/python bench/printouts.py
