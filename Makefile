# socketwire: `make serve` runs the demo server, `make test` runs every check.
# Both work on a fresh machine: they create .venv, install what is needed, then run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := .stamps
JS     := tests/interop/js
CLIENT := client-dist
SERVE_ARGS ?=

.PHONY: serve test lint typecheck pytest install system-deps npm client-dist docs clean bench bench-setup bench-quick

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

# The official browser client, served by `socketwire serve` at /socket.io/socket.io.js.
$(STAMPS)/client-dist: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is needed to fetch the Socket.IO browser client (apt-get install npm)" >&2; exit 1; }
	@mkdir -p $(STAMPS)
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(STAMPS)/venv
client-dist: $(STAMPS)/client-dist
npm: $(STAMPS)/npm

system-deps:
	bash scripts/system-deps.sh

serve: $(STAMPS)/venv $(STAMPS)/client-dist
	$(BIN)/socketwire serve $(SERVE_ARGS)

lint: $(STAMPS)/venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMPS)/venv
	$(BIN)/mypy --strict src

pytest: $(STAMPS)/venv $(STAMPS)/npm system-deps
	$(BIN)/pytest

docs: $(STAMPS)/venv
	$(BIN)/mkdocs build --strict --site-dir build/site

test: lint typecheck docs pytest

bench-setup: system-deps
	PYTHON=$(PYTHON) bash bench/setup.sh

bench: bench-setup
	bench/.peers/venv/bin/python bench/run.py

bench-quick: bench-setup
	bench/.peers/venv/bin/python bench/run.py --quick

clean:
	rm -rf $(VENV) $(STAMPS) $(JS)/node_modules $(CLIENT)/node_modules bench/.peers bench/node_modules
