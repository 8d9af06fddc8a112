# smspark: `make run` (nightly on the embedded defaults and real sample data), `make test`.
# Both run the set-up first; it is idempotent and quick once done. `make pack` builds the wheel and the packed
# environment under dist/; `make cluster-run` runs the nightly on a Spark standalone cluster on this machine.
VENV ?= .venv
BIN := $(VENV)/bin
DATE ?= $(shell date -u +%F)

.PHONY: setup run test test-fast pack cluster-run lint format clean-data help

help:
	@echo "make setup      create .venv, install the pinned stack, build Horovod, fetch the sample data"
	@echo "make run        smspark nightly --date $(DATE) with the local profile (embedded local Spark)"
	@echo "make pack       dist/: the smspark wheel, the Horovod wheel, the packed environment smspark-env.tar.gz"
	@echo "make cluster-run  pack, start a standalone Master + 2 Workers on 127.0.0.1, spark-submit the nightly"
	@echo "make test       the whole test suite, end-to-end tests included"
	@echo "make test-fast  the suite without the slow end-to-end tests"
	@echo "make lint       ruff check + format check"

setup:
	@bash scripts/setup.sh

run: setup
	$(BIN)/smspark nightly --date $(DATE) $(ARGS)

pack: setup
	@bash scripts/pack.sh

# data.root file://$(CURDIR)/data/cluster, landing data/landing; extra job arguments after ARGS="-- ..."
cluster-run: setup
	$(BIN)/python scripts/cluster.py run --date $(DATE) $(ARGS)

test: setup
	$(BIN)/python -m pytest -q --durations=30

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint:
	$(BIN)/ruff check smspark jobs tests notebooks scripts
	$(BIN)/ruff format --check smspark jobs tests notebooks scripts

format:
	$(BIN)/ruff format smspark jobs tests notebooks scripts
	$(BIN)/ruff check --fix smspark jobs tests notebooks scripts

clean-data:
	rm -rf data/bronze data/silver data/features data/gold data/quarantine data/runs data/mlflow data/cluster
