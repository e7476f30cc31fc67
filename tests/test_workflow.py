"""The Snakemake DAG: every shipped config dry-runs, the quick config runs end to end, a second dry run
has nothing to do, and configuration errors stop Snakemake before any job with a one-line message."""
from __future__ import annotations

import json

import pytest
import yaml

from conftest import REPO, copy_workflow, job_counts, snakemake
from unlearnbench.layout import Layout

CONFIGS = ["config.yaml"] + sorted(f"configs/{p.name}" for p in (REPO / "configs").glob("*.yaml")
                                   if p.name != "schema.yaml")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A workflow copy with stand-in files wherever a preset names a real dataset or weights file."""
    from unlearnbench.testing import write_for_config

    work = copy_workflow(tmp_path_factory.mktemp("dry"))
    for configfile in CONFIGS:
        write_for_config(yaml.safe_load((work / configfile).read_text()), work, skip_existing=True)
    return work


@pytest.mark.parametrize("configfile", CONFIGS)
def test_every_config_dry_runs(workdir, configfile):
    proc = snakemake(workdir, "--dry-run", configfile=configfile)
    assert "train_original" in proc.stdout and "train_retrain" in proc.stdout


def test_bad_config_stops_before_any_job_without_traceback(workdir, tmp_path):
    bad = tmp_path / "bad.yaml"
    cfg = yaml.safe_load((REPO / "configs" / "quick.yaml").read_text())
    cfg["train"]["lr"] = -0.5
    bad.write_text(yaml.safe_dump(cfg))
    proc = snakemake(workdir, "--dry-run", configfile=str(bad), check=False)
    assert proc.returncode != 0
    assert "invalid configuration: train.lr" in proc.stderr and "Traceback" not in proc.stderr
    assert not (workdir / "outputs").exists()


def test_quick_run_produces_every_artifact(quick_out):
    paths = Layout(quick_out)
    for path in [paths.data_files("upstream")["npz"], paths.data_sheet("upstream"), paths.data_files("similar")["meta"],
                 paths.checkpoint("original"), paths.checkpoint_meta("original"), paths.forget_set("top1_similar"),
                 paths.forget_ranking("top1_similar"), paths.run_checkpoint("random1", 0, "retrain"),
                 paths.benchmark("train_original")]:
        assert path.is_file(), path
    meta = json.loads(paths.checkpoint_meta("original").read_text())
    assert meta["arch"] == "cifar_resnet8" and meta["status"] == "ok" and len(meta["curve"]) == 2
    assert meta["data_hash"] == json.loads(paths.data_files("upstream")["meta"].read_text())["data_hash"]
    retrain = json.loads(paths.run_sidecar("random1", 0, "retrain").read_text())
    forget = json.loads(paths.forget_set("random1").read_text())
    fit = 60 - 12  # tuning carves 20 % of each class's training images into the validation split
    assert retrain["forget_hash"] == forget["forget_hash"] and retrain["n_train"] == 6 * fit - fit
    assert not list(quick_out.rglob(".*.tmp*")), "temporary files left behind"


def test_second_dry_run_has_nothing_to_do(quick_run):
    proc = snakemake(quick_run, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_editing_a_hyper_parameter_reruns_only_its_branch(quick_run, tmp_path):
    cfg = yaml.safe_load((quick_run / "configs" / "quick.yaml").read_text())
    cfg["scenarios"][2]["n"] = 31  # only the samples scenario changes
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    proc = snakemake(quick_run, "--dry-run", configfile=str(changed))
    jobs = job_counts(proc.stdout)
    assert jobs.get("select_forget_set") == 1 and jobs.get("train_retrain") == 1, jobs
    assert "train_original" not in jobs and "prepare_data" not in jobs, jobs

