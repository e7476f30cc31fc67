"""Where evaluation, aggregation and the report write, relative to an experiment's outputs folder
``{output_root}/{experiment}``.

One place for these names: ``rules/evaluate.smk``, ``rules/report.smk``, :mod:`unlearnbench.where`,
:mod:`unlearnbench.report.sources`, the benchmark and the tests all use it.

``results/``
    The canonical results **dataset**: one long-format Parquet file per job,
    ``results/{scenario}/seed{seed}/{method}.parquet``, every file with the schema of
    :data:`unlearnbench.results.SCHEMA` — and nothing else, so ``pandas.read_parquet("…/results")`` (or
    ``pyarrow.dataset``) reads every row. Later stages that add rows of the same schema write their own
    files under ``results/``.
``summary/``
    What ``aggregate`` derives from it: ``results.parquet`` (every row, one file: what the report reads),
    ``summary.parquet`` and ``summary.csv`` (per method: means, noise, gaps to retrain).
``report/``
    ``index.html`` (landing page: links and glossary), ``leaderboard.csv`` (every scenario, numeric),
    ``leaderboard/{scenario}.{md,csv,html,tex}``, ``metrics.json`` (``dvc metrics``),
    ``plots/{name}.{png,svg,pdf}`` and the plot data ``plots/{name}.csv`` (``dvc plots``).
"""
from __future__ import annotations

from pathlib import Path

RESULTS_DIR = "results"
SUMMARY_DIR = "summary"
#: what older versions wrote into ``results/`` (now in ``summary/``); ``aggregate`` removes stale copies so that
#: the results folder stays a dataset of per-job files only
LEGACY_AGGREGATES = ("results.parquet", "summary.parquet", "summary.csv")
REPORT_DIR = "report"
#: figures drawn once for the whole experiment (one panel or bar group per scenario)
OVERVIEW_PLOTS = ("logit_vs_repr", "knn", "probe")
#: figures drawn once per scenario, named ``{name}_{scenario}``
SCENARIO_PLOTS = ("cka_layers", "curves", "relearn", "layer_probe")
#: tidy CSVs of the plotted data, for ``dvc plots``
PLOT_TABLES = ("logit_vs_repr", "cka_layers", "knn", "probe", "curves", "relearn", "layer_probe")
#: every figure is written in each format (PNG for the HTML report, SVG, PDF for papers)
IMAGE_FORMATS = ("png", "svg", "pdf")
#: per-scenario leaderboard files: Markdown, numeric CSV, HTML and a paper-width LaTeX (booktabs) table
LEADERBOARD_FORMATS = ("md", "csv", "html", "tex")
#: the report's landing page under ``report/``: links to every leaderboard and figure, and the glossary
INDEX_HTML = "index.html"
#: written by ``snakemake --report`` (``make report``) in the workflow directory
REPORT_HTML = "report.html"


def results_dir(out: str | Path) -> Path:
    """The per-job results dataset (``pandas.read_parquet`` of this folder reads every row)."""
    return Path(out) / RESULTS_DIR


def result_file(out: str | Path, scenario: str, seed: int | str, method: str, part: str | None = None) -> Path:
    """One job's rows (wildcard patterns such as ``"{scenario}"`` work too): the evaluation's
    ``{method}.parquet``, or another stage's ``{method}.{part}.parquet`` (same schema) beside it."""
    name = method if part is None else f"{method}.{part}"
    return results_dir(out) / scenario / f"seed{seed}" / f"{name}.parquet"


def summary_dir(out: str | Path) -> Path:
    return Path(out) / SUMMARY_DIR


def results_table(out: str | Path) -> Path:
    """Every result row in one file (``aggregate``: the concatenation of the results dataset)."""
    return summary_dir(out) / "results.parquet"


def summary_table(out: str | Path) -> Path:
    """Per (scenario, method) summaries over seeds (:func:`unlearnbench.aggregate.summarise_seeds`)."""
    return summary_dir(out) / "summary.parquet"


def summary_csv(out: str | Path) -> Path:
    return summary_dir(out) / "summary.csv"


def report_dir(out: str | Path) -> Path:
    return Path(out) / REPORT_DIR


def combined_leaderboard(out: str | Path) -> Path:
    return report_dir(out) / "leaderboard.csv"


def leaderboard_file(out: str | Path, scenario: str, fmt: str) -> Path:
    """``fmt`` is one of :data:`LEADERBOARD_FORMATS` (``md``, ``csv``, ``html``, ``tex``)."""
    return report_dir(out) / "leaderboard" / f"{scenario}.{fmt}"


def report_index(out: str | Path) -> Path:
    """The landing page ``report/index.html`` (:mod:`unlearnbench.report.index`)."""
    return report_dir(out) / INDEX_HTML


def metrics_json(out: str | Path) -> Path:
    return report_dir(out) / "metrics.json"


def plot_dir(out: str | Path) -> Path:
    return report_dir(out) / "plots"


def plot_file(out: str | Path, name: str, fmt: str, scenario: str | None = None) -> Path:
    stem = name if scenario is None else f"{name}_{scenario}"
    return plot_dir(out) / f"{stem}.{fmt}"


def plot_table(out: str | Path, name: str) -> Path:
    return plot_dir(out) / f"{name}.csv"


#: result rows that are not unlearning methods: the two references and the seed-noise-floor original
REFERENCE_ROWS = ("original", "original_prime", "retrain")


def model_id(scenario: str, seed: int | str, method: str) -> str:
    """The model a (scenario, seed, method) result row is computed from (its path under ``models/``): the
    one rule shared by the workflow (rules/evaluate.smk), the report and the tests."""
    if method == "original":
        return "original"
    if method == "original_prime":
        return f"original_prime/seed{seed}"
    if method == "retrain":
        return f"retrain/{scenario}/seed{seed}"
    return f"unlearn/{scenario}/seed{seed}/{method}"


def sidecar(out: str | Path, scenario: str, seed: int, method: str) -> Path:
    """The checkpoint sidecar of the model a (scenario, seed, method) row was computed from."""
    return Path(out) / "models" / f"{model_id(scenario, seed, method)}.safetensors.json"
