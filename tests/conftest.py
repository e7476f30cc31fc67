"""Shared fixtures: offline timm, tiny generated data, and one end-to-end run of configs/quick.yaml."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Test modules import timm directly; on a CPU torch the registry's torchvision needs the shim first.
import unlearnbench._torchvision_shim  # noqa: E402,F401
REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "rules", "workflow_scripts", "configs", "config.yaml", "profiles", "report", "envs")


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow (not outputs) into ``dest`` so a test run cannot touch the user's outputs/."""
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def snakemake(workdir: Path, *args: str, configfile: str = "configs/quick.yaml",
              check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow's Snakemake (from this interpreter's environment) in ``workdir``."""
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe), "--workflow-profile", "profiles/default", "--configfile", configfile, "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(autouse=True)
def one_torch_thread_per_worker():
    """Under pytest-xdist (``make test``: two workers on two cores) every test starts on one torch thread: two
    workers of two threads each oversubscribe the cores, and torch's waiting threads then slowed a training
    test 5× (test_synthetic's data-property test: 283 s instead of 55 s)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest single-threaded (and do not oversubscribe a shared 2-core machine); test
    modules of tiny method runs use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> Path:
    """configs/quick.yaml run once through the whole default target; returns the work directory."""
    work = copy_workflow(tmp_path_factory.mktemp("quick"))
    snakemake(work)
    return work


@pytest.fixture(scope="session")
def quick_out(quick_run) -> Path:
    cfg = yaml.safe_load((quick_run / "configs" / "quick.yaml").read_text())
    return quick_run / "outputs" / cfg["experiment"]


def job_counts(stdout: str) -> dict[str, int]:
    """Rule → job count from the first 'Job stats' table Snakemake prints (``total`` and ``all`` left out)."""
    counts, in_table = {}, False
    for line in stdout.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "all"):
                counts[parts[0]] = int(parts[1])
            elif parts and parts[0] == "total":
                break
    return counts


def package_copy(quick_run: Path, dest: Path) -> Path:
    """The quick run (outputs hard-linked: a dry run never writes them) with its own copy of the installed
    package, for tests that edit a module and dry-run (the copy's ``src`` goes first on ``PYTHONPATH``)."""
    import unlearnbench

    shutil.copytree(quick_run, dest, ignore=shutil.ignore_patterns("outputs", "src"))
    shutil.copytree(quick_run / "outputs", dest / "outputs", copy_function=os.link)
    shutil.copytree(Path(unlearnbench.__file__).resolve().parent.parent, dest / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def package_dry_run(work: Path, *args: str) -> str:
    """stdout of a dry run of the quick preset in a :func:`package_copy`, with its own package."""
    exe = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run([str(exe), "--workflow-profile", "profiles/default", "--configfile", "configs/quick.yaml",
                           "--cores", "2", "--dry-run", *args], cwd=work, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(work / "src")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout

