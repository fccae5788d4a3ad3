# socketwire: `make serve` runs the demo server, `make test` runs every check, `make help`
# lists the rest. Both work on a fresh machine: they install exactly the versions locked in
# requirements/*.txt (with hashes) and the npm lock files, then run.

PYTHON ?= python3
HOST   ?= 127.0.0.1
PORT   ?= 3000
SERVE_ARGS ?=
SOAK_ARGS ?=

TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
VENV   := .venv
BIN    := $(VENV)/bin
SERVE_VENV := .venv-serve
MIN_VENV   := .venv-min
NEWEST_VENV := .venv-newest
# The newest installed Python from 3.14 down to 3.12, on PATH or in pyenv (the unit tests run
# on it too); a pyenv shim of a version not selected fails, hence the trial run.
NEWEST_PYTHON ?= $(shell for v in 3.14 3.13 3.12; do \
	for p in python$$v $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v; do \
	$$p -c "import sys; print(sys.executable)" 2>/dev/null && exit; done; done)
STAMPS := .stamps
JS     := tests/interop/js
CLIENT := client-dist
ASSETS := src/socketwire/_assets
REQ    := requirements

# Every extra but dev: the lowest-versions run imports every module, so it needs them all.
ALL_EXTRAS = $(shell $(PYTHON) -c "import tomllib; extras = tomllib.load(open('pyproject.toml', \
	'rb'))['project']['optional-dependencies']; print(*(f'--extra {e}' for e in extras if e != 'dev'))")

# Every lock file is resolved for every platform and Python from 3.11 on, and records hashes
# but no index address.
COMPILE := $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--no-emit-index-url --no-emit-find-links
# uv reads neither pip's configuration nor its index list: the defaults it has are the ones
# every machine gets.
SYNC    := $(UV) pip sync --quiet --require-hashes
EDITABLE = $(UV) pip install --quiet --no-deps --build-constraint $(REQ)/build.txt -e .

.DEFAULT_GOAL := help
.PHONY: help serve test lint typecheck pytest test-min test-newest install install-serve system-deps \
	npm client-dist assets docs dist lock lock-upgrade clean bench bench-setup bench-quick soak

help:  ## list the targets
	@echo "socketwire make targets (variables: HOST=$(HOST) PORT=$(PORT) SERVE_ARGS='...')"
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 16

serve: install-serve assets  ## run the demo chat at http://HOST:PORT/ (runtime deps only)
	$(SERVE_VENV)/bin/socketwire serve --host $(HOST) --port $(PORT) $(SERVE_ARGS)

test: lint typecheck docs test-min test-newest pytest  ## every check: lint, types, docs, min versions, newest Python, pytest

# -- installs ----------------------------------------------------------------------------

