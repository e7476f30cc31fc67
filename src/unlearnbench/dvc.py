"""``python -m unlearnbench.dvc pull|adopt|stage``: DVC's versioned outputs made trustworthy for Snakemake
(docs/dvc.md). Run from the repository root; ``make pull``, ``make adopt`` and the DVC stage
(``scripts/dvc_stage.sh``, the ``cmd`` of dvc.yaml) call it.

* ``pull [--remote NAME] [--jobs N] [--force]`` — fetch the outputs of dvc.lock, check that every object
  arrived, check them out, adopt them (:mod:`unlearnbench.dvc_pull`). All or nothing.
* ``adopt [--force | --if-missing]`` — record Snakemake metadata and DAG-ordered mtimes for outputs DVC
  restored, with the params dvc.lock recorded (:mod:`unlearnbench.dvc_adopt`). ``--force`` (default): always;
  ``--if-missing``: only when Snakemake has no record for any output of the workflow.
* ``stage`` — the command of dvc.yaml's stage: ``adopt --if-missing``, then Snakemake's default target on the
  params file of the stage. DVC decides *whether* to call it; Snakemake decides *what* reruns.

What the stage is called, which params file it tracks and which code it depends on are read from dvc.yaml
(:mod:`unlearnbench.dvc_project`). Defaults from the environment, as the shell scripts had them: ``CORES``
(Snakemake's ``--cores``, 2), ``REMOTE``, ``JOBS`` (parallel transfers), ``FORCE`` (non-empty: let checkout
overwrite outputs that differ from dvc.lock); ``DVC=…`` and ``SNAKEMAKE=…`` choose the executables.

Not imported by any job: nothing here is part of a rule's code hash (:mod:`unlearnbench.codegraph`).
"""
from __future__ import annotations

import argparse
import os
import sys

from unlearnbench.dvc_project import DvcSetupError, Pipeline, Tools, read_pipeline, report_error


def _count(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise DvcSetupError(f"{name}={value!r}: expected a positive whole number")
    return number


def parse_args(argv: list[str] | None, env: dict[str, str] | None = None) -> argparse.Namespace:
    """Command-line arguments, with defaults from ``env`` (the process environment by default)."""
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m unlearnbench.dvc",
                                     description="DVC-versioned outputs made trustworthy for Snakemake (docs/dvc.md)")
    parser.add_argument("--cores", default=env.get("CORES") or "2", help="Snakemake --cores (env CORES; default 2)")
    commands = parser.add_subparsers(dest="command", required=True)
    pull = commands.add_parser("pull", help="fetch → verify every object → checkout → adopt (make pull)")
    pull.add_argument("--remote", default=env.get("REMOTE") or None, help="DVC remote (env REMOTE; default: "
                      "the default remote)")
    pull.add_argument("--jobs", default=env.get("JOBS") or None, help="parallel transfers (env JOBS)")
    pull.add_argument("--force", action="store_true", default=bool(env.get("FORCE")),
                      help="let checkout overwrite outputs that differ from dvc.lock (env FORCE=1)")
    adopt = commands.add_parser("adopt", help="mark DVC-restored outputs up to date for Snakemake (make adopt)")
    mode = adopt.add_mutually_exclusive_group()
    mode.add_argument("--force", dest="always", action="store_true", default=True, help="always (default)")
    mode.add_argument("--if-missing", dest="always", action="store_false",
                      help="only when Snakemake has no record for any output of dvc.lock")
    stage = commands.add_parser("stage", help="the command of dvc.yaml's stage: adopt --if-missing, then Snakemake")
    for sub in (pull, adopt, stage):  # `--cores` is also accepted after the command
        sub.add_argument("--cores", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cores = _count("--cores/CORES", str(args.cores))
    if args.command == "pull" and args.jobs is not None:
        args.jobs = _count("--jobs/JOBS", str(args.jobs))
    return args


def run_stage(pipeline: Pipeline, tools: Tools) -> None:
    """Adopt outputs nobody recorded (plain `dvc pull`, `dvc exp run --temp`), then become Snakemake."""
    from unlearnbench.dvc_adopt import adopt

    adopt(pipeline, tools, always=False)
    cmd = tools.snakemake_cmd(pipeline.params_file, "--cores", str(tools.cores))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        raise DvcSetupError(f"cannot run {cmd[0]} ({exc.strerror}): install the project with scripts/install.sh") \
            from exc


def main(argv: list[str] | None = None) -> int:
    os.environ["HF_HUB_OFFLINE"] = "1"  # timm must not try to download while Snakemake parses the workflow
    try:
        args = parse_args(argv)
        pipeline = read_pipeline()
        tools = Tools.find(args.cores)
        if args.command == "pull":
            from unlearnbench.dvc_pull import pull

            pull(pipeline, tools, remote=args.remote, jobs=args.jobs, force=args.force)
        elif args.command == "adopt":
            from unlearnbench.dvc_adopt import adopt

            adopt(pipeline, tools, always=args.always)
        else:
            run_stage(pipeline, tools)
    except DvcSetupError as exc:
        report_error(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
