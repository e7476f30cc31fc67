"""Cluster profiles: the SLURM and Kubernetes workflow profiles dry-run without a cluster, GPU rules ask
for a GPU, and the torch rules declare `gpu=1` themselves when the configured device is CUDA."""
from __future__ import annotations

import os

import pytest
import yaml

from conftest import REPO, copy_workflow

GPU_RULES = ("train_original", "train_original_prime", "train_retrain", "tune", "unlearn", "extract_features", "attack")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("profiles"))


def _resources(stdout: str) -> dict[str, set[str]]:
    """rule name → the `resources:` lines of its jobs in a dry run's job listing."""
    out: dict[str, set[str]] = {}
    rule = None
    for line in stdout.splitlines():
        if line.startswith("rule ") and line.rstrip().endswith(":"):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("resources:") and rule:
            out.setdefault(rule, set()).add(line.strip())
    return out


def _dry(workdir, profile: str, *args: str):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("snakemake")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KUBECONFIG": str(workdir / "no-such-kubeconfig")}
    proc = subprocess.run([str(exe), "--workflow-profile", f"profiles/{profile}", "--configfile", "configs/quick.yaml",
                           "--dry-run", *args], cwd=workdir, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_slurm_profile_dry_runs_and_requests_gpus(workdir):
    import snakemake_executor_plugin_slurm  # noqa: F401  (a declared dev dependency: missing = failure)
    proc = _dry(workdir, "slurm")
    res = _resources(proc.stdout)
    for rule in GPU_RULES:
        assert res.get(rule), (rule, sorted(res))
        assert all("gpu=1" in r and "slurm_partition=gpu" in r for r in res[rule]), res[rule]
    assert all("gpu=" not in r and "slurm_partition=cpu" in r for r in res["select_forget_set"])
    assert all("runtime=120" in r for r in res["evaluate"])


def test_kubernetes_profile_dry_runs_without_a_cluster(workdir):
    import snakemake_executor_plugin_kubernetes  # noqa: F401  (declared dev dependencies: missing = failure)
    import snakemake_storage_plugin_fs  # noqa: F401
    proc = _dry(workdir, "kubernetes")
    res = _resources(proc.stdout)
    for rule in GPU_RULES:
        assert all("gpu=1" in r and "gpu_manufacturer=nvidia" in r for r in res[rule]), res[rule]
    cfg = yaml.safe_load((REPO / "profiles" / "kubernetes" / "config.yaml").read_text())
    assert cfg["executor"] == "kubernetes" and cfg["container-image"] and cfg["kubernetes-namespace"]


def test_torch_rules_declare_a_gpu_on_cuda(workdir):
    cuda = _resources(_dry(workdir, "default", "--config", "device=cuda").stdout)
    for rule in GPU_RULES:
        assert all("gpu=1" in r for r in cuda[rule]), (rule, cuda[rule])
    assert not any("gpu=" in r for r in cuda["select_forget_set"] | cuda["evaluate"])
    # (the CPU case, no `gpu` anywhere, is asserted by the preset dry runs in test_datasets.py)
