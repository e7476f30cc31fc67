"""What the ``unlearnbench.dvc`` commands know about the project's DVC set-up, read from its own files.

* :func:`read_pipeline` — the one stage of ``dvc.yaml``: its name, the params file it tracks whole
  (``config.yaml``) and its code deps. Nothing repeats these lists, so they cannot drift from ``dvc.yaml``.
* :func:`read_lock` — what ``dvc.lock`` recorded for that stage: the config the outputs were built with and
  the outputs with their hashes. Both files are read as YAML in DVC's documented formats
  (https://dvc.org/doc/user-guide/project-structure/dvcyaml-files, …/dvcyaml-files#dvclock-file).
* :class:`Tools` — the dvc and snakemake executables (next to this interpreter, else on PATH) and ``--cores``.
* :func:`say` / :func:`report_error` — the ``unlearnbench: …`` lines on stderr.

Nothing here touches DVC's cache or Snakemake's metadata; the commands use their CLIs for that.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DVC_YAML = Path("dvc.yaml")
DVC_LOCK = Path("dvc.lock")
#: the project's own working files (gitignored with DVC's .dvc/tmp): logs and the locked config
WORK_DIR = Path(".dvc") / "tmp"
PREFIX = "unlearnbench: "


class DvcSetupError(Exception):
    """A problem the user has to fix; printed as ``unlearnbench: error: <message>``, exit status 1."""


class NoLockedStage(DvcSetupError):
    """dvc.lock is absent, empty or has no entry for the stage: ``dvc repro`` has not recorded it yet. The
    message says which ("no dvc.lock"); callers add what that means for them."""


def say(message: str) -> None:
    """One message on stderr, every line prefixed ``unlearnbench: ``."""
    for line in message.splitlines() or [""]:
        print(PREFIX + line, file=sys.stderr, flush=True)


def format_block(kind: str, message: str) -> str:
    """``error: first line`` with later lines aligned under it; lines indented by 4 spaces (lists of paths)
    are left without the prefix, as the shell scripts printed them."""
    head, *rest = message.splitlines() or [""]
    lines = [f"{PREFIX}{kind}: {head}"]
    for line in rest:
        lines.append(line if line.startswith("    ") else f"{PREFIX}{' ' * (len(kind) + 2)}{line}")
    return "\n".join(lines)


def report_error(message: str, kind: str = "error") -> None:
    print(format_block(kind, message), file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------- dvc.yaml
@dataclass(frozen=True)
class Pipeline:
    """The single stage of dvc.yaml, as the commands need it."""

    stage: str  # its name ("benchmark")
    params_file: str  # the params file it tracks whole ("config.yaml"): the experiment Snakemake runs
    code_deps: tuple[str, ...]  # its deps other than the params file: workflow and package code


def _load_yaml(text: str, source: str, expected: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise DvcSetupError(f"{source}: not valid YAML{where}: {problem}; expected {expected}") from exc


def parse_pipeline(text: str, source: str = str(DVC_YAML)) -> Pipeline:
    """The stage of a dvc.yaml text (see :class:`Pipeline`); errors name the key and what was expected."""
    doc = _load_yaml(text, source, "a DVC pipeline file with one stage")
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict) or len(stages) != 1:
        found = sorted(stages) if isinstance(stages, dict) else "no `stages` mapping"
        raise DvcSetupError(f"{source}: `stages` must hold exactly one stage (the Snakemake workflow), got {found}")
    (name, spec), = stages.items()
    if not isinstance(spec, dict):
        raise DvcSetupError(f"{source}: stages.{name}: expected a mapping with cmd, deps, params and outs")
    params = spec.get("params")
    # `- config.yaml:` parses as {"config.yaml": None}: the whole file (a list of keys would track only those)
    whole = [file for entry in params if isinstance(entry, dict) for file, keys in entry.items() if not keys] \
        if isinstance(params, list) else []
    if len(whole) != 1 or len(params) != 1:
        raise DvcSetupError(f"{source}: stages.{name}.params: expected exactly one params file tracked whole "
                            f"(`- config.yaml:`), got {params!r}")
    deps = spec.get("deps")
    if not isinstance(deps, list) or not deps:
        raise DvcSetupError(f"{source}: stages.{name}.deps: expected a list of paths, got {deps!r}")
    for i, dep in enumerate(deps):
        if not isinstance(dep, str) or "${" in dep:
            raise DvcSetupError(f"{source}: stages.{name}.deps[{i}]: expected a literal path (no ${{…}} "
                                f"interpolation: git checks it for code changes), got {dep!r}")
    return Pipeline(stage=name, params_file=whole[0], code_deps=tuple(d for d in deps if d != whole[0]))


def read_pipeline(path: Path = DVC_YAML) -> Pipeline:
    if not path.is_file():
        raise DvcSetupError(f"{path} not found in {Path.cwd()}: run this from the repository root (the folder "
                            "that holds dvc.yaml)")
    return parse_pipeline(path.read_text(), str(path))


# ------------------------------------------------------------------------------------------------- dvc.lock
@dataclass(frozen=True)
class LockedOutput:
    path: str
    md5: str | None  # "<hash>.dir" for a directory; None for an output DVC does not cache


@dataclass(frozen=True)
class LockedStage:
    """What dvc.lock recorded for the stage: the whole params file and the outputs built from it."""

    config: dict
    outs: tuple[LockedOutput, ...]

    @property
    def paths(self) -> list[str]:
        return [o.path for o in self.outs]


LOCK_FORMAT = "DVC's lock file (`stages: {stage}: {{params: {{{params}: …}}, outs: [{{path, md5}}, …]}}`)"


def parse_lock(text: str, pipeline: Pipeline, source: str = str(DVC_LOCK)) -> LockedStage:
    """The stage's entry of a dvc.lock text. :class:`NoLockedStage` when the lock has no entry for the stage,
    :class:`DvcSetupError` naming the key when it is not in DVC's format."""
    stage, params_file = pipeline.stage, pipeline.params_file
    expected = LOCK_FORMAT.format(stage=stage, params=params_file)
    doc = _load_yaml(text, source, expected)
    if doc is None:
        raise NoLockedStage(f"{source} is empty")
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        raise DvcSetupError(f"{source}: expected a mapping with a `stages` key, as in {expected}")
    if stage not in stages:
        raise NoLockedStage(f"{source} has no stage '{stage}' (it records {sorted(stages)})")
    entry = stages[stage]
    key = f"{source}: stages.{stage}"
    if not isinstance(entry, dict):
        raise DvcSetupError(f"{key}: expected a mapping with `params` and `outs`, as in {expected}")
    params = entry.get("params")
    config = params.get(params_file) if isinstance(params, dict) else None
    if not isinstance(config, dict):
        raise DvcSetupError(f"{key}.params.{params_file}: expected the whole {params_file} as a mapping (is "
                            f"dvc.lock older than dvc.yaml? `dvc repro` rewrites it), got {config!r}")
    outs = entry.get("outs")
    if not isinstance(outs, list) or not outs:
        raise DvcSetupError(f"{key}.outs: expected a list of outputs ({{path, md5}}), got {outs!r}")
    parsed = []
    for i, out in enumerate(outs):
        md5 = out.get("md5") if isinstance(out, dict) else None
        if not isinstance(out, dict) or not isinstance(out.get("path"), str) or not isinstance(md5, (str, type(None))):
            raise DvcSetupError(f"{key}.outs[{i}]: expected a mapping with a `path` string and an `md5` hash, "
                                f"got {out!r}")
        parsed.append(LockedOutput(out["path"], md5))
    return LockedStage(config=config, outs=tuple(parsed))