# The installer itself, pinned by hash in requirements/bootstrap.txt.
$(STAMPS)/tools: $(REQ)/bootstrap.txt
	@mkdir -p $(STAMPS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
		-r $(REQ)/bootstrap.txt
	@touch $@

$(STAMPS)/venv: $(STAMPS)/tools $(REQ)/dev.txt $(REQ)/build.txt pyproject.toml
	@test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(VENV) $(SYNC) $(REQ)/dev.txt
	VIRTUAL_ENV=$(VENV) $(EDITABLE)
	@touch $@

$(STAMPS)/venv-serve: $(STAMPS)/tools $(REQ)/runtime.txt $(REQ)/build.txt pyproject.toml
	@test -x $(SERVE_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(SERVE_VENV)
	VIRTUAL_ENV=$(SERVE_VENV) $(SYNC) $(REQ)/runtime.txt
	VIRTUAL_ENV=$(SERVE_VENV) $(EDITABLE)
	@touch $@

$(STAMPS)/venv-min: $(STAMPS)/tools $(REQ)/min.txt $(REQ)/build.txt pyproject.toml
	@test -x $(MIN_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(MIN_VENV)
	VIRTUAL_ENV=$(MIN_VENV) $(SYNC) $(REQ)/min.txt
	VIRTUAL_ENV=$(MIN_VENV) $(EDITABLE)
	@touch $@

$(STAMPS)/venv-newest: $(STAMPS)/tools $(REQ)/dev.txt $(REQ)/build.txt pyproject.toml
	@test -x $(NEWEST_VENV)/bin/python || $(UV) venv --quiet --python $(NEWEST_PYTHON) $(NEWEST_VENV)
	VIRTUAL_ENV=$(NEWEST_VENV) $(SYNC) $(REQ)/dev.txt
	VIRTUAL_ENV=$(NEWEST_VENV) $(EDITABLE)
	@touch $@

install: $(STAMPS)/venv  ## the development environment in .venv (locked versions)
install-serve: $(STAMPS)/venv-serve

$(STAMPS)/npm: $(JS)/package.json $(JS)/package-lock.json
	@mkdir -p $(STAMPS)
	cd $(JS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(STAMPS)/client-dist: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is needed to fetch the Socket.IO browser client (apt-get install npm)" >&2; exit 1; }
	@mkdir -p $(STAMPS)
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The official browser client, copied from npm into the package (and so into the wheel).
$(STAMPS)/assets: $(STAMPS)/client-dist scripts/vendor_assets.py
	$(PYTHON) scripts/vendor_assets.py $(CLIENT)/node_modules $(ASSETS)
	@touch $@

client-dist: $(STAMPS)/client-dist
npm: $(STAMPS)/npm
assets: $(STAMPS)/assets  ## copy the browser client bundle from npm into the package

system-deps:  ## the Debian packages the tests need (node, redis-server, postgresql, rabbitmq-server, chromium, nginx)
	bash scripts/system-deps.sh

# -- checks ------------------------------------------------------------------------------

lint: $(STAMPS)/venv  ## ruff check, ruff format --check, and the import layers (lint-imports)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports

typecheck: $(STAMPS)/venv  ## mypy --strict src
	$(BIN)/mypy --strict src

docs: $(STAMPS)/venv  ## build the docs site strictly into build/site
	$(BIN)/mkdocs build --strict --site-dir build/site

pytest: $(STAMPS)/venv $(STAMPS)/npm $(STAMPS)/assets system-deps  ## every test (unit, interop, integration)
	UV=$(abspath $(UV)) $(BIN)/pytest

test-min: $(STAMPS)/venv-min  ## unit tests on the lowest declared dependency versions
	$(MIN_VENV)/bin/pytest -q -p no:cacheprovider tests/unit

# Python 3.12+ runs the server's event handlers in eager tasks and changed asyncio.gather:
# the unit tests run there too, when such a Python is installed.
ifneq ($(NEWEST_PYTHON),)
test-newest: $(STAMPS)/venv-newest  ## unit tests on the newest installed Python (3.12 or later)
	$(NEWEST_VENV)/bin/pytest -q -p no:cacheprovider tests/unit
else
test-newest:
	@echo "make: no python3.12 or later on PATH: the unit tests ran on $(PYTHON) only" >&2
endif

dist: $(STAMPS)/tools $(STAMPS)/assets  ## the wheel and sdist in dist/, with the browser client
	rm -rf dist
	$(UV) build --quiet --build-constraint $(REQ)/build.txt --require-hashes --out-dir dist

# -- lock files --------------------------------------------------------------------------

lock: $(STAMPS)/tools  ## re-resolve the lock files, keeping locked versions where possible
	$(COMPILE) $(REQ)/bootstrap.in -o $(REQ)/bootstrap.txt $(LOCK_FLAGS)
	$(COMPILE) $(REQ)/build.in -o $(REQ)/build.txt $(LOCK_FLAGS)
	$(COMPILE) pyproject.toml --extra uvloop -o $(REQ)/runtime.txt $(LOCK_FLAGS)
	$(COMPILE) pyproject.toml --all-extras -o $(REQ)/dev.txt $(LOCK_FLAGS)
	$(COMPILE) pyproject.toml $(REQ)/min-tools.in $(ALL_EXTRAS) --resolution lowest-direct \
		-o $(REQ)/min.txt $(LOCK_FLAGS)
	$(COMPILE) pyproject.toml bench/requirements-peers.in --extra uvloop --extra redis --extra metrics \
		--extra pydantic --extra webtransport \
		-o bench/requirements-peers.txt $(LOCK_FLAGS)

lock-upgrade:  ## upgrade every locked version to the newest the ranges allow
	$(MAKE) lock LOCK_FLAGS=--upgrade

# -- benchmarks --------------------------------------------------------------------------

# Not part of `make test`; SOAK_ARGS="--duration 60 --idle 500" for a shorter run.
soak: $(STAMPS)/venv  ## ten minutes of thousands of connections, slow consumers and floods
	$(BIN)/python tests/soak/run.py $(SOAK_ARGS)

bench-setup: system-deps $(STAMPS)/tools
	PYTHON=$(PYTHON) UV=$(abspath $(UV)) bash bench/setup.sh

bench: bench-setup  ## the full side-by-side benchmark (needs a quiet machine)
	bench/.peers/venv/bin/python bench/run.py

bench-quick: bench-setup  ## a short benchmark run
	bench/.peers/venv/bin/python bench/run.py --quick

clean:  ## remove every environment and installed package
	rm -rf $(TOOLS) $(VENV) $(SERVE_VENV) $(MIN_VENV) $(STAMPS) $(ASSETS) $(JS)/node_modules \
		$(CLIENT)/node_modules bench/.peers bench/node_modules dist
