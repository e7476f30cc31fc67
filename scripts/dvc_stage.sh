#!/usr/bin/env bash
# The command of the DVC stage of dvc.yaml: adopt DVC-restored outputs nobody recorded, then run Snakemake's
# default target on config.yaml (src/unlearnbench/dvc.py, `stage`). DVC decides *whether* to call it;
# Snakemake decides *what* reruns. CORES=n sets --cores (default 2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dvc_env.sh"
exec "$PYTHON" -m unlearnbench.dvc stage "$@"
