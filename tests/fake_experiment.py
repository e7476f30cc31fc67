"""A small experiment outputs folder written by hand (no Snakemake): the synthetic results of
tests/test_report.py as a per-job results dataset, the real aggregate's summary, checkpoint sidecars, forget
sets, a data manifest, and the real leaderboards and landing page — what ``outputs/<experiment>/`` holds
after a run, minus models and figures. Used by tests/test_cli.py and tests/test_paper_output.py."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd

from test_report import make_results, make_sidecars
from unlearnbench.aggregate import per_seed_summary, summarise_seeds
from unlearnbench.layout import Layout
from unlearnbench.results import COLUMNS, write_results

PROVENANCE = {"params": "{}", "method_params": "{}", "config_hash": "cfg0", "forget_hash": "fh", "data_hash": "dh",
              "code_version": "0.1.0+test", "package_versions": "python==3.11", "device": "cpu", "data_seed": 0,
              "tuning": ""}
KINDS = {"cls": "random", "smp": "samples"}


def full_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The synthetic rows with every column of the results schema (provenance filled in)."""
    frame = results.assign(**PROVENANCE, model_seed=results["seed"])
    return frame.reindex(columns=list(COLUMNS))


def make_experiment(out: Path, seeds=(0, 1, 2), edit: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                    report: bool = True) -> Path:
    """Write an experiment folder at ``out``; ``edit`` changes the raw rows first (e.g. shift one value)."""
    results = make_results(seeds)
    results = edit(results) if edit else results
    paths = Layout(out)
    make_sidecars(out, results)
    original = paths.checkpoint_meta("original")
    original.write_text(json.dumps({**json.loads(original.read_text()), "config_hash": "cfg0"}))
    rows = full_rows(results)
    for (sc, seed, method), part in rows.groupby(["scenario", "seed", "method"]):
        path = paths.result_file(sc, seed, method)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_results(part, path)
    paths.summary_dir().mkdir(parents=True, exist_ok=True)
    write_results(rows, paths.results_table())
    summary = summarise_seeds(per_seed_summary(results))
    summary.to_parquet(paths.summary_table(), index=False)
    summary.to_csv(paths.summary_csv(), index=False)
    for sc, kind in KINDS.items():
        paths.forget_set(sc).parent.mkdir(parents=True, exist_ok=True)
        paths.forget_set(sc).write_text(json.dumps(
            {"scenario": sc, "kind": kind, "forget_hash": f"fh-{sc}",
             "forget_classes": [0] if kind != "samples" else None,
             "forget_indices": [1, 2, 3] if kind == "samples" else None}))
    manifest = paths.data_files("upstream")["meta"]
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"data_hash": "dh", "num_classes": 4, "n_train": 100}))
    if report:
        from unlearnbench.report.index import write_index
        from unlearnbench.report.leaderboard import write_leaderboards
        from unlearnbench.report.sources import discover

        data = discover(out)
        write_leaderboards(data, out)
        write_index(data, out)
    return out


def shift(scenario: str, method: str, value: float, **where: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """An ``edit`` adding ``value`` to the raw rows of (scenario, method) matching ``where`` (column → value)."""
    def edit(results: pd.DataFrame) -> pd.DataFrame:
        mask = (results["scenario"] == scenario) & (results["method"] == method)
        for col, val in where.items():
            mask &= results[col] == val
        assert mask.any(), where
        results = results.copy()
        results.loc[mask, "value"] += value
        return results

    return edit
