# servicelab: every target bootstraps .venv from nothing (Python 3.11+, pip and make are enough)
# and is idempotent: the environment is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready

.PHONY: demo test test-fast lint bench contracts clean

$(READY): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## demo: simulate the bundled online shop and write its report to out/shop/
demo: $(READY)
	$(BIN)/servicelab sim run simulator/scenarios/shop.yaml --out out/shop

## test: the whole test suite (statistical checks included)
test: $(READY)
	$(BIN)/pytest -n auto --dist loadgroup

## test-fast: the quick tier, without slow and live tests (under a minute)
test-fast: $(READY)
	$(BIN)/pytest -n auto --dist loadgroup -m "not slow and not live"

## contracts: Pact consumer tests, provider verification and the can-i-deploy matrix
contracts: $(READY)
	$(BIN)/servicelab contracts test

## lint: ruff, as CI sees it
lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## bench: engine speed against SimPy, Ciw and a bare heapq loop; memory of a 1M-request run; sweep executors;
## the gateway against direct calls and nginx; the embedded Toxiproxy against a direct connection; live up's start-up
bench: $(READY)
	$(BIN)/python benchmarks/engines.py
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/sweep.py
	$(BIN)/python benchmarks/gateway.py
	$(BIN)/python benchmarks/proxy.py
	$(BIN)/python benchmarks/startup.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis
