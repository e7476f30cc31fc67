#!/usr/bin/env bash
# `make adopt`: Snakemake metadata + DAG-ordered mtimes for outputs DVC restored (src/unlearnbench/dvc_adopt.py).
#   scripts/dvc_adopt.sh [--force]      always
#   scripts/dvc_adopt.sh --if-missing   only when Snakemake has no record for any output of dvc.lock
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dvc_env.sh"
exec "$PYTHON" -m unlearnbench.dvc adopt "$@"
