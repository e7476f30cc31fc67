# unlearnbench — `make run` (the default experiment) and `make test` (the suite). Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
CONFIG ?= config.yaml
SNAKEMAKE := HF_HUB_OFFLINE=1 $(BIN)/snakemake --workflow-profile profiles/default --configfile $(CONFIG)
# `make run` after a killed run: a stale Snakemake lock is removed (when no Snakemake process holds the
# directory) and the run resumes — src/unlearnbench/resume.py
RESUME := HF_HUB_OFFLINE=1 $(BIN)/python -m unlearnbench.resume --workflow-profile profiles/default --configfile $(CONFIG)

.PHONY: run test test-edits test-cluster report dry-run bench clean-outputs

$(STAMP): pyproject.toml constraints-cpu.txt scripts/install.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/install.sh
	touch $(STAMP)

run: $(STAMP)
	$(RESUME) --cores $(CORES)
	@$(BIN)/python -m unlearnbench.where --configfile $(CONFIG)

# Two pytest workers (pytest-xdist; --dist loadfile: a test file stays on one worker, so its module fixtures run
# once): much of the suite waits on subprocesses (Snakemake, DVC, git) or runs one-thread tiny models, so the
# second core is otherwise idle. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile -m "not exhaustive" tests

# Every package module edited in turn (a copy): the dry run reruns exactly the jobs whose code imports it
# (tests/test_every_edit.py; one dry run per module, ≈ 5 min on 2 cores). Run by CI after the suite.
test-edits: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m exhaustive tests/test_every_edit.py

# The quick preset through a real single-node SLURM (Debian slurm-wlm + munge, installed when missing) with the
# unchanged profiles/slurm, then locally: the results must be equal. Prints its wall time. docs/cluster.md
test-cluster: $(STAMP)
	VENV=$(VENV) bash scripts/test_cluster.sh

report: run
	$(SNAKEMAKE) --cores $(CORES) --report report.html
	@echo "report: $$(pwd)/report.html"

dry-run: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) --dry-run

bench: $(STAMP)  ## docs/performance.md: cost model of a cold default run, training loop vs bare torch
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run_default.py --configfile $(CONFIG) --noop
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_training.py

# --- DVC: versioned outputs and a shared remote (docs/dvc.md) ---------------------------------------------
DVC := $(BIN)/dvc
.PHONY: pull push remote adopt repro

# pull/adopt: src/unlearnbench/dvc.py (REMOTE, JOBS, FORCE, CORES as make variables or in the environment)
DVC_PY := HF_HUB_OFFLINE=1 $(BIN)/python -m unlearnbench.dvc --cores $(CORES)

pull: $(STAMP)  ## outputs of dvc.lock from the remote (all or nothing), then marked up to date for Snakemake
	$(DVC_PY) pull $(if $(REMOTE),--remote $(REMOTE)) $(if $(JOBS),--jobs $(JOBS)) $(if $(FORCE),--force)

push: $(STAMP)  ## the outputs recorded in dvc.lock to the remote (REMOTE=name for another one)
	$(DVC) push $(if $(REMOTE),-r $(REMOTE))

remote: $(STAMP)  ## make remote URL=<dir|s3://…|ssh://…|gs://…> [NAME=local] [LOCAL=1: this clone only]
	@test -n "$(URL)" || { echo "usage: make remote URL=<dir|s3://bucket/path|ssh://host/path|gs://bucket/path> [NAME=local] [LOCAL=1]" >&2; exit 2; }
	$(DVC) remote add --force --default $(if $(LOCAL),--local) $(or $(NAME),local) '$(URL)'
	$(DVC) remote list

adopt: $(STAMP)  ## mark outputs restored by a plain `dvc pull`/`dvc checkout` as up to date for Snakemake
	$(DVC_PY) adopt --force

# dvc.yaml's cmd, scripts/dvc_stage.sh, runs `python -m unlearnbench.dvc stage` (adopt if needed, then Snakemake)
repro: $(STAMP)  ## dvc repro: the Snakemake default target when config.yaml or the code changed since dvc.lock
	CORES=$(CORES) $(DVC) repro
