# socketwire: `make serve` runs the demo server, `make test` runs every check.
# Both work on a fresh machine: they create .venv, install what is needed, then run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := .stamps
JS     := tests/interop/js

.PHONY: serve test lint typecheck pytest install system-deps npm clean bench bench-setup bench-quick

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

$(STAMPS)/npm: $(JS)/package.json $(JS)/package-lock.json
	@mkdir -p $(STAMPS)
	cd $(JS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(STAMPS)/venv
npm: $(STAMPS)/npm

system-deps:
	bash scripts/system-deps.sh

serve: $(STAMPS)/venv
	$(BIN)/socketwire serve

lint: $(STAMPS)/venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMPS)/venv
	$(BIN)/mypy --strict src

pytest: $(STAMPS)/venv $(STAMPS)/npm system-deps
	$(BIN)/pytest

test: lint typecheck pytest

bench-setup: system-deps
	PYTHON=$(PYTHON) bash bench/setup.sh

bench: bench-setup
	bench/.peers/venv/bin/python bench/run.py

bench-quick: bench-setup
	bench/.peers/venv/bin/python bench/run.py --quick

clean:
	rm -rf $(VENV) $(STAMPS) $(JS)/node_modules bench/.peers bench/node_modules
