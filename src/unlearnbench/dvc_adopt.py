"""Adopt outputs restored by DVC (``dvc pull`` / ``dvc checkout``) as Snakemake's own (``make adopt``).

Why: a pulled file gets a new mtime (in no particular order) and no Snakemake metadata record. Snakemake 9
always compares input and output mtimes (rerun-triggers can't turn that off), so after a plain ``dvc pull``
it may rerun jobs whose inputs happen to be newer. Without records it also cannot see params or code
changes, so a later hyper-parameter edit would not rerun its branch.

How: ``snakemake --touch --forceall`` with the config recorded in dvc.lock (the params the pulled outputs were
built from) touches every output in DAG order and writes a metadata record for each job.

* ``always=True`` (``make pull``, ``make adopt``): whenever every output of dvc.lock is in the workspace.
* ``always=False`` (the DVC stage command, before Snakemake runs): only when Snakemake has no record for any
  output of the workflow on config.yaml — ``snakemake --detailed-summary``, whose ``input-file(s)`` column
  shows the inputs a record holds and ``-`` when there is none.

Adopts nothing when dvc.lock has no entry for the stage or some of its outputs are not in the workspace.
Refuses (a warning when ``always``, else an error) when the code deps of dvc.yaml differ from the
last git commit: code hashes are Snakemake params, and adopting would bless outputs for that code.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from unlearnbench.dvc_project import (WORK_DIR, DvcSetupError, LockedStage, NoLockedStage, Pipeline, Tools, capture,
                                      read_lock, report_error, run_logged, say, tail)

LOCKED_CONFIG = WORK_DIR / "unlearnbench-locked-config.yaml"
ADOPT_LOG = WORK_DIR / "unlearnbench-adopt.log"
SUMMARY_LOG = WORK_DIR / "unlearnbench-summary.log"


@dataclass(frozen=True)
class Decision:
    adopt: bool
    reason: str | None = None  # why not, when the user should hear it


def decide(locked: LockedStage, *, always: bool, exists: Callable[[str], bool]) -> Decision:
    """Adopt only when every output of dvc.lock is in the workspace. None at all is a fresh build, which the
    stage command (``always=False``) passes over without a word."""
    missing = [p for p in locked.paths if not exists(p)]
    if not missing:
        return Decision(True)
    if always or len(missing) < len(locked.outs):
        return Decision(False, f"not adopting: outputs of dvc.lock missing from the workspace: {', '.join(missing)}")
    return Decision(False)


def any_output_recorded(summary: str) -> bool:
    """Whether ``snakemake --detailed-summary`` output shows a metadata record for any output file: its
    ``input-file(s)`` column lists the inputs the record holds ("" for a job without inputs) and is ``-``
    for a file Snakemake has no record of."""
    lines = summary.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("output_file\t")), None)
    if header is None or "input-file(s)" not in lines[header].split("\t"):
        raise DvcSetupError("snakemake --detailed-summary printed no table with an `input-file(s)` column "
                            f"(expected a header `output_file<TAB>date<TAB>…`; got {summary[:200]!r})")
    columns = lines[header].split("\t")
    column = columns.index("input-file(s)")
    rows = [line.split("\t") for line in lines[header + 1:]]
    return any(len(row) == len(columns) and row[column] != "-" for row in rows)


def touched_steps(log: str) -> str:
    """The last "N of M steps" Snakemake's touch run reported (its progress line)."""
    found = re.findall(r"[0-9]+ of [0-9]+ steps", log)
    return found[-1] if found else "all steps"


def code_change_message(pipeline: Pipeline) -> str | None:
    """Why adopting now would be wrong when the code deps differ from the last git commit, else None."""
    proc = capture(["git", "status", "--porcelain", "--", *pipeline.code_deps])
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"git exit {proc.returncode}"
        say(f"warning: cannot ask git whether the code ({' '.join(pipeline.code_deps)}) differs from the last "
            f"commit ({why}); adopting anyway")
        return None
    if not proc.stdout.strip():
        return None
    return (f"outputs restored by DVC have no Snakemake metadata, and the workflow/package code "
            f"({' '.join(pipeline.code_deps)})\ndiffers from the last git commit, so Snakemake cannot tell which "
            "results that change makes stale.\nCommit or stash the code change, run `make adopt`, then re-apply "
            "it and rerun.")


def snakemake_has_records(tools: Tools, configfile: str) -> bool:
    """Whether Snakemake has a metadata record for any output of the workflow on ``configfile``: the config
    Snakemake is about to run, not dvc.lock's — that one may not validate against newer code (a renamed key),
    which must not stop a `dvc repro` that adopts nothing."""
    proc = capture(tools.snakemake_cmd(configfile, "--detailed-summary"))
    if proc.returncode != 0:
        SUMMARY_LOG.write_text(proc.stdout + proc.stderr)
        print(tail(SUMMARY_LOG, 15), file=sys.stderr)
        raise DvcSetupError(f"snakemake --detailed-summary failed (exit {proc.returncode}; full log: {SUMMARY_LOG})")
    return any_output_recorded(proc.stdout)


def adopt(pipeline: Pipeline, tools: Tools, *, always: bool) -> None:
    """See the module docstring; raises :class:`DvcSetupError` when adoption is needed but impossible."""
    try:
        locked = read_lock(pipeline)
    except NoLockedStage as exc:
        if always:
            say(f"nothing to adopt: {exc} (`dvc repro` records the outputs, `make pull` fetches them)")
        return  # the stage command of a first `dvc repro`: nothing was pulled
    decision = decide(locked, always=always, exists=lambda p: Path(p).exists())
    if not decision.adopt:
        if decision.reason:
            say(decision.reason)
        return
    if not always and snakemake_has_records(tools, pipeline.params_file):
        return  # Snakemake produced (or adopted) these outputs itself: it knows their params
    problem = code_change_message(pipeline)
    if problem:
        if not always:
            raise DvcSetupError(problem)
        report_error(f"not adopting: {problem}", kind="warning")
        return
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    LOCKED_CONFIG.write_text(yaml.safe_dump(locked.config, sort_keys=False))
    say("adopting DVC-restored outputs as up to date for the params in dvc.lock (snakemake --touch --forceall) …")
    cmd = tools.snakemake_cmd(str(LOCKED_CONFIG), "--cores", str(tools.cores), "--touch", "--forceall", locked=True)
    if run_logged(cmd, ADOPT_LOG) != 0:
        print(tail(ADOPT_LOG, 30), file=sys.stderr)
        raise DvcSetupError(f"snakemake --touch failed (full log: {ADOPT_LOG})")
    say(f"adopted: {touched_steps(ADOPT_LOG.read_text())} marked up to date (log: {ADOPT_LOG})")
