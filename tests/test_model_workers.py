"""Model jobs in worker processes (unlearnbench.model_workers): Snakemake's job objects cross the process
boundary intact, a worker's job writes its log and [timing] line like an in-process one, a failure fails the
job with its traceback in the log, and a job computes the same bytes in a worker as on the model thread."""
from __future__ import annotations

import json
import pickle

import pytest
from snakemake.iocontainers import Namedlist

from unlearnbench import model_workers
from unlearnbench.workflow import run_script


def test_snakemake_job_fields_become_picklable_with_names_kept():
    nl = Namedlist(fromdict={"ckpt": "models/a.safetensors", "meta": "models/a.json"})
    nl.append("extra.txt")
    fields = pickle.loads(pickle.dumps(model_workers.plain(nl)))
    assert list(fields) == ["models/a.safetensors", "models/a.json", "extra.txt"]
    assert fields.ckpt == "models/a.safetensors" and fields.get("meta") == "models/a.json"
    assert fields.get("tuning") is None and set(fields.keys()) == {"ckpt", "meta"}
    with pytest.raises(AttributeError):
        fields.tuning
    assert model_workers.plain({"a": ("x", 1), "b": [2.5]}) == {"a": ("x", 1), "b": [2.5]}


SCRIPT = """
import os
from unlearnbench.workflow import logged, phase
with logged(snakemake):
    print("hello from", snakemake.wildcards.method)
    with phase("compute"):
        import torch
        torch.manual_seed(snakemake.params.seed)
        torch.set_num_threads(snakemake.threads)
        net = torch.nn.Linear(8, 3)
        x = torch.randn(64, 8)
        loss = net(x).square().mean()
        loss.backward()
    if snakemake.params.fail:
        raise RuntimeError("the job failed on purpose")
    with open(snakemake.output.out, "w") as fh:
        fh.write(repr([float(v) for v in net.weight.grad.flatten()]) + " " + str(os.getpid()))
"""


def _job(tmp_path, name, *, fail=False):
    out = tmp_path / f"{name}.txt"
    job = {"input": Namedlist(), "output": Namedlist(fromdict={"out": str(out)}),
           "params": Namedlist(fromdict={"seed": 3, "fail": fail}), "wildcards": Namedlist(fromdict={"method": name}),
           "threads": 1, "log": Namedlist([str(tmp_path / f"{name}.log")]), "rule": "unlearn"}
    return job, out, tmp_path / f"{name}.log"


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "job.py"
    path.write_text(SCRIPT)
    yield path
    model_workers.shutdown()
    model_workers.configure(1)


def test_a_job_in_a_worker_computes_what_it_computes_on_the_model_thread(script, tmp_path):
    import os

    job, out_thread, _ = _job(tmp_path, "thread")
    run_script(script, job, model=True)
    model_workers.configure(2)
    job, out_worker, log = _job(tmp_path, "worker")
    run_script(script, job, model=True)
    grads_thread, pid_thread = out_thread.read_text().rsplit(" ", 1)
    grads_worker, pid_worker = out_worker.read_text().rsplit(" ", 1)
    assert grads_worker == grads_thread                           # same bytes
    assert int(pid_thread) == os.getpid() != int(pid_worker)      # and it did run elsewhere
    lines = log.read_text().splitlines()
    assert lines[0] == "hello from worker" and lines[-1].startswith("[timing] ")
    timing = json.loads(lines[-1][len("[timing] "):])
    assert timing["compute"] > 0 and timing["wall"] >= timing["startup"] + timing["compute"] - 1e-3


def test_a_failing_job_in_a_worker_fails_with_its_traceback_in_the_log(script, tmp_path):
    model_workers.configure(2)
    job, out, log = _job(tmp_path, "bad", fail=True)
    with pytest.raises(RuntimeError, match="the job failed on purpose"):
        run_script(script, job, model=True)
    assert not out.exists()
    text = log.read_text()
    assert "Traceback" in text and "the job failed on purpose" in text and "[timing] " in text


def test_a_worker_that_dies_fails_its_job_and_the_next_job_gets_a_fresh_one(script, tmp_path):
    model_workers.configure(2)
    killer = tmp_path / "die.py"
    killer.write_text("import os\nos._exit(9)\n")
    job, _, _ = _job(tmp_path, "dies")
    with pytest.raises(RuntimeError, match="worker process running die.py died"):
        run_script(killer, job, model=True)
    job, out, _ = _job(tmp_path, "after")
    run_script(script, job, model=True)
    assert out.exists()
