#!/usr/bin/env bash
# `make pull`: restore the outputs recorded in dvc.lock from the DVC remote and make Snakemake treat them as
# up to date. All or nothing: the workspace is only touched once every object is in the local cache.
# Only the pipeline's outputs (target dvc.yaml): datasets tracked with `dvc add` are pulled explicitly.
#   1. dvc fetch      remote → .dvc/cache (the workspace is not touched)
#   2. verify         every object of every dvc.lock output is now in the cache. `dvc fetch` exits 0 with a
#                     warning when the remote is empty, unreachable as a local path, or lacks an object.
#   3. dvc checkout   cache → workspace (local; an output that was not there before is removed on failure)
#   4. adopt          scripts/dvc_adopt.sh --force: Snakemake metadata + mtimes in DAG order
# Environment: REMOTE=name (default: the default remote), JOBS=n (parallel transfers), FORCE=1 (let checkout
# overwrite outputs that differ from dvc.lock, e.g. results of your own unpushed runs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dvc_env.sh"
mkdir -p .dvc/tmp

if [[ ! -f dvc.lock ]]; then
    say "error: no dvc.lock: nothing has been pushed from this commit (run \`make run\` / \`dvc repro\`, then \`make push\`)"
    exit 1
fi
remote="${REMOTE:-$("$DVC" remote default 2>/dev/null || true)}"
if [[ -z "$remote" ]]; then
    say "error: no default DVC remote: set one with \`make remote URL=<dir|s3://…|ssh://…>\` (see docs/dvc.md)"
    exit 1
fi
url="$("$DVC" config "remote.$remote.url" 2>/dev/null || true)"
if [[ -z "$url" ]]; then
    say "error: DVC remote '$remote' is not configured (\`dvc remote list\`; \`make remote URL=…\`)"
    exit 1
fi
where="remote '$remote' ($url)"
if [[ "$url" != *://* ]]; then  # a local directory; relative URLs are relative to .dvc/
    dir="${url/#\~/$HOME}"
    [[ "$dir" = /* ]] || dir=".dvc/$dir"
    if [[ ! -d "$dir" ]]; then
        say "error: the DVC $where does not exist: nothing was pushed there yet (\`make push\` on the machine"
        say "       that ran the workflow), or the remote lives elsewhere (\`make remote URL=…\`). Nothing was changed."
        exit 1
    fi
fi

log=.dvc/tmp/unlearnbench-fetch.log
say "fetching the outputs of dvc.lock from $where …"
fetch_rc=0
"$DVC" fetch -r "$remote" ${JOBS:+-j "$JOBS"} dvc.yaml >"$log" 2>&1 || fetch_rc=$?

# Which objects of dvc.lock are still not in the local cache? (DVC 3 layout: <cache>/files/md5/ab/cdef…)
cache="$("$DVC" cache dir 2>/dev/null || echo .dvc/cache)"
n_outs="$("$PYTHON" -c "import sys,yaml; e=(yaml.safe_load(open('dvc.lock')) or {}).get('stages',{}).get(sys.argv[1],{}); print(len(e.get('outs',[])))" "$STAGE")"
missing="$("$PYTHON" - "$STAGE" "$cache" <<'PY'
import json
import os
import sys

import yaml

stage, cache = sys.argv[1:3]
entry = (yaml.safe_load(open("dvc.lock")) or {}).get("stages", {}).get(stage, {})


def obj(md5):
    return os.path.join(cache, "files", "md5", md5[:2], md5[2:])


for out in entry.get("outs", []):
    md5 = out.get("md5")
    if not md5:
        continue
    if not os.path.exists(obj(md5)):
        print(f"{out['path']} (index {md5})")
        continue
    if md5.endswith(".dir"):
        lost = [e["relpath"] for e in json.load(open(obj(md5))) if not os.path.exists(obj(e["md5"]))]
        if lost:
            print(f"{out['path']}: {len(lost)} of its files, e.g. {lost[0]}")
PY
)"
if [[ $fetch_rc != 0 || -n "$missing" ]]; then
    grep -E "^ERROR" "$log" | head -n 5 >&2 || true
    if [[ -n "$missing" && "$(grep -c '(index ' <<<"$missing")" == "$n_outs" ]]; then
        # DVC reports an unreachable remote (connection refused, no such directory) like an empty one.
        say "error: the DVC $where has none of the outputs of dvc.lock: it is empty, unreachable, or not the"
        say "       remote this dvc.lock was pushed to (\`make push\` there; \`make remote URL=…\`; full log: $log)."
    elif [[ -n "$missing" ]]; then
        say "error: the DVC $where lacks objects of dvc.lock:"
        sed 's/^/    /' <<<"$missing" >&2
        say "       Was \`make push\` run after the run that wrote this dvc.lock? (full log: $log)"
    else
        say "error: \`dvc fetch\` from $where failed (exit $fetch_rc; full log: $log)"
    fi
    say "       Nothing in the workspace was changed."
    exit 1
fi

# Checkout: every object is local now. Remember which outputs existed, to undo a half-done checkout.
mapfile -t outs < <("$PYTHON" -c "import sys,yaml; e=(yaml.safe_load(open('dvc.lock')) or {}).get('stages',{}).get(sys.argv[1],{}); print('\n'.join(o['path'] for o in e.get('outs',[])))" "$STAGE")
new=()
for o in "${outs[@]}"; do [[ -e "$o" ]] || new+=("$o"); done
log=.dvc/tmp/unlearnbench-checkout.log
if ! "$DVC" checkout ${FORCE:+--force} dvc.yaml >"$log" 2>&1; then
    tail -n 15 "$log" >&2
    for o in "${new[@]}"; do rm -rf -- "$o"; done
    say "error: \`dvc checkout\` failed (full log: $log). Outputs that were not there before were removed;"
    say "       if your own results differ from dvc.lock, \`FORCE=1 make pull\` replaces them."
    exit 1
fi
say "checked out: ${outs[*]}"
bash scripts/dvc_adopt.sh --force
