"""``unlearnbench.load(out_dir)``: one experiment's outputs as pandas DataFrames, for notebooks.

    import unlearnbench
    exp = unlearnbench.load("outputs/default")
    exp.summary.query("quantity == 'cka_to_original'")     # means over seeds with their noise
    exp.board("random4")[["method", "verdict", "harmonic"]] # one scenario's leaderboard

What :class:`Experiment` holds (paths from :class:`unlearnbench.layout.Layout`, the workflow's own; nothing is
recomputed):

* ``results`` — every result row: the per-job Parquet dataset ``results/`` read with
  ``pandas.read_parquet`` (schema :data:`unlearnbench.results.SCHEMA`; provenance columns included);
  ``summary/results.parquet`` when only that was kept.
* ``summary`` — ``summary/summary.parquet``: per (scenario, method, quantity) ``mean``, ``ci95``,
  ``se_seeds``, ``se_eval``, ``n_seeds`` … (:mod:`unlearnbench.aggregate`).
* ``leaderboard`` — the combined ``report/leaderboard.csv`` (every scenario; verdicts, recovery verdicts,
  numbers and ``*_ci95``).
* ``runs`` — one row per (scenario, seed, method) from the checkpoint sidecars: ``status``,
  ``wall_time_s``, the budget ``forget_images_seen`` / ``retain_images_seen``, ``no_op_reason``
  (:func:`unlearnbench.report.sources.load_runs`), plus ``model`` (its path under ``models/``) and the
  sidecar's ``config_hash``.
* ``meta`` — what the outputs record about the experiment: its name and folder, the original model's
  ``config_hash``, ``code_version``, ``package_versions`` and ``device`` (as the result rows record them),
  the datasets' hashes and sizes (``data/*.json``), the forget sets (``forget_sets/*.json``: kind, hash,
  classes), seeds, methods per scenario and the tuning choices (``tuning/``).

A missing part of a partial run is an empty frame; a folder that holds neither results nor a summary raises
:class:`NotAnExperimentError` naming it. Importing this module does not import torch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.layout import RESULTS_DIR, Layout, model_id

__all__ = ["Experiment", "NotAnExperimentError", "is_experiment", "load"]


class NotAnExperimentError(FileNotFoundError):
    """The folder is missing or is not an experiment's outputs folder; the message names it."""


@dataclass
class Experiment:
    """An experiment's outputs (see the module docstring); ``out`` is its folder."""

    out: Path
    results: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    leaderboard: pd.DataFrame = field(repr=False)
    runs: pd.DataFrame = field(repr=False)
    meta: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        return self.meta.get("experiment", self.out.name)

    @property
    def scenarios(self) -> list[str]:
        """Scenario names, from the summary (else the results, else the forget sets)."""
        for frame in (self.summary, self.results):
            if "scenario" in frame and len(frame):
                return sorted(frame["scenario"].unique())
        return sorted(self.meta.get("scenarios", {}))

    def board(self, scenario: str) -> pd.DataFrame:
        """One scenario's leaderboard (rows in the leaderboard's order)."""
        if "scenario" not in self.leaderboard:
            return self.leaderboard
        return self.leaderboard[self.leaderboard["scenario"] == scenario].reset_index(drop=True)

    def __repr__(self) -> str:
        return (f"Experiment({self.name!r} at {self.out}: {len(self.results)} result rows, "
                f"{len(self.summary)} summary rows, scenarios {self.scenarios}, {len(self.runs)} runs)")


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.parquet") if not p.name.startswith((".", "_"))) if folder.is_dir() else []


def is_experiment(out: str | Path) -> bool:
    """Whether ``out`` holds a results dataset or a summary (what :func:`load` needs)."""
    paths = Layout(out)
    return bool(_parquet_files(paths.results_dir())) or paths.summary_table().is_file() \
        or paths.results_table().is_file()


def check_experiment(out: str | Path) -> Path:
    """``out`` as a Path when it is an experiment folder; else :class:`NotAnExperimentError` naming it (and the
    experiments under it when it is the folder above them, e.g. ``outputs/``)."""
    out = Path(out)
    if not out.is_dir():
        raise NotAnExperimentError(f"{out}: no such folder (expected an experiment's outputs folder, "
                                   "outputs/<experiment>/ — `unlearnbench where` prints it)")
    if is_experiment(out):
        return out
    below = [p for base in (out, out / "outputs") if base.is_dir() for p in sorted(base.iterdir())
             if p.is_dir() and is_experiment(p)]
    hint = (f"; experiment folders under it: {', '.join(str(p) for p in below)}" if below else
            "; run the workflow first (`make run` or `unlearnbench run`)")
    summary = Layout(out).summary_table().relative_to(out).as_posix()
    raise NotAnExperimentError(f"{out} is not an unlearnbench experiment folder: it has neither "
                               f"{RESULTS_DIR}/ (per-job Parquet results) nor {summary}{hint}")


