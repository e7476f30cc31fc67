#!/usr/bin/env bash
# `make pull`: fetch the outputs of dvc.lock, verify every object, check out, adopt (src/unlearnbench/dvc_pull.py).
# Environment: REMOTE=name, JOBS=n (parallel transfers), FORCE=1 (checkout overwrites outputs that differ).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dvc_env.sh"
exec "$PYTHON" -m unlearnbench.dvc pull "$@"
