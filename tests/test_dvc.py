"""DVC integration (dvc.yaml, scripts/dvc_*.sh, docs/dvc.md) on the quick config, in temporary git repositories
with a temporary local remote: push → clone → pull leaves Snakemake nothing to do with byte-identical outputs;
`dvc repro` is idempotent; after a plain `dvc pull`, one changed hyper-parameter reruns only its branch; metrics
and plots render; a pull from an empty remote, a missing remote or a remote missing an object fails with a clear
message and leaves nothing that Snakemake would take for a finished output.

No full run here: the producer repository adopts the outputs (and Snakemake metadata) of the session fixture
`quick_run`, and its `dvc repro` only confirms that Snakemake has nothing to do.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, job_counts, snakemake
from unlearnbench.layout import ARTIFACT_DIRS

BIN = Path(sys.executable).parent
DVC = BIN / "dvc"


def test_dvc_is_installed_next_to_this_interpreter():
    """dvc is a declared dependency (pyproject.toml): a missing dvc fails here instead of skipping the rest."""
    assert DVC.exists(), f"{DVC} missing: reinstall with scripts/install.sh"

# What a clone of the project holds besides the workflow files of the quick run (taken from quick_run itself so
# that they match its outputs and metadata).
PROJECT_FILES = ("dvc.yaml", ".dvcignore", ".gitignore", "scripts", "envs", "Makefile")
EXPERIMENT_OUTS = ARTIFACT_DIRS  # dvc.yaml versions every artifact folder of the layout
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
       "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.org", "DVC_NO_ANALYTICS": "1"}


def sh(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(cwd, DVC, *args, check=check)


def out_hashes(work: Path, experiment: str) -> dict[str, str]:
    """SHA-256 of every file of the DVC-tracked outputs of one experiment."""
    root = work / "outputs" / experiment
    return {str(p.relative_to(work)): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in EXPERIMENT_OUTS for p in sorted((root / sub).rglob("*")) if p.is_file()}


def output_files(work: Path) -> list[Path]:
    return [p for p in (work / "outputs").rglob("*") if p.is_file()] if (work / "outputs").exists() else []


def clone(src: Path, dest: Path) -> Path:
    sh(dest.parent, "git", "clone", "-q", str(src), str(dest))
    return dest


@pytest.fixture(scope="module")
def experiment(quick_run) -> str:
    return yaml.safe_load((quick_run / "configs" / "quick.yaml").read_text())["experiment"]


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dvc_remote")


@pytest.fixture(scope="module")
def producer(quick_run, remote, tmp_path_factory) -> Path:
    """A git + DVC repository whose config.yaml is the quick config, holding quick_run's outputs as if it had run
    them; `dvc repro` records dvc.lock, `dvc push` fills the remote, and both are committed."""

    work = tmp_path_factory.mktemp("dvc_producer")
    for name in ("Snakefile", "rules", "workflow_scripts", "configs", "profiles", "report"):
        src = quick_run / name
        if src.is_dir():
            shutil.copytree(src, work / name)
        elif src.exists():
            shutil.copy2(src, work / name)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, work / name)
    shutil.copytree(REPO / "src" / "unlearnbench", work / "src" / "unlearnbench",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (work / ".dvc").mkdir()
    for name in ("config", ".gitignore"):
        shutil.copy2(REPO / ".dvc" / name, work / ".dvc" / name)
    # config.yaml := what quick_run's Snakemake saw (a `--configfile` preset replaces config.yaml), so that the
    # DVC params file and the stage's `--configfile config.yaml` describe exactly quick_run's outputs.
    cfg = yaml.safe_load((quick_run / "configs" / "quick.yaml").read_text())
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    # The quick run's outputs and its Snakemake metadata, mtimes preserved: this repository "ran" them.
    shutil.copytree(quick_run / "outputs", work / "outputs")
    shutil.copytree(quick_run / ".snakemake" / "metadata", work / ".snakemake" / "metadata")

    sh(work, "git", "init", "-q")
    dvc(work, "remote", "modify", "local", "url", str(remote))
    sh(work, "git", "add", "-A")
    sh(work, "git", "commit", "-qm", "quick experiment")
    proc = dvc(work, "repro")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]
    dvc(work, "push")
    sh(work, "git", "add", "dvc.lock")
    sh(work, "git", "commit", "-qm", "dvc.lock")
    return work


@pytest.fixture(scope="module")
def pulled(producer, tmp_path_factory) -> Path:
    """A fresh clone after `make pull` (scripts/dvc_pull.sh)."""
    work = clone(producer, tmp_path_factory.mktemp("dvc_pulled") / "clone")
    proc = sh(work, "bash", "scripts/dvc_pull.sh")
    assert "adopted" in proc.stderr, proc.stderr
    return work


def test_dvc_yaml_tracks_config_and_persists_every_out(producer, experiment):
    lock = yaml.safe_load((producer / "dvc.lock").read_text())["stages"]["benchmark"]
    assert lock["params"]["config.yaml"]["experiment"] == experiment
    assert {o["path"] for o in lock["outs"]} == {f"outputs/{experiment}/{sub}" for sub in EXPERIMENT_OUTS}
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["benchmark"]
    assert all(next(iter(o.values()))["persist"] is True for o in stage["outs"])


def test_round_trip_pull_leaves_snakemake_nothing_to_do(producer, pulled, experiment):
    assert out_hashes(pulled, experiment) == out_hashes(producer, experiment)
    assert len(out_hashes(pulled, experiment)) > 50
    proc = snakemake(pulled, "--dry-run", configfile="config.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert "missing provenance/metadata" not in proc.stdout + proc.stderr


def test_repro_after_pull_is_idempotent(pulled):
    for _ in range(2):
        proc = dvc(pulled, "repro")
        out = proc.stdout + proc.stderr
        assert "didn't change, skipping" in out and "Running stage" not in out, out
    assert "up to date" in dvc(pulled, "status").stdout


def test_hyper_parameter_change_after_plain_dvc_pull_reruns_only_its_branch(producer, tmp_path, experiment):
    """A plain `dvc pull` (no `make pull`): the stage adopts the outputs for dvc.lock's params first, so that
    Snakemake sees only the changed hyper-parameter — one unlearning job, its features and evaluation, then
    aggregation and report."""
    work = clone(producer, tmp_path / "clone")
    dvc(work, "pull")
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    scoped = {m: spec["scenarios"] for m, spec in cfg["methods"].items() if spec.get("scenarios")}
    assert scoped, "the quick config must keep a method restricted to some scenarios (the cheapest branch)"
    method = min(scoped, key=lambda m: len(scoped[m]))  # the cheapest branch (boundary_shrink on one scenario)
    n = len(scoped[method])
    cfg["methods"][method]["lr"] = 0.0123
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    before = out_hashes(work, experiment)

    proc = dvc(work, "repro")
    out = proc.stdout + proc.stderr
    assert "adopting DVC-restored outputs" in out, out[-3000:]
    jobs = job_counts(out)  # Snakemake logs to stderr
    evalsets = 2 + len(cfg["data"]["downstream"])  # one extraction job per (model, eval set)
    assert jobs.get("unlearn") == n and jobs.get("extract_features") == n * evalsets and jobs.get("evaluate") == n, jobs
    assert jobs.get("aggregate") == 1, jobs
    assert not {"prepare_data", "train_original", "select_forget_set", "train_retrain"} & set(jobs), jobs
    after = out_hashes(work, experiment)
    changed = {p for p in after if before.get(p) != after[p]}
    assert all(f"/{method}" in p or "/summary/" in p or "/report/" in p for p in changed), sorted(changed)
    assert not any("/original" in p and "/models/" in p for p in changed)
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]["benchmark"]
    assert lock["params"]["config.yaml"]["methods"][method]["lr"] == 0.0123
    again = dvc(work, "repro")
    assert "didn't change, skipping" in again.stdout + again.stderr


def test_metrics_and_plots_show(producer, experiment, tmp_path):
    metrics = dvc(producer, "metrics", "show", "--json")
    assert f"outputs/{experiment}/report/metrics.json" in metrics.stdout, metrics.stdout[-2000:]
    plots = dvc(producer, "plots", "show", "--json", "-o", str(tmp_path / "plots"))
    assert "logit_vs_repr.csv" in plots.stdout, plots.stdout[-2000:]
    dvc(producer, "plots", "show", "-o", str(tmp_path / "html"))
    assert (tmp_path / "html" / "index.html").is_file()


@pytest.mark.parametrize("case", ["empty", "absent", "missing_object"])
def test_pull_from_a_bad_remote_fails_clearly_and_changes_nothing(producer, remote, tmp_path, case):
    work = clone(producer, tmp_path / "clone")
    bad = tmp_path / "remote"
    if case == "empty":
        bad.mkdir()
    elif case == "missing_object":
        shutil.copytree(remote, bad)
        victim = next(p for p in sorted(bad.rglob("*")) if p.is_file() and not p.name.endswith(".dir"))
        victim.unlink()
    dvc(work, "remote", "modify", "--local", "local", "url", str(bad))

    proc = sh(work, "bash", "scripts/dvc_pull.sh", check=False)
    assert proc.returncode != 0
    if case == "absent":
        assert "does not exist" in proc.stderr and "Nothing was changed" in proc.stderr, proc.stderr
    else:
        expected = "has none of the outputs" if case == "empty" else "lacks objects of dvc.lock"
        assert expected in proc.stderr, proc.stderr
        assert "Nothing in the workspace was changed" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert output_files(work) == []
    if case == "empty":
        # DVC's own pull also fails here; it leaves at most empty folders, nothing Snakemake takes as finished.
        assert dvc(work, "pull", check=False).returncode != 0
        assert output_files(work) == []
        dry = snakemake(work, "--dry-run", configfile="config.yaml")
        assert job_counts(dry.stdout + dry.stderr).get("train_original") == 1
