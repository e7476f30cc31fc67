#!/usr/bin/env bash
# Adopt outputs restored by DVC (`dvc pull` / `dvc checkout`) as Snakemake's own: record Snakemake metadata
# for them, with the params they were built with, and put their mtimes in DAG order.
#
# Why: a pulled file gets a new mtime (in no particular order) and no `.snakemake/metadata` record. Snakemake 9
# always compares input and output mtimes (rerun-triggers can't turn that off), so after a plain `dvc pull`
# it may rerun jobs whose inputs happen to be newer. Without records it also cannot see params or code
# changes, so a later hyper-parameter edit would not rerun its branch.
# How: `snakemake --touch --forceall` with the config recorded in dvc.lock (the params the pulled outputs
# were built from) touches every output in DAG order and writes a metadata record for each job.
#
#   scripts/dvc_adopt.sh --force       always (`make pull`, `make adopt`)
#   scripts/dvc_adopt.sh --if-missing  only when the experiment's outputs have no Snakemake metadata at all
#                                      (the DVC stage command, before Snakemake runs)
# Adopts nothing when dvc.lock has no `benchmark` stage or some of its outputs are not in the workspace.
# Refuses (warning with --force, error with --if-missing) when the workflow or package code differs from
# the last git commit: code hashes are Snakemake params, and adopting would bless outputs for that code.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dvc_env.sh"

MODE="${1:---force}"
case "$MODE" in --force|--if-missing) ;; *) say "usage: $0 [--force|--if-missing]"; exit 2 ;; esac

mkdir -p .dvc/tmp
LOCKED=.dvc/tmp/unlearnbench-locked-config.yaml
set +e
"$PYTHON" - "$MODE" "$STAGE" "$CONFIG" "$LOCKED" <<'PY'
"""Decide whether to adopt and write the locked config. Exit 0: adopt; 10: nothing to adopt."""
import base64
import os
import sys

import yaml

mode, stage, config, locked = sys.argv[1:5]
if not os.path.exists("dvc.lock"):
    sys.exit(10)
entry = (yaml.safe_load(open("dvc.lock")) or {}).get("stages", {}).get(stage)
if not entry or config not in entry.get("params", {}):
    sys.exit(10)
cfg = entry["params"][config]
outs = [o["path"] for o in entry.get("outs", [])]
missing = [p for p in outs if not os.path.exists(p)]
if missing and (mode == "--force" or len(missing) < len(outs)):  # none at all: a fresh build, say nothing
    print(f"unlearnbench: not adopting: outputs of dvc.lock missing from the workspace: {', '.join(missing)}",
          file=sys.stderr)
if missing:
    sys.exit(10)
root = f"{cfg.get('output_root', 'outputs')}/{cfg['experiment']}/"


def recorded_paths(meta=".snakemake/metadata"):
    """Output paths with a Snakemake metadata record (file backend: base64 names, long ones split in '@' folders)."""
    for dirpath, _, files in os.walk(meta):
        prefix = "".join(part[1:] for part in os.path.relpath(dirpath, meta).split(os.sep) if part.startswith("@"))
        for name in files:
            try:
                yield base64.urlsafe_b64decode(prefix + name).decode()
            except ValueError:
                continue


if mode == "--if-missing" and any(p.startswith(root) for p in recorded_paths()):
    sys.exit(10)  # Snakemake produced (or adopted) these outputs itself: it knows their params

with open(locked, "w") as fh:
    yaml.safe_dump(cfg, fh, sort_keys=False)
sys.exit(0)
PY
rc=$?
set -e
[[ $rc == 10 ]] && exit 0
[[ $rc != 0 ]] && exit $rc

if [[ -n "$(git status --porcelain -- "${CODE_DEPS[@]}" 2>/dev/null)" ]]; then
    msg="outputs restored by DVC have no Snakemake metadata, and the workflow/package code (${CODE_DEPS[*]})
  differs from the last git commit, so Snakemake cannot tell which results that change makes stale.
  Commit or stash the code change, run \`make adopt\`, then re-apply it and rerun."
    if [[ "$MODE" == --if-missing ]]; then say "error: $msg"; exit 1; fi
    say "warning: not adopting: $msg"
    exit 0
fi

say "adopting DVC-restored outputs as up to date for the params in dvc.lock (snakemake --touch --forceall) …"
LOG=.dvc/tmp/unlearnbench-adopt.log
# --replace-workflow-config: exactly the locked config. Without it Snakemake merges it over config.yaml, and a
# key added since (say a method's `lr`) would leak into the recorded params and hide the change.
if ! "$SNAKEMAKE" --workflow-profile profiles/default --configfile "$LOCKED" --replace-workflow-config \
        --cores "$CORES" --touch --forceall >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    say "error: snakemake --touch failed (full log: $LOG)"
    exit 1
fi
say "adopted: $(grep -Eo '[0-9]+ of [0-9]+ steps' "$LOG" | tail -n 1) marked up to date (log: $LOG)"
