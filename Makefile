# LLM Twin: the two commands a newcomer needs are `make up` (local stack + demo: `make demo`) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
# every Python package of the repo, installed editable into the one environment
PACKAGES := $(sort $(dir $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)))
UV := $(PYTHON) -m uv

.PHONY: uv env lock protos protos-check asyncapi up up-servers down status demo demo-cdc browser test test-unit test-integration test-e2e bench lint clean-stack

uv:  ## the installer itself, pinned, into the interpreter that runs make
	@$(UV) --version 2>/dev/null | grep -q "$(UV_VERSION)" || $(PYTHON) -m pip install -q "uv==$(UV_VERSION)"

env: $(VENV)/.installed  ## the one Python environment, from requirements.lock

$(VENV)/.installed: requirements.lock $(wildcard libs/*/pyproject.toml services/*/pyproject.toml) | uv
	test -x $(PY) || $(UV) venv -q $(VENV) --python 3.11
	$(UV) pip sync -q --python $(PY) requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps $(addprefix -e ,$(PACKAGES))
	touch $@

lock: | uv  ## re-resolve requirements.in into requirements.lock
	$(UV) pip compile -q --python-version 3.11 requirements.in --overrides overrides.txt -o requirements.lock

protos: env  ## regenerate gRPC stubs from protos/
	$(PY) scripts/gen_protos.py

protos-check: env
	$(PY) scripts/gen_protos.py --check

asyncapi: env  ## regenerate docs/asyncapi.json (the topic catalogue) after changing topics, events or consumers
	$(PY) scripts/gen_asyncapi.py

up: env  ## install what is missing, start the servers, then the platform's services (make status: health)
	$(VENV)/bin/twin-stack up

up-servers: env  ## only the backing servers (what integration tests need)
	$(VENV)/bin/twin-stack up --servers

down:
	$(VENV)/bin/twin-stack down

status:
	$(VENV)/bin/twin-stack status

demo: up  ## the product: ingest through the gateway, streamed cited answers (REST, openai SDK), edit, delete; ends with the web app's address
	$(PY) scripts/demo.py

browser:  ## Chromium and chromedriver (Debian packages) for the web app's browser tests; they run this when missing
	sh scripts/install_browser.sh

demo-cdc: up-servers  ## the data path alone: a change in PostgreSQL travels through Debezium and Kafka to the index
	$(PY) scripts/demo_cdc.py

test: env protos-check lint  ## every tier: unit, integration (real servers, started by the run), e2e
	$(VENV)/bin/twin-stack install  # packages, jars and the Go-built collector and Jaeger, before any test's timeout runs
	$(PY) -m pytest tests

test-unit: env
	$(PY) -m pytest tests/unit

test-integration: env
	$(VENV)/bin/twin-stack install
	$(PY) -m pytest tests/integration

test-e2e: env
	$(VENV)/bin/twin-stack install
	$(PY) -m pytest tests/e2e

lint: env  ## ruff: lint rules and formatting (settings in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

BENCHMARKS := $(sort $(wildcard benchmarks/*.py))

bench: up  ## every benchmark in benchmarks/, each printing its figure next to a baseline measured in the same run
	@failed=""; for bench in $(BENCHMARKS); do \
		echo "== $$bench"; $(PY) $$bench || failed="$$failed $$bench"; \
	done; \
	if [ -n "$$failed" ]; then echo "benchmarks that failed:$$failed"; exit 1; fi

clean-stack: down  ## delete the local stack's data (caches outside the repo stay)
	rm -rf .local