def _read_results(paths: Layout) -> pd.DataFrame:
    if _parquet_files(paths.results_dir()):
        return pd.read_parquet(paths.results_dir())
    if paths.results_table().is_file():
        return pd.read_parquet(paths.results_table())
    from unlearnbench.results import COLUMNS

    return pd.DataFrame(columns=list(COLUMNS))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _runs(paths: Layout, results: pd.DataFrame) -> pd.DataFrame:
    from unlearnbench.report.sources import load_runs, read_sidecar

    keys = results[["scenario", "seed", "method"]].drop_duplicates()
    sidecars = {(r.scenario, int(r.seed), r.method): paths.run_sidecar(r.scenario, int(r.seed), r.method)
                for r in keys.itertuples()}
    runs, _ = load_runs(sidecars)
    runs["model"] = [model_id(r.scenario, r.seed, r.method) for r in runs.itertuples()]
    runs["config_hash"] = [(read_sidecar(sidecars[(r.scenario, r.seed, r.method)]) or {}).get("config_hash")
                           for r in runs.itertuples()]
    return runs.sort_values(["scenario", "seed", "method"]).reset_index(drop=True)


def _unique(frame: pd.DataFrame, column: str) -> list:
    return sorted({v for v in frame[column].dropna().tolist()}) if column in frame else []


def table_files(out: str | Path) -> dict[str, Path]:
    """The files :func:`load` reads the tables from (``Experiment.meta["files"]``), by table."""
    paths = Layout(out)
    return {"results": paths.results_dir(), "summary": paths.summary_table(),
            "leaderboard": paths.combined_leaderboard(), "index": paths.report_index()}


def _meta(paths: Layout, results: pd.DataFrame, summary: pd.DataFrame) -> dict[str, Any]:
    out = paths.out
    original = _read_json(paths.checkpoint_meta(model_id(None, None, "original")))
    data = {}
    for path in paths.glob(paths.data_files("*")["meta"]):
        manifest = _read_json(path)
        data[path.stem] = {k: manifest[k] for k in ("data_hash", "num_classes", "n_train", "n_val", "n_test")
                           if k in manifest}
    scenarios = {}
    for path in paths.glob(paths.forget_set("*")):
        fs = _read_json(path)
        indices = fs.get("forget_indices")
        scenarios[fs.get("scenario", path.stem)] = {
            "kind": fs.get("kind"), "forget_hash": fs.get("forget_hash"), "forget_classes": fs.get("forget_classes"),
            "forget_class_names": fs.get("forget_class_names"), "n_forget_samples": len(indices) if indices else None}
    tuning: dict[str, dict[str, Any]] = {}
    for path in paths.glob(paths.tuning_record("*", "*")):
        tuning.setdefault(path.parent.name, {})[path.stem] = _read_json(path).get("chosen")
    frame = summary if len(summary) else results
    methods = ({sc: sorted(g["method"].unique()) for sc, g in frame.groupby("scenario")} if len(frame) else {})
    single = {c: _unique(results, c) for c in ("code_version", "package_versions", "device")}
    return {
        "experiment": out.resolve().name,
        "out_dir": str(out.resolve()),
        "config_hash": original.get("config_hash"),  # the original model's recipe (data, model, training)
        **{c: (v[0] if len(v) == 1 else v) for c, v in single.items()},
        "seeds": [int(s) for s in _unique(results, "seed")],
        "data": data,
        "scenarios": scenarios,
        "methods": methods,
        "tuning": tuning,
        "files": {name: str(path) for name, path in table_files(out).items()},
    }


def load(out_dir: str | Path) -> Experiment:
    """The experiment in ``out_dir`` (``outputs/<experiment>``) as DataFrames; see the module docstring."""
    out = check_experiment(out_dir)
    paths = Layout(out)
    results = _read_results(paths)
    summary = pd.read_parquet(paths.summary_table()) if paths.summary_table().is_file() else pd.DataFrame(
        columns=["scenario", "method", "algorithm", "quantity", "group", "mean", "ci95", "n_seeds"])
    board = paths.combined_leaderboard()
    leaderboard = pd.read_csv(board) if board.is_file() else pd.DataFrame(columns=["scenario", "method", "verdict"])
    return Experiment(out=out, results=results, summary=summary, leaderboard=leaderboard, runs=_runs(paths, results),
                      meta=_meta(paths, results, summary))
