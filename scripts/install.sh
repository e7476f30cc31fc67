#!/usr/bin/env bash
# Create the virtual environment and install unlearnbench (editable) with its dev extras.
# CPU machines: torch/torchvision are pinned by constraints-cpu.txt to the local CPU wheel (an unpinned
# torch pulls a multi-GB CUDA build); the install fails loudly if a CUDA torch ends up in a CPU set-up.
set -euo pipefail
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
if ! command -v "$PYTHON" >/dev/null; then PYTHON=python3; fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
CONSTRAINTS=()
if ! command -v nvidia-smi >/dev/null 2>&1 || [ "${UNLEARNBENCH_CPU:-}" = 1 ]; then
  CONSTRAINTS=(-c constraints-cpu.txt)
  export UNLEARNBENCH_EXPECT_CPU=1
fi
$PIP install -q "${CONSTRAINTS[@]}" -e ".[dev]" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$VENV/bin/python" - <<'PY'
import os, sys
import torch
if os.environ.get("UNLEARNBENCH_EXPECT_CPU") and torch.version.cuda is not None:
    sys.exit(f"error: a CUDA build of torch ({torch.__version__}, CUDA {torch.version.cuda}) was installed on a "
             "CPU set-up; install with -c constraints-cpu.txt (torch==2.13.0 CPU wheel)")
import unlearnbench.models  # noqa: F401  (checks that the torchvision shim lets timm import)
print(f"unlearnbench environment ready: torch {torch.__version__} (cuda={torch.version.cuda})")
PY
