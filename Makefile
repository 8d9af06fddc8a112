# smspark: `make run` (nightly on the embedded defaults and real sample data), `make test`.
# Both run the set-up first; it is idempotent and quick once done.
VENV ?= .venv
BIN := $(VENV)/bin
DATE ?= $(shell date -u +%F)

.PHONY: setup run test test-fast lint format clean-data help

help:
	@echo "make setup      create .venv, install the pinned stack, build Horovod, fetch the sample data"
	@echo "make run        smspark nightly --date $(DATE) on conf/local.yaml (embedded local Spark)"
	@echo "make test       the whole test suite, end-to-end tests included"
	@echo "make test-fast  the suite without the slow end-to-end tests"
	@echo "make lint       ruff check + format check"

setup:
	@bash scripts/setup.sh

run: setup
	$(BIN)/smspark nightly --date $(DATE)

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint:
	$(BIN)/ruff check smspark jobs tests notebooks
	$(BIN)/ruff format --check smspark jobs tests notebooks

format:
	$(BIN)/ruff format smspark jobs tests notebooks
	$(BIN)/ruff check --fix smspark jobs tests notebooks

clean-data:
	rm -rf data/bronze data/silver data/features data/gold data/quarantine data/runs data/mlflow
