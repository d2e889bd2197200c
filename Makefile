# medcode developer targets. `make` alone lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
MEDCODE := $(BIN)/medcode
CORPUS := corpora/codiesp
# The tuning three quarters of the vignette suite train both models; the held-out quarter never does.
VIGNETTES_TUNE := corpora/vignettes/tune.jsonl
DEFAULT_MODEL := models/default
TRAIN_ONLY_MODEL := models/train-only
SOURCES := $(shell find pipeline/medcode -name '*.py' -o -name '*.json' -o -name '*.gz' -o -name '*.j2') pyproject.toml

.PHONY: help setup build test lint train evaluate notebooks bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

setup: $(DEFAULT_MODEL)/meta.json ## Create .venv, install medcode and build the default model (CodiEsp train+dev)

$(BIN)/medcode: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: medcode needs Python 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	MEDCODE_COMPILE=0 $(BIN)/pip install --quiet -e '.[test,dask,notebooks,server]'
	$(BIN)/python setup.py --quiet build_ext --inplace --parallel 2
	@touch $@

$(DEFAULT_MODEL)/meta.json: $(BIN)/medcode $(SOURCES) $(VIGNETTES_TUNE)
	$(MEDCODE) train --corpus $(CORPUS) --split train+dev --also $(VIGNETTES_TUNE) --output $(DEFAULT_MODEL)

# The install compiles the hot path (setup.py); after an edit, this recompiles just the changed modules
# (a compiled copy older than its source would run the old code: the model loader warns, a test fails).
build: $(BIN)/medcode ## Recompile the Cython-compiled modules whose source changed (make setup compiles them all)
	$(BIN)/python setup.py --quiet build_ext --inplace --parallel 2

test: build ## Run the test suite (unit tests on tiny fixtures, one end-to-end test on the default model, browser tests when Chromium is installed)
	@if [ -x /usr/bin/chromium ]; then echo "browser tests: running in headless $$(/usr/bin/chromium --version 2>/dev/null)"; \
	else echo "browser tests: SKIPPED (no /usr/bin/chromium; install Debian's chromium: apt-get install chromium)"; fi
	$(BIN)/python -m pytest -q -rs

lint: $(BIN)/medcode ## Check the code with ruff (rules in pyproject.toml)
	$(BIN)/ruff check pipeline tests notebooks/run.py

train: $(TRAIN_ONLY_MODEL)/meta.json ## Train on CodiEsp train only and evaluate on dev (the figures the README reports)

$(TRAIN_ONLY_MODEL)/meta.json: $(BIN)/medcode $(SOURCES) $(VIGNETTES_TUNE)
	$(MEDCODE) train --corpus $(CORPUS) --split train --also $(VIGNETTES_TUNE) --eval-split dev --output $(TRAIN_ONLY_MODEL)

evaluate: $(TRAIN_ONLY_MODEL)/meta.json ## Evaluate the train-only model on CodiEsp dev
	$(MEDCODE) evaluate --model $(TRAIN_ONLY_MODEL) --corpus $(CORPUS) --split dev --output dev-metrics.json

BUILD := build
DEV_PREDICTIONS := $(BUILD)/dev-predictions.jsonl
DEV_METRICS := $(BUILD)/dev-metrics.json

$(DEV_PREDICTIONS): $(TRAIN_ONLY_MODEL)/meta.json
	@mkdir -p $(BUILD)
	$(MEDCODE) predict $(CORPUS) --split dev --model $(TRAIN_ONLY_MODEL) --output $@

$(DEV_METRICS): $(DEV_PREDICTIONS)
	$(MEDCODE) evaluate --predictions $< --gold $(CORPUS) --split dev --output $@ --report $(BUILD)/dev-report.html

notebooks: $(DEV_METRICS) ## Execute notebooks/ on the train-only model's dev predictions (copies with plots in build/notebooks)
	MEDCODE_PREDICTIONS=$(DEV_PREDICTIONS) MEDCODE_METRICS=$(DEV_METRICS) MEDCODE_GOLD=$(CORPUS) MEDCODE_SPLIT=dev \
	MEDCODE_MODEL=$(TRAIN_ONLY_MODEL) $(BIN)/python notebooks/run.py notebooks/*.ipynb --output-dir $(BUILD)/notebooks

bench: setup $(TRAIN_ONLY_MODEL)/meta.json ## Print accuracy (CodiEsp dev, held-out vignettes), baseline, calibration, speed ratio, latency, stage shares, load time, memory, scale, workers, Dask, bad inputs, API latency
	PYTHONPATH=pipeline $(BIN)/python -m devtools.bench --corpus $(CORPUS) --train-only-model $(TRAIN_ONLY_MODEL) --output bench.json

clean: ## Remove the virtualenv, built models and compiled modules
	rm -rf $(VENV) $(DEFAULT_MODEL) $(TRAIN_ONLY_MODEL) $(BUILD)
	find pipeline/medcode -name '*.cpython-*.so' -delete
