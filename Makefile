# tinyexperts — the two set-up commands are `make run` and `make test`.
# Everything installs into .venv; torch is the local CPU wheel, pinned by constraints.txt.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/tinyexperts
STAMP  := $(VENV)/.installed

.PHONY: install browser build run test test-unit test-integration lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	$(PY) -m services.grpc_stubs
	touch $(STAMP)

# Builds what is missing (ontology, datasets, four teachers and their int8 students, the
# router, the GNN encoder + graph-token LLM) into $$TINYEXPERTS_HOME.
build: install
	$(CLI) build

# Serves deploy/serve_local.yaml until Ctrl-C, within minutes on a fresh machine: quick
# models first when nothing is built, while the full compressed system builds in the
# background and goes live piece by piece (`tinyexperts status` shows progress and ETA).
run: install
	$(CLI) run

# The console's browser test drives Debian's chromium through playwright (no browser
# download: playwright launches this executable). Installed here when missing (root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian) for the console's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null; }

test: install browser
	$(PY) -m pytest -q tests

test-unit: install
	$(PY) -m pytest -q -m "not integration" tests

test-integration: install browser
	$(PY) -m pytest -q -m integration tests

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
