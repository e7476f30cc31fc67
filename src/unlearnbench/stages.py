"""The entry point of every stage of the DAG, one thin function each: plain paths and dicts in, files out.

``workflow_scripts/<stage>.py`` only unpacks ``snakemake.input/params/output`` and calls one of these, so every
stage is importable and testable without Snakemake; the work happens in the module each entry delegates to.
Every output is written atomically there.

Each entry imports its implementation inside its body and this module imports nothing of the package at
module level: a workflow script's ``from unlearnbench.stages import <entry>`` then reaches that entry's
modules only (:mod:`unlearnbench.codegraph` follows names), so an edit to one stage's code reruns that
stage's jobs, not every job. (An edit to this file itself reruns every job.)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["aggregate", "attack", "evaluate", "extract_features", "prepare_data", "report_exports",
           "report_leaderboard", "report_plots", "select_forget_set", "train_reference", "tune", "unlearn"]


# ------------------------------------------------------------------------------------------------- data
def prepare_data(spec: dict[str, Any], out_npz: str | Path, out_meta: str | Path, out_sheet: str | Path,
                 upstream: dict[str, Any] | None = None, validation: dict[str, Any] | None = None) -> None:
    """A dataset spec → prepared ``.npz`` + JSON manifest + contact sheet (:mod:`unlearnbench.data.prepare`)."""
    from unlearnbench.data.prepare import prepare_data as run

    run(spec, out_npz, out_meta, out_sheet, upstream=upstream, validation=validation)


def select_forget_set(scenario: dict[str, Any], data_npz: str | Path, out_json: str | Path,
                      out_ranking: str | Path | None = None, up_features: str | Path | None = None,
                      down_features: str | Path | None = None, down_json: str | Path | None = None) -> None:
    """One scenario's forget set and its similarity ranking (:mod:`unlearnbench.forget_selection`)."""
    from unlearnbench.forget_selection import select_forget_set as run

    run(scenario, data_npz, out_json, out_ranking, up_features=up_features, down_features=down_features,
        down_json=down_json)


# ------------------------------------------------------------------------------------------------ models
def train_reference(data_npz: str | Path, data_json: str | Path, out_ckpt: str | Path, *, model: dict[str, Any],
                    train: dict[str, Any] | None, seed: int, threads: int, device: str,
                    forget_set: str | Path | None = None, role: str | None = None,
                    monitor_images: int | None = None, weights: str | Path | None = None) -> None:
    """The original, an ``original_prime`` or a retrained reference, trained or imported
    (:func:`unlearnbench.references.train_reference`)."""
    from unlearnbench.references import train_reference as run

    run(data_npz, data_json, out_ckpt, model=model, train=train, seed=seed, threads=threads, device=device,
        forget_set=forget_set, role=role, monitor_images=monitor_images, weights=weights)


def tune(instance: str, spec: dict[str, Any], original_ckpt: str | Path, retrain_ckpt: str | Path,
         data_npz: str | Path, forget_json: str | Path, out_json: str | Path, *, seed: int, threads: int,
         device: str, monitor_images: int | None = None, surrogate_npz: str | Path | None = None,
         edge_steps: int = 0, refine_steps: int = 0) -> dict[str, Any]:
    """One method instance's hyper-parameters for one scenario, selected on logits
    (:func:`unlearnbench.tuning.tune_method`)."""
    from unlearnbench.tuning import tune_method

    return tune_method(instance, spec, original_ckpt, retrain_ckpt, data_npz, forget_json, out_json, seed=seed,
                       threads=threads, device=device, monitor_images=monitor_images, surrogate_npz=surrogate_npz,
                       edge_steps=edge_steps, refine_steps=refine_steps)


def unlearn(instance: str, spec: dict[str, Any], original_ckpt: str | Path, data_npz: str | Path,
            data_json: str | Path, forget_json: str | Path, out_ckpt: str | Path, *, seed: int, threads: int,
            device: str, tuning_json: str | Path | None = None, monitor_images: int | None = None,
            surrogate_npz: str | Path | None = None, tuned_ckpt: str | Path | None = None) -> None:
    """One method instance applied to the original for one (scenario, seed)
    (:func:`unlearnbench.unlearning.run_unlearning`)."""
    from unlearnbench.unlearning import run_unlearning

    run_unlearning(instance, spec, original_ckpt, data_npz, data_json, forget_json, out_ckpt, seed=seed,
                   threads=threads, device=device, tuning_json=tuning_json, monitor_images=monitor_images,
                   surrogate_npz=surrogate_npz, tuned_ckpt=tuned_ckpt)


# --------------------------------------------------------------------------------------------- measures
def extract_features(ckpt: str | Path, evalsets: list[tuple[str, str | Path]], outs: list[str | Path], *,
                     layers: list[str] | str, batch_size: int, max_per_class: int | None, dtype: str, seed: int,
                     threads: int, device: str, gram_per_class: int, gram_max_bytes: int) -> None:
    """One forward pass of a checkpoint per ``(eval set, dataset .npz)``, every layer cached
    (:func:`unlearnbench.features.extract_all`)."""
    from unlearnbench.features import extract_all

    extract_all(ckpt, evalsets, outs, layers=layers, batch_size=batch_size, max_per_class=max_per_class,
                dtype=dtype, seed=seed, threads=threads, device=device, gram_per_class=gram_per_class,
                gram_max_bytes=gram_max_bytes)


