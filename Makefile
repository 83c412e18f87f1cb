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

.PHONY: serve test lint bench browser-deps
serve: $(STAMP)
	$(BIN)/goldkey check && $(BIN)/goldkey serve --demo

# The browser tests drive Debian's chromium (never a browser Playwright downloads) and need a CJK font for
# readable screenshots; installed once per machine where apt is at hand, else those tests skip.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ -z "$$(fc-list :lang=zh 2>/dev/null)" ]; then \
	  if command -v apt-get >/dev/null; then \
	    SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	  else echo "no apt-get: the browser tests will be skipped"; fi; fi

test: $(STAMP) browser-deps
	$(BIN)/ruff check engine server tests bench printouts
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/deadlines.py
	$(BIN)/python bench/printouts.py
	$(BIN)/python bench/definitions.py
