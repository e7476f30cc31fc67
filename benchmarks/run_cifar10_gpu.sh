#!/usr/bin/env bash
# The CIFAR-10 / ResNet-18 preset (configs/cifar10.yaml) on one GPU: the setting of the SalUn / SCRUB tables.
# Needs data/raw/cifar-10-batches-py and data/raw/cifar-100-python (official python versions) in the working
# directory, and a CUDA build of torch (envs/cuda.yaml). Prints wall time and the per-rule cost model from the
# jobs' [timing] lines (benchmarks/run_default.py --report-only reads an existing outputs folder).
set -euo pipefail
cd "$(dirname "$0")/.."
for d in data/raw/cifar-10-batches-py data/raw/cifar-100-python; do
  [[ -e "$d" ]] || { echo "missing $d: download the official CIFAR python versions first" >&2; exit 2; }
done
python - <<'PY'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("no CUDA device: this script measures the GPU path (use profiles/default on a CPU instead)")
print("device:", torch.cuda.get_device_name(0))
PY
start=$(date +%s)
HF_HUB_OFFLINE=1 snakemake --workflow-profile profiles/default --configfile configs/cifar10.yaml \
  --cores "${CORES:-8}" --resources gpu=1 --quiet all
echo "cold wall time: $(( $(date +%s) - start )) s"
python benchmarks/run_default.py --report-only outputs/cifar10
