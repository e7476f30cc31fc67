"""``make pull``: restore the outputs recorded in dvc.lock from the DVC remote and make Snakemake treat them
as up to date. All or nothing: the workspace is only touched once every object is in the local cache.

1. ``dvc fetch``      remote → cache (the workspace is not touched). Only the pipeline's outputs (target
                      dvc.yaml): datasets tracked with ``dvc add`` are pulled explicitly.
2. verify             every output of dvc.lock is now complete in the cache: ``dvc status --json <stage>``
                      says "not in cache" for an output that is not, ``dvc data status --granular --json``
                      names its missing files. ``dvc fetch`` exits 0 with a warning when the remote is empty,
                      unreachable as a local path, or lacks a directory's index.
3. ``dvc checkout``   cache → workspace (an output that was not there before is removed on failure).
4. adopt              :func:`unlearnbench.dvc_adopt.adopt`: Snakemake metadata + mtimes in DAG order.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from unlearnbench.dvc_adopt import adopt
from unlearnbench.dvc_project import (WORK_DIR, DvcSetupError, LockedStage, NoLockedStage, Pipeline, Tools, capture,
                                      read_lock, run_logged, say, tail)

FETCH_LOG = WORK_DIR / "unlearnbench-fetch.log"
CHECKOUT_LOG = WORK_DIR / "unlearnbench-checkout.log"
UNCHANGED = "Nothing in the workspace was changed."


def local_remote_directory(url: str, config_file: str) -> Path | None:
    """The directory of a local remote (None for ``scheme://`` URLs): ``~`` expanded, and a relative path taken
    relative to the config file that sets it, as DVC does."""
    if "://" in url:
        return None
    path = Path(os.path.expanduser(url))
    return path if path.is_absolute() else Path(config_file).parent / path


def default_remote(tools: Tools) -> str:
    proc = capture([tools.dvc, "remote", "default"])
    name = proc.stdout.strip() if proc.returncode == 0 else ""
    if not name:
        raise DvcSetupError("no default DVC remote: set one with `make remote URL=<dir|s3://…|ssh://…>` "
                            "(see docs/dvc.md)")
    return name


def remote_url(tools: Tools, remote: str) -> tuple[str, str]:
    """(URL, config file that sets it) of a configured remote (``dvc config --show-origin``)."""
    proc = capture([tools.dvc, "config", "--show-origin", f"remote.{remote}.url"])
    origin, _, url = proc.stdout.strip().partition("\t")
    if proc.returncode != 0 or not url:
        raise DvcSetupError(f"DVC remote '{remote}' is not configured (`dvc remote list`; `make remote URL=…`)")
    return url, origin


def outputs_not_in_cache(status: dict, stage: str) -> list[str]:
    """Outputs that ``dvc status --json <stage>`` reports as "not in cache" (index or some file missing)."""
    changes = status.get(stage, []) if isinstance(status, dict) else []
    return [path for change in changes if isinstance(change, dict)
            for path, state in (change.get("changed outs") or {}).items() if state == "not in cache"]


def describe_missing(locked: LockedStage, incomplete: list[str], not_in_cache: list[str]) -> list[str]:
    """One line per incomplete output: its index object missing (nothing known about its files), or how many
    of its files are missing (``dvc data status --granular`` lists them as ``<out>/<file>``)."""
    lines = []
    for out in locked.outs:
        if out.path not in incomplete:
            continue
        files = [p[len(out.path) + 1:] for p in not_in_cache if p.startswith(out.path + "/") and p != out.path + "/"]
        if files:
            lines.append(f"{out.path}: {len(files)} of its files, e.g. {files[0]}")
        else:
            kind = "index" if (out.md5 or "").endswith(".dir") else "object"
            lines.append(f"{out.path} ({kind} {out.md5})")
    return lines


def fetch_failure(where: str, locked: LockedStage, missing: list[str], fetch_rc: int) -> str:
    """The error message for a fetch that left outputs of dvc.lock incomplete, or failed."""
    unknown = [line for line in missing if " (index " in line or " (object " in line]
    if missing and len(unknown) == len(locked.outs):
        # DVC reports an unreachable remote (connection refused, no such directory) like an empty one.
        return (f"the DVC {where} has none of the outputs of dvc.lock: it is empty, unreachable, or not the\n"
                "remote this dvc.lock was pushed to (`make push` there; `make remote URL=…`; "
                f"full log: {FETCH_LOG}).\n" + UNCHANGED)
    if missing:
        return (f"the DVC {where} lacks objects of dvc.lock:\n" + "".join(f"    {line}\n" for line in missing)
                + f"Was `make push` run after the run that wrote this dvc.lock? (full log: {FETCH_LOG})\n" + UNCHANGED)
    return f"`dvc fetch` from {where} failed (exit {fetch_rc}; full log: {FETCH_LOG})\n" + UNCHANGED


def missing_from_cache(tools: Tools, pipeline: Pipeline, locked: LockedStage) -> list[str]:
    """Lines describing the outputs of dvc.lock that are not complete in the local cache (none: all are)."""
    proc = capture([tools.dvc, "status", "--json", pipeline.stage])
    try:
        status = json.loads(proc.stdout or "{}") if proc.returncode == 0 else None
    except json.JSONDecodeError:
        status = None
    if status is None:
        raise DvcSetupError(f"`dvc status --json {pipeline.stage}` failed (exit {proc.returncode}): "
                            f"{(proc.stderr or proc.stdout).strip()[-500:]}\n{UNCHANGED}")
    incomplete = outputs_not_in_cache(status, pipeline.stage)
    if not incomplete:
        return []
    proc = capture([tools.dvc, "data", "status", "--granular", "--json", *incomplete])
    try:
        not_in_cache = json.loads(proc.stdout or "{}").get("not_in_cache", []) if proc.returncode == 0 else []
    except json.JSONDecodeError:
        not_in_cache = []  # the details are a courtesy: the outputs are reported incomplete either way
    return describe_missing(locked, incomplete, not_in_cache)


def remove_outputs(paths: list[str]) -> None:
    for path in map(Path, paths):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def pull(pipeline: Pipeline, tools: Tools, *, remote: str | None = None, jobs: int | None = None,
         force: bool = False) -> None:
    """See the module docstring; raises :class:`DvcSetupError` (nothing changed in the workspace) on failure."""
    try:
        locked = read_lock(pipeline)
    except NoLockedStage as exc:
        raise DvcSetupError(f"{exc}: nothing has been pushed from this commit (run `make repro`, then "
                            "`make push`)") from exc
    remote = remote or default_remote(tools)
    url, origin = remote_url(tools, remote)
    where = f"remote '{remote}' ({url})"
    directory = local_remote_directory(url, origin)
    if directory is not None and not directory.is_dir():
        raise DvcSetupError(f"the DVC {where} does not exist: nothing was pushed there yet (`make push` on the "
                            "machine\nthat ran the workflow), or the remote lives elsewhere (`make remote URL=…`). "
                            "Nothing was changed.")

    say(f"fetching the outputs of dvc.lock from {where} …")
    fetch_rc = run_logged([tools.dvc, "fetch", "-r", remote, *(["-j", str(jobs)] if jobs else []), "dvc.yaml"],
                          FETCH_LOG)
    missing = missing_from_cache(tools, pipeline, locked)
    if fetch_rc != 0 or missing:
        errors = [line for line in FETCH_LOG.read_text(errors="replace").splitlines() if re.match("ERROR", line)]
        if errors:
            print("\n".join(errors[:5]), file=sys.stderr)
        raise DvcSetupError(fetch_failure(where, locked, missing, fetch_rc))

    # Every object is local now. Remember which outputs existed, to undo a half-done checkout.
    new = [p for p in locked.paths if not os.path.lexists(p)]
    if run_logged([tools.dvc, "checkout", *(["--force"] if force else []), "dvc.yaml"], CHECKOUT_LOG) != 0:
        print(tail(CHECKOUT_LOG, 15), file=sys.stderr)
        remove_outputs(new)
        raise DvcSetupError(f"`dvc checkout` failed (full log: {CHECKOUT_LOG}). Outputs that were not there before "
                            "were removed;\n"
                            "if your own results differ from dvc.lock, `FORCE=1 make pull` replaces them.")
    say(f"checked out: {' '.join(locked.paths)}")
    adopt(pipeline, tools, always=True)
