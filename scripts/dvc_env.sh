# Sourced by scripts/dvc_*.sh, thin wrappers of `python -m unlearnbench.dvc` (src/unlearnbench/dvc.py): go to
# the repository root and pick the Python that has unlearnbench — .venv's when there is one, else PATH's.
# Override with PYTHON=… (and DVC=…, SNAKEMAKE=…, CORES=…, which the module reads) in the environment.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ -z "${PYTHON:-}" ]]; then
    PYTHON="$ROOT/.venv/bin/python"
    [[ -x "$PYTHON" ]] || PYTHON="$(command -v python || echo python3)"
fi
export HF_HUB_OFFLINE=1
