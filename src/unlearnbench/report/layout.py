"""The report's file names, and a function view of :class:`unlearnbench.layout.Layout` for its callers.

Every path pattern lives in :mod:`unlearnbench.layout` (one :class:`~unlearnbench.layout.Layout` per outputs
folder, the model-id rule); the functions below are one-line delegations kept for the report modules,
:mod:`unlearnbench.cli` and :mod:`unlearnbench.aggregate` (``results_dir(out)`` is ``Layout(out).results_dir()``).
What stays here is what the report writes: the figure names and the file formats.
"""
from __future__ import annotations

from pathlib import Path

from unlearnbench.layout import (INDEX_HTML, LEGACY_AGGREGATES, REFERENCE_ROWS, REPORT_DIR, REPORT_HTML,  # noqa: F401
                                 RESULTS_DIR, SUMMARY_DIR, Layout, model_id)

#: tidy CSVs of the plotted data, for ``dvc plots``
PLOT_TABLES = ("logit_vs_repr", "cka_layers", "knn", "probe", "curves", "relearn", "layer_probe", "tuning")
#: every figure is written in each format (PNG for the HTML report, SVG, PDF for papers)
IMAGE_FORMATS = ("png", "svg", "pdf")
#: per-scenario leaderboard files: Markdown, numeric CSV, HTML and a paper-width LaTeX (booktabs) table
LEADERBOARD_FORMATS = ("md", "csv", "html", "tex")


def results_dir(out: str | Path) -> Path:
    return Layout(out).results_dir()


def result_file(out: str | Path, scenario: str, seed: int | str, method: str, part: str | None = None) -> Path:
    return Layout(out).result_file(scenario, seed, method, part)


def summary_dir(out: str | Path) -> Path:
    return Layout(out).summary_dir()


def results_table(out: str | Path) -> Path:
    return Layout(out).results_table()


def summary_table(out: str | Path) -> Path:
    return Layout(out).summary_table()


def summary_csv(out: str | Path) -> Path:
    return Layout(out).summary_csv()


def report_dir(out: str | Path) -> Path:
    return Layout(out).report_dir()


def combined_leaderboard(out: str | Path) -> Path:
    return Layout(out).combined_leaderboard()


def leaderboard_file(out: str | Path, scenario: str, fmt: str) -> Path:
    return Layout(out).leaderboard_file(scenario, fmt)


def report_index(out: str | Path) -> Path:
    return Layout(out).report_index()


def metrics_json(out: str | Path) -> Path:
    return Layout(out).metrics_json()


def plot_dir(out: str | Path) -> Path:
    return Layout(out).plot_dir()


def plot_file(out: str | Path, name: str, fmt: str, scenario: str | None = None) -> Path:
    return Layout(out).plot_file(name, fmt, scenario)


def plot_table(out: str | Path, name: str) -> Path:
    return Layout(out).plot_table(name)


def sidecar(out: str | Path, scenario: str, seed: int, method: str) -> Path:
    """The checkpoint sidecar of the model a (scenario, seed, method) row was computed from."""
    return Layout(out).run_sidecar(scenario, seed, method)
