"""Job structure (docs/performance.md): jobs run in the Snakemake process, light jobs never import torch,
partial reruns stay exact, and two cold runs give byte-identical results."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import yaml

from conftest import copy_workflow, job_counts, snakemake
from unlearnbench.layout import Layout

HEAVY = ("torch", "torchvision", "timm")
LIGHT_RULES = ("prepare_data", "select_forget_set", "evaluate", "aggregate", "leaderboard", "plots", "exports")


def _imported(stderr: str) -> set[str]:
    """Top-level module names from ``python -X importtime`` output."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_light_jobs_and_dag_parsing_never_import_torch(quick_run, tmp_path):
    """Rerun every light rule (and only those) in one Snakemake process and list what it imported."""
    work = tmp_path / "work"
    shutil.copytree(quick_run, work, symlinks=True)
    cmd = [sys.executable, "-X", "importtime", "-m", "snakemake", "--workflow-profile", "profiles/default",
           "--configfile", "configs/quick.yaml", "--cores", "2", "--allowed-rules", *LIGHT_RULES,
           "--forcerun", *LIGHT_RULES]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    ran = job_counts(proc.stdout + proc.stderr)
    assert set(ran) == set(LIGHT_RULES), ran  # every light rule ran, no model rule did
    assert not _imported(proc.stderr) & set(HEAVY), sorted(_imported(proc.stderr) & set(HEAVY))


def test_model_jobs_run_in_the_snakemake_process(quick_out):
    """Every job's log ends with its timing line; model jobs after the first paid no torch import."""
    timing = {}
    logs = Layout(quick_out).logs_dir()
    for log in logs.glob("**/*.log"):
        last = log.read_text().splitlines()[-1]
        assert last.startswith("[timing] "), log
        timing[log.relative_to(logs).as_posix()] = json.loads(last[len("[timing] "):])
    unlearn = [t for k, t in timing.items() if k.startswith("unlearn/")]
    assert unlearn and max(t["startup"] for t in unlearn) < 1.0, unlearn  # a fresh process needs seconds
    assert all(t["compute"] > 0 for k, t in timing.items() if k.startswith(("train", "unlearn", "extract")))


def test_changing_one_method_reruns_only_its_model_features_and_reports(quick_run, tmp_path):
    cfg = yaml.safe_load((quick_run / "configs" / "quick.yaml").read_text())
    cfg["methods"]["bs"]["lr"] = 0.002  # bs runs on random1 only
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    jobs = job_counts(snakemake(quick_run, "--dry-run", configfile=str(changed)).stdout)
    evalsets = 2 + len(cfg["data"]["downstream"])  # one extraction job per (model, eval set)
    assert jobs == {"unlearn": 1, "extract_features": evalsets, "evaluate": 1, "attack": 1, "aggregate": 1,
                    "leaderboard": 1, "plots": 1, "exports": 1}, jobs


def test_adding_a_downstream_set_retrains_and_reunlearns_nothing(quick_run, tmp_path):
    cfg = yaml.safe_load((quick_run / "configs" / "quick.yaml").read_text())
    cfg["data"]["downstream"]["extra"] = {"type": "synthetic_downstream", "kind": "unrelated", "classes": 2,
                                          "train_per_class": 10, "test_per_class": 5, "seed": 3}
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    jobs = job_counts(snakemake(quick_run, "--dry-run", configfile=str(changed)).stdout)
    assert jobs.get("prepare_data") == 1, jobs
    assert not {"train_original", "train_retrain", "unlearn", "select_forget_set"} & set(jobs), jobs
    models = len(list(Layout.for_config(cfg, quick_run).models_dir().rglob("*.safetensors")))
    assert jobs.get("extract_features") == models, jobs  # every model gains the new eval set: one pass each


def test_two_cold_runs_give_byte_identical_results(quick_out, tmp_path):
    (tmp_path / "second").mkdir()
    work = copy_workflow(tmp_path / "second")
    snakemake(work)
    first, second = Layout(quick_out), Layout(work / "outputs" / quick_out.name)
    for artifact in ["results_table", "summary_table"]:
        assert getattr(first, artifact)().read_bytes() == getattr(second, artifact)().read_bytes(), artifact
    for model in ["original", "unlearn/random1/seed0/ga"]:
        assert first.checkpoint(model).read_bytes() == second.checkpoint(model).read_bytes(), model
    assert first.features("original", "train").read_bytes() == second.features("original", "train").read_bytes()


def test_logged_keeps_each_threads_output_in_its_own_log(tmp_path):
    from unlearnbench.workflow import logged, phase

    def job(name: str) -> None:
        with logged(SimpleNamespace(log=[str(tmp_path / f"{name}.log")])):
            with phase("compute"):
                for i in range(50):
                    print(f"{name} line {i}")
                    time.sleep(0.001)

    threads = [threading.Thread(target=job, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, other in (("a", "b"), ("b", "a")):
        lines = (tmp_path / f"{name}.log").read_text().splitlines()
        assert lines[:-1] == [f"{name} line {i}" for i in range(50)]
        timing = json.loads(lines[-1].removeprefix("[timing] "))
        assert timing["compute"] >= 0.05 and timing["startup"] < timing["compute"]
        assert not any(line.startswith(other) for line in lines)


def test_run_script_serialises_model_jobs(tmp_path):
    """Two model jobs started together never overlap (torch's RNG and thread count are process-wide)."""
    from unlearnbench.workflow import run_script

    script, spans = tmp_path / "job.py", tmp_path / "spans.txt"
    script.write_text("import time\nt0 = time.perf_counter()\ntime.sleep(0.2)\n"
                      "with open(snakemake.params.spans, 'a') as fh:\n"
                      "    fh.write(f'{t0} {time.perf_counter()}\\n')\n")
    job = {"input": [], "output": [], "params": SimpleNamespace(spans=str(spans)), "log": []}
    threads = [threading.Thread(target=run_script, args=(script, job), kwargs={"model": True}) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a0, a1), (b0, b1) = sorted(tuple(map(float, line.split())) for line in spans.read_text().splitlines())
    assert a1 <= b0


def test_floor_seeds_train_and_evaluate_original_prime_on_the_first_seeds_only(tmp_path):
    """`floor_seeds: 2` of three replicate seeds: two original′ models (seeds 0 and 1), evaluated on each scenario;
    the retrained references and the methods keep all three seeds."""
    work = copy_workflow(tmp_path)
    cfg = yaml.safe_load((work / "configs" / "quick.yaml").read_text())
    cfg.update(seeds=[0, 1, 2], floor_seeds=2)
    (work / "floor.yaml").write_text(yaml.safe_dump(cfg))
    listing = snakemake(work, "--dry-run", configfile="floor.yaml").stdout
    jobs = job_counts(listing)
    assert jobs["train_original_prime"] == 2 and jobs["train_retrain"] == 3 * len(cfg["scenarios"]), jobs
    assert "original_prime/seed2" not in listing and "original_prime/seed1" in listing
    (work / "every.yaml").write_text(yaml.safe_dump({**cfg, "floor_seeds": None}))
    full = job_counts(snakemake(work, "--dry-run", configfile="every.yaml").stdout)
    assert full["train_original_prime"] == 3 and full["evaluate"] - jobs["evaluate"] == len(cfg["scenarios"]), full
