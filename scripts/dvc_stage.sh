#!/usr/bin/env bash
# The command of the DVC stage `benchmark` (dvc.yaml). DVC decides *whether* to call it (config.yaml or the
# workflow/package code changed since dvc.lock); Snakemake decides *what* reruns: only the jobs whose params,
# code or inputs changed. Outputs restored by `dvc pull` without `make pull` are adopted first (see
# scripts/dvc_adopt.sh), so that Snakemake compares the new params with those the outputs were built with.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dvc_env.sh"
bash scripts/dvc_adopt.sh --if-missing
exec "$SNAKEMAKE" --workflow-profile profiles/default --configfile "$CONFIG" --cores "$CORES"
