# needtoknow: one Makefile for a fresh machine.
#   make demo   set everything up, build the demo store from real sample data, serve the API
#   make test   set everything up (venv, packages, Neo4j, Chromium, web assets) and run every test
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
WEB := api/web
AUDIT := tests/http_audit

.PHONY: setup demo test lint typecheck pytest browser web http-audit neo4j-start neo4j-stop bench schema messages clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP) web http-audit

# The web pages' JavaScript (cytoscape, Observable Plot + d3, GraphiQL, axe-core for tests) comes from npm at setup time.
web:
	@if [ -f $(WEB)/package.json ]; then \
	  if [ ! -d $(WEB)/node_modules ] || [ $(WEB)/package.json -nt $(WEB)/node_modules ]; then \
	    (cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error) && touch $(WEB)/node_modules; \
	  fi; \
	fi

# The GraphQL-over-HTTP audit suite (npm graphql-http) used by tests/api/test_http_audit.py.
http-audit:
	@if [ ! -d $(AUDIT)/node_modules ] || [ $(AUDIT)/package.json -nt $(AUDIT)/node_modules ]; then \
	  (cd $(AUDIT) && npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error) && touch $(AUDIT)/node_modules; \
	fi

# Debian's Chromium for the browser test (Playwright drives it via executable_path).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

neo4j-start:
	bash tools/neo4j/neo4j.sh start

neo4j-stop:
	bash tools/neo4j/neo4j.sh stop

demo: setup
	$(BIN)/needtoknow demo

lint: setup
	$(BIN)/ruff check graph loaders api tests benchmarks

typecheck: setup
	$(BIN)/mypy

schema: setup
	$(BIN)/python -m api.schema

# The family page's strings: re-extract them and merge into the catalogs (then translate what is new).
messages: setup
	$(BIN)/pybabel extract -F $(WEB)/babel.cfg -k N_ --no-location --omit-header -o $(WEB)/locale/family.pot .
	$(BIN)/pybabel update -D family -i $(WEB)/locale/family.pot -d $(WEB)/locale --no-location --width 120

# Uses a Neo4j that already answers on NTK_NEO4J_PORT (default 7687), else starts ours and
# stops it afterwards. tests/conftest.py does the same when pytest is run directly.
PYTEST_DESELECT ?=

pytest: setup browser
	@port=$${NTK_NEO4J_PORT:-7687}; started=0; \
	if ! (exec 3<>/dev/tcp/127.0.0.1/$$port) 2>/dev/null; then bash tools/neo4j/neo4j.sh start && started=1 || exit 1; \
	else echo "using the Neo4j server already listening on 127.0.0.1:$$port"; fi; \
	export NTK_NEO4J_URI=$${NTK_NEO4J_URI:-bolt://127.0.0.1:$$port}; \
	$(BIN)/pytest -q -p no:cacheprovider --durations=25 $(PYTEST_DESELECT); rc=$$?; \
	if [ $$started = 1 ]; then bash tools/neo4j/neo4j.sh stop; fi; exit $$rc

test: lint typecheck pytest

bench: setup
	$(BIN)/python -m benchmarks.core_bench --students 170000 700000

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache tools/neo4j/target
