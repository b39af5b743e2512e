# Two commands set everything up on a fresh machine: `make up` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install up test test-fast bench contracts lint clean secrets

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run the whole system: local broker, five services (Ctrl-C stops all)
up: install
	bash deploy/system-packages.sh
	$(PY) -m deploy.local

## the whole suite: lint, contract drift, unit, contract, integration, end-to-end
test: install
	$(VENV)/bin/ruff check .
	$(PY) -m tools.gen_contracts --check
	$(PY) -m pytest -q -p no:cacheprovider

## the production stack's secrets (docker-compose.yml, docs/production.md): fills in .env
## and secrets/ with what is missing, keeps what is there, prints names only
secrets: install
	$(PY) -m deploy.secrets

## unit and contract tests only (no broker)
test-fast: install
	$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/contract

## every throughput figure in one run (raw ceiling, pipeline and latency on SQLite and
## PostgreSQL, rebuild, monitor tick, peak RSS), one JSON under bench/results/;
## `make bench REPLICAS=2` adds the pipeline with 2 processing and 2 reporting replicas
REPLICAS ?= 1
bench: install
	$(PY) -m bench --replicas $(REPLICAS) --write-readme

## regenerate the committed JSON Schemas and AsyncAPI document after changing contracts/
contracts: install
	$(PY) -m tools.gen_contracts

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf var .pytest_cache
