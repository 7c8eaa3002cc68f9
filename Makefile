# iotwatch: every entry point. `make demo` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install demo test test-unit test-integration test-infra lint typecheck synth deploy bench clean

install: $(STAMP) $(CHECKOV_STAMP) node_modules/.installed

$(STAMP): requirements.txt $(wildcard requirements/*.txt) requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# checkov pins its own boto3: it gets a virtualenv of its own, used only by the scan test.
$(CHECKOV_STAMP): requirements-scan.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-fund --no-audit --loglevel=error
	touch $@

demo: install
	$(BIN)/iotwatch demo

test: install lint typecheck
	$(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile tests

test-unit: install
	$(BIN)/pytest -p no:cacheprovider tests/unit

test-integration: install
	$(BIN)/pytest -p no:cacheprovider tests/integration

test-infra: install
	$(BIN)/pytest -p no:cacheprovider tests/infrastructure

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# the unit tests' fakes are checked too: against the ports they stand in for (service/ports.py)
typecheck: install
	$(BIN)/mypy
	$(BIN)/mypy tests/unit/fakes.py tests/unit/test_discovery.py

synth: install
	npx cdk synth --no-notices --quiet $(if $(PLAN),-c plan=$(PLAN)) $(if $(STAGE),-c stage=$(STAGE))

deploy: install
	npx cdk deploy --no-notices $(if $(PLAN),-c plan=$(PLAN)) $(if $(STAGE),-c stage=$(STAGE))

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules cdk.out out .pytest_cache .ruff_cache .mypy_cache
