"""Crash safety under `kill -9`: a checkpoint or feature cache (data file + JSON sidecar) appears as one
unit, and a killed run resumes to the same results as an uninterrupted one."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from unlearnbench.checkpoints import CheckpointError, load_checkpoint, read_meta
from unlearnbench.features import FeaturesError, read_features_meta
from unlearnbench.layout import Layout
from unlearnbench.report import layout

KILL_AFTER_FIRST_RENAME = textwrap.dedent("""
    import os, signal
    from unlearnbench import atomic
    real, done = os.replace, []
    def replace(a, b):
        real(a, b)
        done.append(b)
        if len(done) == {after}:
            os.kill(os.getpid(), signal.SIGKILL)
    atomic.os.replace = replace
""")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_a_writer_killed_between_sidecar_and_weights_leaves_no_complete_looking_checkpoint(tmp_path):
    path = tmp_path / "m.safetensors"
    write = textwrap.dedent(f"""
        import torch
        from unlearnbench.checkpoints import save_checkpoint
        from unlearnbench.models import create_model
        torch.manual_seed({{seed}})
        save_checkpoint({str(path)!r}, create_model("cifar_resnet8", 4), {{{{"arch": "cifar_resnet8",
                        "num_classes": 4, "version": {{seed}}}}}})
    """)
    assert _run(write.format(seed=1)).returncode == 0
    first = read_meta(path)
    assert first["version"] == 1 and len(first["weights_sha256"]) == 64
    killed = _run(KILL_AFTER_FIRST_RENAME.format(after=1) + write.format(seed=2))
    assert killed.returncode == -signal.SIGKILL
    assert json.loads((tmp_path / "m.safetensors.json").read_text())["version"] == 2  # the sidecar moved first
    for read in (read_meta, load_checkpoint):  # … beside the old weights: rejected, naming the file
        with pytest.raises(CheckpointError, match=r"m\.safetensors does not match its sidecar.*interrupted"):
            read(path)
    assert _run(write.format(seed=2)).returncode == 0  # rerunning the job repairs it
    assert read_meta(path)["version"] == 2 and load_checkpoint(path)[1]["version"] == 2


def test_a_features_writer_killed_between_renames_is_detected(tmp_path):
    from safetensors.numpy import save_file

    from unlearnbench.atomic import atomic_pair

    out = tmp_path / "f.safetensors"
    with atomic_pair(out, tmp_path / "f.safetensors.json", {"n": 1}, digest_key="sha256") as tmp:
        save_file({"x": __import__("numpy").zeros(3)}, str(tmp))
    assert read_features_meta(out)["n"] == 1
    code = KILL_AFTER_FIRST_RENAME.format(after=1) + textwrap.dedent(f"""
        import numpy as np
        from safetensors.numpy import save_file
        from unlearnbench.atomic import atomic_pair
        with atomic_pair({str(out)!r}, {str(out) + ".json"!r}, {{"n": 2}}, digest_key="sha256") as tmp:
            save_file({{"x": np.ones(3)}}, str(tmp))
    """)
    assert _run(code).returncode == -signal.SIGKILL
    with pytest.raises(FeaturesError, match="do not match their sidecar"):
        read_features_meta(out)


def _snakemake_cmd(work):
    exe = os.path.join(os.path.dirname(sys.executable), "snakemake")
    return [exe, "--workflow-profile", "profiles/default", "--configfile", "configs/quick.yaml", "--cores", "2"]


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_to_the_uninterrupted_result(quick_out, tmp_path):
    """SIGKILL a cold quick run once some models exist; `make run`'s resume (unlearnbench.resume: the stale
    lock removed, then Snakemake) completes it to results equal to an uninterrupted run's."""
    import pandas as pd

    from conftest import copy_workflow

    (tmp_path / "work").mkdir()
    work = copy_workflow(tmp_path / "work")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(_snakemake_cmd(work), cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    models = Layout(work / "outputs" / "quick").models_dir()
    deadline = time.time() + 300
    while len(list(models.rglob("*.safetensors"))) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert list((work / ".snakemake" / "locks").iterdir()), "a killed run leaves its lock behind"
    resumed = subprocess.run([sys.executable, "-m", "unlearnbench.resume", *_snakemake_cmd(work)[1:]], cwd=work,
                             env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "removed the stale lock" in resumed.stdout + resumed.stderr
    cols = ["scenario", "seed", "method", "evalset", "split", "metric", "variant", "layer", "reference", "value"]
    got = pd.read_parquet(layout.results_table(work / "outputs" / "quick"))[cols]
    want = pd.read_parquet(layout.results_table(quick_out))[cols]
    key = cols[:-1]
    got, want = got.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
