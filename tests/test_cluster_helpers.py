"""The pieces of `make test-cluster` that need no cluster: the node sized from the workflow profile, the
generated slurm.conf, and the equality check of two runs (which must fail on any changed value)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from unlearnbench.cluster import compare_roots, main, node_size, partitions, slurm_conf
from unlearnbench.results import write_results

REPO = Path(__file__).resolve().parents[1]
SLURM_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"


def _profile(tmp_path: Path, prof: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(prof))
    return path


def test_the_node_fits_the_largest_request_of_the_shipped_profile():
    prof = yaml.safe_load(SLURM_PROFILE.read_text())
    rules = prof["set-resources"].values()
    cpus, mem, gpus = node_size(SLURM_PROFILE)
    assert cpus == max(r.get("cpus_per_task", 0) for r in rules) and mem == max(r.get("mem_mb", 0) for r in rules)
    assert gpus == 1
    assert node_size(SLURM_PROFILE, slots=3) == (3 * cpus, 3 * mem, 3 * gpus)
    assert partitions(SLURM_PROFILE) == ["cpu", "gpu"]


def test_gres_threads_and_defaults_count(tmp_path):
    prof = {"default-resources": {"mem_mb": 4000, "slurm_partition": "short"},  # no cpus_per_task: threads count
            "set-resources": {"big": {"gres": "gpu:a100:2", "mem_mb": 9000, "slurm_partition": "a100"}},
            "set-threads": {"many": 12}}
    path = _profile(tmp_path, prof)
    assert node_size(path) == (12, 9000, 2)
    assert partitions(path) == ["short", "a100"]
    assert partitions(_profile(tmp_path, {})) == ["cpu"]
    with pytest.raises(SystemExit, match="slots"):
        node_size(path, slots=0)


def test_slurm_conf_names_every_partition_with_the_first_as_default():
    conf = slurm_conf(node="n1", cpus=32, mem_mb=128000, gpus=2, work="/w", munge_socket="/w/m.sock", ctld_port=7,
                      slurmd_port=8, partition_names=["cpu", "gpu"])
    lines = conf.splitlines()
    assert "NodeName=n1 CPUs=32 RealMemory=128000 Gres=gpu:2 State=UNKNOWN" in lines
    assert "PartitionName=cpu Nodes=n1 Default=YES MaxTime=INFINITE State=UP" in lines
    assert "PartitionName=gpu Nodes=n1 Default=NO MaxTime=INFINITE State=UP" in lines
    assert "AuthInfo=socket=/w/m.sock" in lines and "SlurmdParameters=config_overrides" in lines


def test_unreadable_profile_is_named(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("a: [unclosed")
    with pytest.raises(SystemExit, match="config.yaml: cannot read the profile"):
        node_size(bad)


def test_compare_finds_equal_runs_equal_and_any_changed_value(quick_out, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        shutil.copytree(quick_out, root / quick_out.name)
    assert compare_roots(a, b) == []
    assert main(["compare", str(a), str(b)]) == 0
    part = sorted((b / quick_out.name / "results").rglob("*.parquet"))[0]
    frame = pq.read_table(part).to_pandas()
    frame.loc[frame.index[0], "value"] = float(frame["value"].iloc[0]) + 1e-12
    write_results(frame, part)  # the results schema: only the one value differs
    problems = compare_roots(a, b)
    assert problems and "results differ in columns ['value']" in problems[0]
    assert main(["compare", str(a), str(b)]) == 1
    assert "results differ in columns ['value']" in capsys.readouterr().err
    shutil.rmtree(b / quick_out.name)
    assert "experiments differ" in compare_roots(a, b)[0]


def test_set_threads_lists_the_profile_rules_for_the_local_comparison_run(tmp_path):
    from unlearnbench.cluster import set_threads

    words = set_threads(REPO / "profiles" / "slurm" / "config.yaml")
    assert words and all(re.fullmatch(r"\w+=\d+", w) for w in words)
    assert "train_original=8" in words  # the shipped profile's torch rules
    profile = tmp_path / "config.yaml"
    profile.write_text("jobs: 4\n")
    assert set_threads(profile) == []
