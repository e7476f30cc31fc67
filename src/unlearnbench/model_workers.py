"""Model jobs side by side: a pool of persistent worker processes, one model job at a time in each.

torch's global RNG, thread count and deterministic-algorithm switch are process-wide, so two model jobs can
never share a process (:mod:`unlearnbench.workflow` runs them one at a time on one thread). When the
Snakemake process may run several at once — ``--cores`` ≥ 2 × the rules' torch ``threads`` — each runs in
a worker process of this pool instead. Workers import torch and timm once (then serve job after job) and
every job seeds itself, so a job computes exactly what it would in a fresh process, whichever worker runs it.

Why: a small network trains faster as two one-thread jobs than as one two-thread job (cifar_resnet8, 32 px,
batch 32 on the 2-core machine: 1 460–1 500 img/s in all vs 1 150–1 250; docs/performance.md).

The job's Snakemake objects become picklable stand-ins (:class:`JobFields`); its log and ``[timing]`` line
are written by the worker exactly as in-process. Workers exit when the Snakemake process that started them
is gone (a killed run leaves no job writing behind it).
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["JobFields", "configure", "processes", "run_in_worker", "shutdown"]

_SETTINGS = {"processes": 1}
_POOL: list[ProcessPoolExecutor] = []
_LOCK = threading.Lock()


def configure(processes: int) -> None:
    """How many model jobs this Snakemake process may run at once (1: on its one model thread, no pool)."""
    _SETTINGS["processes"] = max(1, int(processes))


def processes() -> int:
    return _SETTINGS["processes"]


def shutdown() -> None:
    """Stop the workers (they also stop with the process that started them)."""
    with _LOCK:
        while _POOL:
            _POOL.pop().shutdown(wait=True, cancel_futures=True)


class JobFields(list):
    """A picklable stand-in for Snakemake's ``Namedlist`` (input, output, params, wildcards, log): the values
    as a list, the named ones as attributes and through ``get``/``keys``/``items``."""

    def __init__(self, values: list, named: dict[str, Any]) -> None:
        super().__init__(values)
        self._named = dict(named)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_named"][name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        return self._named.get(name, default)

    def keys(self):
        return self._named.keys()

    def items(self):
        return self._named.items()


def plain(value: Any) -> Any:
    """``value`` with Snakemake's containers and annotated strings replaced by plain picklable ones."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list) and hasattr(value, "keys") and hasattr(value, "_names"):
        return JobFields([plain(v) for v in value], {k: plain(getattr(value, k)) for k in value.keys()})
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.2)


def _init_worker(parent: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="unlearnbench-parent-watch").start()
    from unlearnbench.workflow import pin_blas_threads

    pin_blas_threads()
    import unlearnbench._torchvision_shim  # noqa: F401  (before timm, on a CPU torch)
    import timm  # noqa: F401  (imported before any job seeds: some imports draw from torch's global RNG)
    import torch  # noqa: F401

    import unlearnbench.models  # noqa: F401


def _pool() -> ProcessPoolExecutor:
    with _LOCK:
        if not _POOL:
            import multiprocessing

            # spawn, not fork: the Snakemake process runs threads, and a forked child would inherit their locks
            _POOL.append(ProcessPoolExecutor(max_workers=processes(), mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(os.getpid(),)))
        return _POOL[0]


def _execute(path: str, snakemake: Any, epoch0: float) -> None:
    from unlearnbench.workflow import execute_job

    execute_job(Path(path), snakemake, epoch0)


def run_in_worker(path: Path, snakemake: Any, epoch0: float) -> None:
    """Run the job in a worker process and wait for it (its exception, if any, is raised here)."""
    from concurrent.futures.process import BrokenProcessPool

    job = type(snakemake)(**{k: plain(v) for k, v in vars(snakemake).items()})
    pool = _pool()
    try:
        pool.submit(_execute, str(path), job, epoch0).result()
    except BrokenProcessPool as exc:  # a worker died (killed, out of memory): later jobs get a fresh pool
        with _LOCK:
            if _POOL and _POOL[0] is pool:
                _POOL.pop()
        raise RuntimeError(f"the worker process running {path.name} died ({exc}); the job failed, later jobs "
                           "start a fresh worker") from exc
