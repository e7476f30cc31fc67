#!/usr/bin/env bash
# Run by Snakemake inside the freshly created conda environment (`--use-conda`), from its working directory:
# install the unlearnbench package itself; its dependencies are pinned in the environment file.
set -euo pipefail
ROOT="${UNLEARNBENCH_ROOT:-$PWD}"
if [ ! -f "$ROOT/pyproject.toml" ]; then
  echo "unlearnbench post-deploy: $ROOT has no pyproject.toml; run Snakemake from the repository root or set UNLEARNBENCH_ROOT" >&2
  exit 1
fi
python -m pip install --no-deps -e "$ROOT"