def evaluate(*, scenario: str, seed: int, method: str, algorithm: str, model_ckpt: str | Path,
             features: dict[str, dict[str, str]], forget_json: str | Path, data_npz: str | Path,
             data_json: str | Path, downstream: list[str], layers: list[str] | str,
             metrics: dict[str, dict[str, Any]], data_seed: int, out: str | Path,
             attacks: dict[str, Any] | None = None) -> None:
    """Every metric (and feature-cache attack) of one model from cached features (``features[role][evalset]``,
    roles ``model``, ``original``, ``retrain``), one results file (:func:`unlearnbench.evaluation.evaluate_model`)."""
    from unlearnbench.evaluation import evaluate_model

    evaluate_model(scenario=scenario, seed=seed, method=method, algorithm=algorithm, model_ckpt=model_ckpt,
                   features=features, forget_json=forget_json, data_npz=data_npz, data_json=data_json,
                   downstream=downstream, layers=layers, metrics=metrics, data_seed=data_seed, out=out,
                   attacks=attacks)


def attack(*, scenario: str, seed: int, method: str, algorithm: str, model_ckpt: str | Path,
           original_features: str | Path, data_npz: str | Path, data_json: str | Path, forget_json: str | Path,
           attacks: dict[str, Any], data_seed: int, threads: int, device: str, out: str | Path) -> None:
    """Every configured model attack on one model of one (scenario, seed), one results file
    (:func:`unlearnbench.attacks.stage.run_model_attacks`)."""
    from unlearnbench.attacks.stage import run_model_attacks

    run_model_attacks(scenario=scenario, seed=seed, method=method, algorithm=algorithm, model_ckpt=model_ckpt,
                      original_features=original_features, data_npz=data_npz, data_json=data_json,
                      forget_json=forget_json, attacks=attacks, data_seed=data_seed, threads=threads,
                      device=device, out=out)


def aggregate(inputs: list[str | Path], out_results: str | Path, out_summary: str | Path, out_csv: str | Path, *,
              results_dir: str | Path | None = None) -> None:
    """The per-job result files → the results table and the summaries (:func:`unlearnbench.aggregate.aggregate`)."""
    from unlearnbench.aggregate import aggregate as run

    run(inputs, out_results, out_summary, out_csv, results_dir=results_dir)


# ------------------------------------------------------------------------------------------------ report
def report_leaderboard(summary: str | Path, results: str | Path | None, out: str | Path, *, sidecars: dict[str, str],
                       scenarios: dict[str, Any], verdicts: dict[str, Any]) -> None:
    """Leaderboards with verdicts (every format) and the landing page ``report/index.html``."""
    from unlearnbench.report.index import write_index
    from unlearnbench.report.leaderboard import write_leaderboards
    from unlearnbench.workflow import phase

    data, rule = _report_inputs(summary, results, sidecars, scenarios, verdicts)
    with phase("compute"):
        write_leaderboards(data, out, rule)
        write_index(data, out, rule)


def report_plots(summary: str | Path, results: str | Path | None, out: str | Path, *, sidecars: dict[str, str],
                 scenarios: dict[str, Any], verdicts: dict[str, Any]) -> None:
    """Every registered figure of the report (PNG, SVG, PDF: :mod:`unlearnbench.report.figures`)."""
    from unlearnbench.report.figures import write_figures
    from unlearnbench.workflow import phase

    data, rule = _report_inputs(summary, results, sidecars, scenarios, verdicts)
    with phase("compute"):
        write_figures(data, out, rule)


def report_exports(summary: str | Path, results: str | Path | None, out: str | Path, *, sidecars: dict[str, str],
                   scenarios: dict[str, Any], verdicts: dict[str, Any]) -> None:
    """``metrics.json`` and the plot tables of ``dvc metrics`` / ``dvc plots``."""
    from unlearnbench.report.exports import write_exports
    from unlearnbench.workflow import phase

    data, rule = _report_inputs(summary, results, sidecars, scenarios, verdicts)
    with phase("compute"):
        write_exports(data, out, rule)


def _report_inputs(summary, results, sidecars, scenarios, verdicts):
    """The report data of a report job (``sidecars`` keyed ``scenario/seed/method``, as ``rules/report.smk``
    passes them) and its verdict rule."""
    from unlearnbench.report.sources import load_report_data, parse_sidecar_keys
    from unlearnbench.report.verdicts import Rule
    from unlearnbench.workflow import phase

    with phase("load"):
        data = load_report_data(summary, results=results, sidecars=parse_sidecar_keys(sidecars),
                                scenarios=scenarios)
    return data, Rule(**verdicts)
