# fapiao-cloud. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench-ingest bench-verify bench-decode clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml deploy/system-deps.sh
	@bash deploy/system-deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install everything (system packages via apt when possible)

run: install ## serve the product with embedded ClickHouse, a private Redis and demo data
	$(BIN)/fapiao serve --demo

test: install ## run the whole test suite
	$(BIN)/python -m pytest -q

lint: install ## ruff, and mypy (strict) on every package
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy verify ingest api ocr loadtests

bench-ingest: install ## print ingest/generate/lookup figures
	$(BIN)/python -m loadtests.bench_ingest

bench-verify: install ## print verify throughput vs a no-op baseline
	$(BIN)/python -m loadtests.bench_verify

bench-decode: install ## print QR/OCR decode rates per degradation
	$(BIN)/python -m loadtests.bench_decode

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
