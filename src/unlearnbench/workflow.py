"""How the rules run the thin ``workflow_scripts``: in the Snakemake process, logged and timed per job.

Every rule is a ``run:`` job that calls :func:`run_script`; with ``force-use-threads`` (the default
profile) Snakemake runs it in a thread of its own process, so torch and timm are imported once per
``snakemake`` invocation instead of once per job (≈ 4–7 s each on a 2-core machine; see
docs/performance.md). On clusters each job is its own ``snakemake`` process, which runs the same code.

- :func:`logged` sends a job's ``print``/tqdm/warnings output to its ``log:`` file. The redirection is
  thread-local, so two jobs running side by side never write into each other's logs.
- Model jobs (``model=True``: training, unlearning, extraction) run one at a time on one dedicated thread,
  :data:`MODEL_WORKER`: torch's global RNG, thread count and deterministic-algorithm switch are
  process-wide, so two model jobs must never interleave, and torch's OpenMP thread team belongs to the
  thread that created it (measured: a training job on a fresh Snakemake pool thread after a job on
  another thread ran at ~0.6× speed; on the same thread at full speed). Every job seeds itself, so it
  computes exactly what it would in a fresh process. When the cores allow several model jobs at once
  (``--cores`` ≥ 2 × ``threads``), they run in persistent worker processes instead, one job at a time
  in each (:mod:`unlearnbench.model_workers`).
- numpy/scipy BLAS is pinned to one thread for the whole process (:func:`pin_blas_threads`): metric values
  then never depend on how many threads OpenBLAS used (a concurrent job changing a process-wide limit
  made CKA differ in the 9th digit between two cold runs). Light jobs get their parallelism by running
  side by side; torch has its own thread pool (``torch.set_num_threads`` in model jobs).
- :func:`phase` times what a job spends loading, computing and writing; the log's last line is
  ``[timing] {...}`` with ``startup`` (job start → first phase: imports and set-up), the phases and the
  wall time, which ``benchmarks/run_default.py`` turns into the cost model.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

#: the one thread that runs every model job of this process (see the module docstring)
MODEL_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unlearnbench-model")
_LOCAL = threading.local()
#: the phases of the cost model, in the order ``[timing]`` lines list them
PHASES = ("load", "compute", "write")
_JOB_FIELDS = ("input", "output", "params", "wildcards", "threads", "resources", "log", "rule")


class _ThreadLocalStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` stand-in that writes to the calling thread's job log, if any."""

    def __init__(self, default: Any, name: str):
        self._default, self._name = default, name

    def _target(self) -> Any:
        return getattr(_LOCAL, self._name, None) or self._default

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()

    def fileno(self) -> int:
        return self._target().fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target(), "encoding", "utf-8")


def _install_streams() -> None:
    if not isinstance(sys.stdout, _ThreadLocalStream):
        sys.stdout = _ThreadLocalStream(sys.stdout, "stdout")
    if not isinstance(sys.stderr, _ThreadLocalStream):
        sys.stderr = _ThreadLocalStream(sys.stderr, "stderr")


