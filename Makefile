# The two commands: `make serve` and `make test`. Both set up everything they need and are
# quick when nothing changed (stamps keyed on the files that define each step).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN := .run
DEPS_STAMP := $(VENV)/.deps-installed
EXTRAS := serve,export,dev

.PHONY: help deps export serve test lint typecheck pytest clean

help:
	@echo "make serve   set up, export the model if needed, start Triton and the gateway on 127.0.0.1"
	@echo "make test    set up, export the model if needed, run lint, type checks and all tests"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(DEPS_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

deps: $(DEPS_STAMP)

# The exporter checks its manifest and returns at once when the repository is up to date.
export: deps
	$(PY) -m export

DEV_KEY := $(RUN)/dev-api-key

# A development API key, made once and kept in .run/ (git-ignored).
$(DEV_KEY): | $(PY)
	mkdir -p $(RUN)
	$(PY) -c 'import secrets; print("dev-" + secrets.token_urlsafe(24))' > $@
	chmod 600 $@

serve: export $(DEV_KEY)
	@echo "Development API key: $$(cat $(DEV_KEY))  (kept in $(DEV_KEY))"
	DATTAVANI_API_KEYS="$$(cat $(DEV_KEY))" $(PY) -m gateway --start-triton --dev-key-file $(DEV_KEY)

lint: deps
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: deps
	$(VENV)/bin/mypy

pytest: export
	$(PY) -m pytest

test: lint typecheck pytest

clean:
	rm -rf $(RUN) model_repository/manifest.json model_repository/*.json \
	  model_repository/*/1/fp32 model_repository/*/1/int8