def read_lock(pipeline: Pipeline, path: Path = DVC_LOCK) -> LockedStage:
    if not path.is_file():
        raise NoLockedStage(f"no {path}")
    return parse_lock(path.read_text(), pipeline, str(path))


# -------------------------------------------------------------------------------------------------- tools
def _executable(name: str) -> str:
    """``$NAME`` from the environment (DVC=…, SNAKEMAKE=…), else the one installed next to this interpreter
    (the project's .venv), else the one on PATH."""
    if os.environ.get(name.upper()):
        return os.environ[name.upper()]
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name) or name


@dataclass(frozen=True)
class Tools:
    dvc: str
    snakemake: str
    cores: int

    @classmethod
    def find(cls, cores: int) -> Tools:
        return cls(dvc=_executable("dvc"), snakemake=_executable("snakemake"), cores=cores)

    def snakemake_cmd(self, configfile: str, *args: str, locked: bool = False) -> list[str]:
        """Snakemake on the project's profile with ``configfile``; ``locked``: exactly that config
        (``--replace-workflow-config``) — otherwise Snakemake merges it over config.yaml, and a key added
        since (say a method's `lr`) would leak into the recorded params and hide the change."""
        cmd = [self.snakemake, "--workflow-profile", "profiles/default", "--configfile", configfile]
        return cmd + (["--replace-workflow-config"] if locked else []) + list(args)


def run_logged(cmd: list[str], log: Path) -> int:
    """Run ``cmd`` with stdout and stderr in ``log``; its exit status."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        try:
            return subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
        except FileNotFoundError as exc:
            raise DvcSetupError(f"{cmd[0]} not found ({exc.strerror}): install the project with "
                                "scripts/install.sh") from exc


def capture(cmd: list[str]) -> subprocess.CompletedProcess:
    """Run ``cmd``, its output captured as text."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise DvcSetupError(f"{cmd[0]} not found ({exc.strerror}): install the project with "
                            "scripts/install.sh") from exc


def tail(path: Path, lines: int) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