class JobClock:
    """Seconds per phase of one job; ``startup`` ends when the first phase begins."""

    def __init__(self, epoch0: float | None = None) -> None:
        """``epoch0``: when the job started (``time.time()``), if before this clock was made (queueing)."""
        now, epoch = time.perf_counter(), time.time()
        self.epoch0 = epoch if epoch0 is None else epoch0
        self.t0 = now - (epoch - self.epoch0)
        self.first: float | None = None
        self.seconds = {name: 0.0 for name in PHASES}
        self.compute_spans: list[list[float]] = []  # absolute (epoch) start/end of compute phases

    def summary(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        startup = (self.first if self.first is not None else time.perf_counter()) - self.t0
        out = {"startup": startup, **self.seconds, "wall": wall}
        out["other"] = max(0.0, wall - startup - sum(self.seconds.values()))
        out = {k: round(v, 4) for k, v in out.items()}
        out["start"] = round(self.epoch0, 3)
        out["compute_spans"] = [[round(a, 3), round(b, 3)] for a, b in self.compute_spans]
        return out


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Attribute the enclosed time to ``name`` (one of :data:`PHASES`) in the current job's clock.

    Outside a job (library use, tests) it only runs the body. Nested phases count for the outer one.
    """
    if name not in PHASES:
        raise ValueError(f"unknown phase {name!r}; expected one of {PHASES}")
    clock = getattr(_LOCAL, "clock", None)
    if clock is None or getattr(_LOCAL, "in_phase", False):
        yield
        return
    start, epoch = time.perf_counter(), time.time()
    if clock.first is None:
        clock.first = start
    _LOCAL.in_phase = True
    try:
        yield
    finally:
        _LOCAL.in_phase = False
        clock.seconds[name] += time.perf_counter() - start
        if name == "compute":
            clock.compute_spans.append([epoch, time.time()])


@contextlib.contextmanager
def logged(snakemake: Any) -> Iterator[None]:
    """Send the job's stdout/stderr to its ``log:`` file (also the traceback of a failure), and end the
    log with the job's ``[timing]`` line."""
    _install_streams()
    clock = getattr(_LOCAL, "clock", None) or JobClock()
    _LOCAL.clock = clock
    fh = open(snakemake.log[0], "w", buffering=1) if snakemake.log else None
    old = getattr(_LOCAL, "stdout", None), getattr(_LOCAL, "stderr", None)
    if fh is not None:
        _LOCAL.stdout = _LOCAL.stderr = fh
    try:
        yield
    except BaseException:
        traceback.print_exc(file=fh or sys.__stderr__)
        raise
    finally:
        if fh is not None:
            fh.write("[timing] " + json.dumps(clock.summary(), sort_keys=True) + "\n")
            fh.close()
        _LOCAL.stdout, _LOCAL.stderr = old
        _LOCAL.clock = None


_BLAS_PIN: list = []


def pin_blas_threads() -> None:
    """Limit numpy/scipy BLAS to one thread for the rest of this process (idempotent)."""
    if not _BLAS_PIN:
        from threadpoolctl import threadpool_limits

        _BLAS_PIN.append(threadpool_limits(limits=1, user_api="blas"))


def execute_job(path: Path, snakemake: Any, epoch0: float | None = None) -> None:
    """Execute a workflow script for one job in the calling thread, timed from ``epoch0``."""
    code = compile(path.read_text(), str(path), "exec")
    _LOCAL.clock = JobClock(epoch0)
    try:
        exec(code, {"__name__": "__unlearnbench_job__", "__file__": str(path), "snakemake": snakemake})
    finally:
        _LOCAL.clock = None


def run_script(path: str | Path, job: dict[str, Any], *, model: bool = False) -> None:
    """Run ``workflow_scripts/<name>.py`` for a Snakemake ``run:`` job, in this process.

    ``job`` is the ``run:`` block's ``locals()`` (``input``, ``output``, ``params``, …); the script sees them
    as the usual ``snakemake`` object. ``model=True`` runs it on :data:`MODEL_WORKER`, or in a worker process
    when several model jobs may run at once (:mod:`unlearnbench.model_workers`), and waits for it.
    """
    from unlearnbench import model_workers

    pin_blas_threads()
    path = Path(path)
    snakemake = SimpleNamespace(**{name: job[name] for name in _JOB_FIELDS if name in job})
    epoch0 = time.time()  # start-up counts from here (queueing for a model worker is overhead too)
    if model and model_workers.processes() > 1:
        model_workers.run_in_worker(path, snakemake, epoch0)
    elif model:
        MODEL_WORKER.submit(execute_job, path, snakemake, epoch0).result()
    else:
        execute_job(path, snakemake, epoch0)


def param(snakemake: Any, name: str) -> Any:
    """A JSON-encoded param (rules pass dicts as canonical JSON so that changes rerun their jobs)."""
    value = getattr(snakemake.params, name)
    return json.loads(value) if isinstance(value, str) else value
