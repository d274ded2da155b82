# Two commands: `make run` serves the dashboard on the demo data, `make test` runs every check.
# Both are idempotent: the venv is created once and requirements are reinstalled only when
# a requirements file changes (stamp files inside .venv record the last install).
# The Dockerfile repeats the `run` steps; keep the two in step.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
CHROMIUM ?= /usr/bin/chromium
STAMP_RUN := $(VENV)/.installed-requirements
STAMP_DEV := $(VENV)/.installed-requirements-dev

.PHONY: run test lint typecheck pytest demo warmup chromium bench clean help

help:
	@echo "make run   - set up .venv, build the demo run if needed, serve http://localhost:$(PORT)"
	@echo "make test  - set up .venv + test tools + chromium, then ruff, mypy and pytest"
	@echo "make bench - run the benchmarks in bench/ (each figure next to its target)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --progress-bar off -r requirements.txt
	@touch $@

$(STAMP_DEV): requirements-dev.txt $(STAMP_RUN)
	$(PY) -m pip install --quiet --progress-bar off -r requirements-dev.txt
	@touch $@

chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "Installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

demo: $(STAMP_RUN)
	$(PY) -m core demo

# Compiles UMAP's numba code into runs/_cache/numba once per install (the demo run already
# did most of it); afterwards every job loads it instead of compiling (issue 13).
warmup: $(STAMP_RUN)
	$(PY) -m core warmup

run: demo
	@$(PY) -m core warmup >/dev/null 2>&1 &
	$(PY) -m streamlit run app.py --server.port $(PORT)

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP_DEV)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict core

pytest: $(STAMP_DEV) chromium
	$(PY) -m pytest

test: lint typecheck pytest

bench: $(STAMP_RUN)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts
