# marops developer entry points. `make` alone prints the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# every package of the monorepo that exists yet (services appear as they are written)
PKG_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard libs/events/pyproject.toml libs/service/pyproject.toml libs/importer/pyproject.toml libs/testkit/pyproject.toml libs/gateway/pyproject.toml services/*/pyproject.toml))
PYTEST_ARGS ?=
# openapi-typescript (npm) for tests/test_typed_clients.py; pinned, cached in the ignored .infra/
OPENAPI_TS_VERSION := 7.13.0
OPENAPI_TS_DIR := .infra/openapi-ts
OPENAPI_TS_STAMP := $(OPENAPI_TS_DIR)/.installed-$(OPENAPI_TS_VERSION)
# the web console (console/): npm ci and vite build, each redone only when its inputs change
CONSOLE_DEPS := console/node_modules/.installed
CONSOLE_BUILD := console/dist/index.html
CONSOLE_SOURCES := $(shell find console/src -type f -not -path '*/generated/*' 2>/dev/null) console/index.html console/vite.config.ts console/tsconfig.json
# `docker compose` (plugin) if present, else the old `docker-compose`; evaluated only when used
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.PHONY: help install infra run test lint bench contracts up down stop demo images console chromium

help: ## show this list
	@echo "marops make targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 14

install: $(STAMP) $(OPENAPI_TS_STAMP) ## create .venv (Python 3.11+), install every package editable, and openapi-typescript

$(OPENAPI_TS_STAMP):
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing nodejs and npm with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null || exit 1; \
	  else echo "make install: npm is required (install nodejs and npm)" >&2; exit 1; fi; \
	fi
	@echo "installing openapi-typescript $(OPENAPI_TS_VERSION) into $(OPENAPI_TS_DIR)"
	@mkdir -p $(OPENAPI_TS_DIR)
	@npm install --no-audit --no-fund --loglevel=error --prefix $(OPENAPI_TS_DIR) openapi-typescript@$(OPENAPI_TS_VERSION) >$(OPENAPI_TS_DIR)/install.log 2>&1 \
	  || { tail -n 20 $(OPENAPI_TS_DIR)/install.log >&2; echo "make install: npm install failed" >&2; exit 1; }
	@touch $@

$(CONSOLE_DEPS): console/package-lock.json $(OPENAPI_TS_STAMP)
	@echo "installing the console's npm packages (npm ci; log in console/node_modules/install.log)"
	@mkdir -p .infra && cd console && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >../.infra/console-npm.log 2>&1 \
	  || { tail -n 20 ../.infra/console-npm.log >&2; echo "make console: npm ci failed" >&2; exit 1; }
	@cp .infra/console-npm.log console/node_modules/install.log && touch $@

$(CONSOLE_BUILD): $(CONSOLE_DEPS) $(CONSOLE_SOURCES)
	@echo "building the console (vite build into console/dist)"
	@cd console && node_modules/.bin/vite build --logLevel warn

console: $(CONSOLE_BUILD) ## build the web console into console/dist (npm ci + vite build, cached)

chromium: ## Debian's chromium for the console's browser tests (apt-get, as root, if missing)
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null || exit 1; \
	  else echo "make chromium: Debian's chromium is required for the console's browser tests (apt-get install chromium)" >&2; exit 1; fi; \
	fi

$(STAMP): $(addsuffix /pyproject.toml,$(PKG_DIRS))
	@if [ ! -x $(PY) ]; then \
	  py=""; \
	  for c in python3.13 python3.12 python3.11 python3; do \
	    if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then py=$$c; break; fi; \
	  done; \
	  if [ -z "$$py" ]; then echo "make install: Python 3.11 or newer is required (none of python3.13/3.12/3.11/python3 is)" >&2; exit 1; fi; \
	  echo "creating $(VENV) with $$py ($$($$py --version))"; \
	  if ! $$py -m venv $(VENV); then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      rm -rf $(VENV); echo "installing python3-venv with apt-get"; \
	      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && $$py -m venv $(VENV) || exit 1; \
	    else echo "make install: '$$py -m venv' failed (install the venv module, e.g. python3-venv)" >&2; exit 1; fi; \
	  fi; \
	fi
	@echo "installing $(PKG_DIRS) (editable; log in $(VENV)/install.log)"
	@$(PY) -m pip install --disable-pip-version-check $(addprefix -e ,$(PKG_DIRS)) >$(VENV)/install.log 2>&1 \
	  || { tail -n 40 $(VENV)/install.log >&2; echo "make install: pip install failed (full log: $(VENV)/install.log)" >&2; exit 1; }
	@touch $(STAMP)

infra: ## start native PostgreSQL and Kafka (idempotent; state in .infra/)
	bash infra/up.sh

run: install console ## start infra, the four services and the console on http://127.0.0.1:8000 (Ctrl-C stops them)
	$(PY) infra/run_services.py

test: install console chromium ## start infra and run pytest (extra arguments: PYTEST_ARGS="...")
	bash infra/up.sh
	bash deploy/tools.sh
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff and mypy (mypy.ini: strict on libs/, the default checks on services; also part of make test)
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: install ## start infra and run the benchmarks
	bash infra/up.sh
	@if [ -f benchmarks/run.py ]; then $(PY) benchmarks/run.py; else echo "no benchmarks yet"; fi
	$(PY) benchmarks/governance_queue.py
	$(PY) benchmarks/spend_history.py
	$(PY) benchmarks/http_bench.py

contracts: install ## regenerate the event contract files (JSON Schema, AsyncAPI)
	$(PY) -m marops_events.contracts_gen

up: ## build and start the containerised stack (Docker Compose)
	$(COMPOSE) up --build -d

images: ## build the four service images and the console's (gateway), tagged with their package versions (needs Docker)
	@for s in intake governance budget metrics; do \
	  v="$$(sed -n 's/^version = "\(.*\)"/\1/p' services/$$s/pyproject.toml)"; \
	  echo "building marops-$$s:$$v"; \
	  docker build --build-arg SERVICE=$$s --build-arg VERSION=$$v -t marops-$$s:$$v . || exit 1; \
	done
	@v="$$(sed -n 's/^version = "\(.*\)"/\1/p' libs/gateway/pyproject.toml)"; echo "building marops-gateway:$$v"; \
	  docker build -f Dockerfile.gateway --build-arg VERSION=$$v -t marops-gateway:$$v .

down: ## stop the containerised stack
	$(COMPOSE) down

stop: ## stop the native infrastructure started by `make infra`
	bash infra/down.sh

demo: install ## `make run` plus an imported example history; prints the headline metrics (Ctrl-C stops)
	$(PY) infra/demo.py
