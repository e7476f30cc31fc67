# Sourced by scripts/dvc_*.sh: the repository root and the tools, from .venv when there is one, else PATH.
# Override with DVC=… SNAKEMAKE=… PYTHON=… CORES=… in the environment.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
_tool() { if [[ -x "$ROOT/.venv/bin/$1" ]]; then echo "$ROOT/.venv/bin/$1"; else command -v "$1" || echo "$1"; fi; }
DVC="${DVC:-$(_tool dvc)}"
SNAKEMAKE="${SNAKEMAKE:-$(_tool snakemake)}"
PYTHON="${PYTHON:-$(_tool python)}"
CORES="${CORES:-2}"
export HF_HUB_OFFLINE=1
# The single DVC stage of dvc.yaml and the params file it tracks (the embedded default experiment).
STAGE=benchmark
CONFIG=config.yaml
# What the stage depends on besides config.yaml (keep in sync with dvc.yaml `deps:`).
CODE_DEPS=(Snakefile rules workflow_scripts src/unlearnbench)
say() { printf 'unlearnbench: %s\n' "$*" >&2; }
