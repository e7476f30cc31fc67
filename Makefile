# unlearnbench — `make run` (the default experiment) and `make test` (the suite). Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
CONFIG ?= config.yaml
SNAKEMAKE := HF_HUB_OFFLINE=1 $(BIN)/snakemake --workflow-profile profiles/default --configfile $(CONFIG)

.PHONY: run test report dry-run bench clean-outputs

$(STAMP): pyproject.toml constraints-cpu.txt scripts/install.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/install.sh
	touch $(STAMP)

run: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES)
	@$(BIN)/python -m unlearnbench.where --configfile $(CONFIG)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

report: run
	$(SNAKEMAKE) --cores $(CORES) --report report.html
	@echo "report: $$(pwd)/report.html"

dry-run: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) --dry-run

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run_all.py
