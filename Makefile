# Thin wrapper: every target installs what it needs into .venv from this project's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint goldens bench clean browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## grade the reference solution and the untouched stubs of Exercise 2
	$(BIN)/grade ex2 reference/ex2/solution.py
	$(BIN)/grade ex2 exercises/ex2/ex2.py

# The summary page's browser test drives Debian's chromium (Playwright's own browser downloads are
# not used); the class-zip tests also build a zip with Debian's zip. Installed where missing.
browser:  ## Debian's chromium and zip, for the browser and class-zip tests
	command -v chromium >/dev/null && command -v zip >/dev/null || \
		(apt-get update && apt-get install -y --no-install-recommends chromium zip)

test: $(STAMP) browser  ## the grader's own test suite (lint and types first)
	$(BIN)/ruff format --check grader tests scripts
	$(BIN)/ruff check grader tests scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest

goldens: $(STAMP)  ## regenerate stubs, public golden values and the reports' golden files
	$(BIN)/grade build ex2
	UPDATE_GOLDENS=1 $(BIN)/python -m pytest tests/test_ci.py -q -k "annotations or step_summary"

clean:
	rm -rf $(VENV) reference/*/.golden-cache

bench: $(STAMP)  ## timings and peak memory: import torch, compute floor, cold grade, warm worker, a class of 40
	$(BIN)/python scripts/bench.py

.PHONY: bench-peers
bench-peers: $(STAMP)  ## the class of 40 graded by ours, nbgrader 0.9.6 and otter-grader 7.0.0 (each in .bench/peers/), side by side
	$(BIN)/python scripts/bench_peers.py
