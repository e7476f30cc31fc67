"""The experiment layout: where every artifact of one experiment lives, and the model-id rule.

An experiment's outputs folder is ``{output_root}/{experiment}``; :class:`Layout` names every file under it.
It is the one place these names are spelled: the workflow rules (``rules/common.smk`` builds one
``LAYOUT``), :mod:`unlearnbench.where`, :func:`unlearnbench.load`, the report's discovery
(:func:`unlearnbench.report.sources.discover`) and the tests all ask it, so a dry run, ``where`` and
``load()`` can never disagree about a path. Paths are relative or absolute as ``out`` is; a wildcard pattern
such as ``"{scenario}"`` may stand for any name (the rules pass Snakemake wildcards this way).

``data/``
    ``{dataset}.npz`` (arrays), ``{dataset}.json`` (manifest: hashes, sizes), ``{dataset}_samples.png``.
``models/``
    ``{model}.safetensors`` and its sidecar ``{model}.safetensors.json``, ``{model}`` from :func:`model_id`:
    ``original``, ``original_prime/seed{seed}`` (the seed-noise floor), ``retrain/{scenario}/seed{seed}``,
    ``unlearn/{scenario}/seed{seed}/{method}``.
``features/``
    ``{model}/{evalset}.safetensors`` (+ ``.json``): one forward pass per (model, eval set).
``forget_sets/``
    ``{scenario}.json`` (the forget set, with its hash) and ``{scenario}_ranking.csv``.
``tuning/``
    ``{scenario}/{method}.json`` (the selection record) and the chosen run ``{scenario}/{method}.safetensors``.
``results/``
    The canonical results **dataset**: one long-format Parquet file per job,
    ``{scenario}/seed{seed}/{method}.parquet``, plus ``{method}.{part}.parquet`` of later stages (the recovery
    attacks' ``relearn``), every file of schema :data:`unlearnbench.results.SCHEMA` and nothing else, so
    ``pandas.read_parquet("…/results")`` reads every row.
``summary/``
    What ``aggregate`` derives: ``results.parquet`` (every row, one file), ``summary.parquet`` and
    ``summary.csv`` (per method over seeds).
``report/``
    ``index.html``, ``leaderboard.csv`` (all scenarios), ``leaderboard/{scenario}.{md,csv,html,tex}``,
    ``metrics.json`` (``dvc metrics``), ``plots/{name}[_{scenario}].{png,svg,pdf}`` and ``plots/{name}.csv``.
``logs/``, ``benchmarks/``
    One ``.log`` / ``.tsv`` per job: ``{rule}/{key}`` with the job's :func:`job_key` (``{rule}`` alone for a
    single job).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

__all__ = ["Layout", "ModelRef", "REFERENCE_ROWS", "alternation", "job_key", "model_id", "model_pattern",
           "parse_model_id", "wildcard_patterns"]

DATA_DIR, MODELS_DIR, FEATURES_DIR, FORGET_SETS_DIR = "data", "models", "features", "forget_sets"
TUNING_DIR, RESULTS_DIR, SUMMARY_DIR, REPORT_DIR = "tuning", "results", "summary", "report"
LOGS_DIR, BENCHMARKS_DIR = "logs", "benchmarks"
#: the folders of an experiment's artifacts (what DVC versions; logs and benchmarks are bookkeeping)
ARTIFACT_DIRS = (DATA_DIR, MODELS_DIR, FORGET_SETS_DIR, TUNING_DIR, FEATURES_DIR, RESULTS_DIR, SUMMARY_DIR, REPORT_DIR)
#: what older versions wrote into ``results/`` (now in ``summary/``); ``aggregate`` removes stale copies so that
#: the results folder stays a dataset of per-job files only
LEGACY_AGGREGATES = ("results.parquet", "summary.parquet", "summary.csv")
#: the report's landing page under ``report/``: links to every leaderboard and figure, and the glossary
INDEX_HTML = "index.html"
#: written by ``snakemake --report`` (``make report``) in the workflow directory, not under the outputs folder
REPORT_HTML = "report.html"
#: the recovery attacks' rows beside a job's evaluation rows: ``results/…/{method}.relearn.parquet``
RELEARN_PART = "relearn"
CHECKPOINT_SUFFIX = ".safetensors"
SIDECAR_SUFFIX = ".json"  # appended to a checkpoint's or features file's full name

# ------------------------------------------------------------------------------------------ the model-id rule

#: result rows that are not unlearning methods: the two references and the seed-noise-floor original
REFERENCE_ROWS = ("original", "original_prime", "retrain")
#: the models/ folder of unlearned models (every method instance)
UNLEARN = "unlearn"
#: which of (scenario, seed, method) identify a model of each kind, besides the kind itself
MODEL_KEYS = {"original": (), "original_prime": ("seed",), "retrain": ("scenario", "seed"),
              UNLEARN: ("scenario", "seed", "method")}
#: a replicate seed, in paths and in the wildcard constraints
SEED_PATTERN = r"\d+"
SEED_PREFIX = "seed"


class ModelRef(NamedTuple):
    """What a model id names: ``method`` is a reference row (``original``, ``original_prime``, ``retrain``) or a
    method instance; ``scenario`` and ``seed`` are None where the model does not depend on them."""

    method: str
    scenario: str | None = None
    seed: int | None = None


def job_key(scenario: Any = None, seed: Any = None, method: Any = None) -> str:
    """The relative key of a job or artifact from the parts it depends on: ``{scenario}/seed{seed}/{method}``
    without the parts that are None. The only spelling of the seed folder name."""
    parts = [scenario, None if seed is None else f"{SEED_PREFIX}{seed}", method]
    return "/".join(str(p) for p in parts if p is not None)


def _model_id(kind: str, values: Mapping[str, Any]) -> str:
    key = job_key(**{name: values[name] for name in MODEL_KEYS[kind]})
    return f"{kind}/{key}" if key else kind


def model_id(scenario: Any, seed: Any, method: str) -> str:
    """The model a (scenario, seed, method) result row is computed from (its path under ``models/``): the one
    rule shared by the workflow, the report, :func:`unlearnbench.load` and the tests. Wildcard patterns work
    (``model_id("{scenario}", "{seed}", "{method}")`` is the unlearned model's pattern)."""
    kind = method if method in REFERENCE_ROWS else UNLEARN
    return _model_id(kind, {"scenario": scenario, "seed": seed, "method": method})


def parse_model_id(model: str) -> ModelRef:
    """The inverse of :func:`model_id`: ``"retrain/random1/seed0"`` → ``ModelRef("retrain", "random1", 0)``.
    Raises ValueError for a string that is no model id."""
    kind, *parts = str(model).split("/")
    names = MODEL_KEYS.get(kind)
    if names is None or len(parts) != len(names):
        shapes = {"scenario": "<scenario>", "seed": "<n>", "method": "<method>"}
        raise ValueError(f"{model!r} is not a model id (one of {', '.join(_model_id(k, shapes) for k in MODEL_KEYS)})")
    values = dict(zip(names, parts))
    seed = values.get("seed")
    if seed is not None:
        digits = seed.removeprefix(SEED_PREFIX)
        if seed == digits or not digits.isdigit():
            raise ValueError(f"{model!r} is not a model id: {seed!r} is not {SEED_PREFIX}<n>")
        values["seed"] = int(digits)
    ref = ModelRef(method=values.get("method", kind), scenario=values.get("scenario"), seed=values.get("seed"))
    if kind == UNLEARN and ref.method in REFERENCE_ROWS:
        raise ValueError(f"{model!r} is not a model id: {ref.method!r} is a reference, not a method")
    return ref


def alternation(names: Iterable[str]) -> str:
    """A regex matching exactly one of ``names`` (longest first, so a name's prefix never wins); matches
    nothing for no names."""
    return "|".join(sorted(names, key=len, reverse=True)) or "(?!)"


def model_pattern(scenarios: Iterable[str], methods: Iterable[str]) -> str:
    """The regex of every model id of an experiment (the ``model`` wildcard's constraint), from
    :func:`model_id`'s rule itself."""
    fields = {"scenario": f"({alternation(scenarios)})", "seed": SEED_PATTERN, "method": f"({alternation(methods)})"}
    return "|".join(_model_id(kind, fields) for kind in MODEL_KEYS)


def wildcard_patterns(*, datasets: Iterable[str], scenarios: Iterable[str], evalsets: Iterable[str],
                      methods: Iterable[str]) -> dict[str, str]:
    """The workflow's global wildcard constraints: each wildcard matches exactly the names of the config."""
    scenarios, methods = list(scenarios), list(methods)
    return {"dataset": alternation(datasets), "scenario": alternation(scenarios), "seed": SEED_PATTERN,
            "evalset": alternation(evalsets), "method": alternation(methods),
            "model": model_pattern(scenarios, methods)}


# ------------------------------------------------------------------------------------------------ the paths


@dataclass(frozen=True)
class Layout:
    """Every artifact path of the experiment whose outputs folder is ``out`` (see the module docstring)."""

    out: Path

    def __init__(self, out: str | Path):
        object.__setattr__(self, "out", Path(out))

    @classmethod
    def for_config(cls, cfg: Mapping[str, Any], workdir: str | Path | None = None) -> Layout:
        """The layout of a (validated) config's experiment, ``{output_root}/{experiment}`` under ``workdir``."""
        out = Path(cfg["output_root"]) / cfg["experiment"]
        return cls(out if workdir is None else Path(workdir) / out)

    def glob(self, pattern: str | Path) -> list[Path]:
        """Existing files matching a path of this layout built with ``"*"`` for names
        (``layout.glob(layout.forget_set("*"))``), sorted."""
        return sorted(self.out.glob(Path(pattern).relative_to(self.out).as_posix()))

    # data, models, features, forget sets, tuning
    def data_dir(self) -> Path:
        return self.out / DATA_DIR

    def data_files(self, dataset: str) -> dict[str, Path]:
        """A prepared dataset: ``npz`` (arrays) and ``meta`` (its manifest)."""
        return {"npz": self.data_dir() / f"{dataset}.npz", "meta": self.data_dir() / f"{dataset}.json"}

    def data_sheet(self, dataset: str) -> Path:
        """The dataset's contact sheet (a grid of samples per class)."""
        return self.data_dir() / f"{dataset}_samples.png"

    def models_dir(self) -> Path:
        return self.out / MODELS_DIR

    def checkpoint(self, model: str) -> Path:
        """The weights of model id ``model`` (:func:`model_id`)."""
        return self.models_dir() / f"{model}{CHECKPOINT_SUFFIX}"

    def checkpoint_meta(self, model: str) -> Path:
        """The JSON sidecar of a checkpoint (arch, hashes, curve, status, wall time)."""
        return _sidecar(self.checkpoint(model))

    def run_checkpoint(self, scenario: Any, seed: Any, method: str) -> Path:
        """The checkpoint a (scenario, seed, method) result row is computed from."""
        return self.checkpoint(model_id(scenario, seed, method))

    def run_sidecar(self, scenario: Any, seed: Any, method: str) -> Path:
        return self.checkpoint_meta(model_id(scenario, seed, method))

    def features_dir(self) -> Path:
        return self.out / FEATURES_DIR

    def features(self, model: str, evalset: str) -> Path:
        """The cached forward pass of ``model`` on ``evalset`` (every layer, labels, logits)."""
        return self.features_dir() / model / f"{evalset}{CHECKPOINT_SUFFIX}"

    def features_meta(self, model: str, evalset: str) -> Path:
        return _sidecar(self.features(model, evalset))

    def forget_sets_dir(self) -> Path:
        return self.out / FORGET_SETS_DIR

    def forget_set(self, scenario: str) -> Path:
        return self.forget_sets_dir() / f"{scenario}.json"

    def forget_ranking(self, scenario: str) -> Path:
        """The classes ranked by the scenario's criterion (``top``: similarity to its downstream set)."""
        return self.forget_sets_dir() / f"{scenario}_ranking.csv"

    def tuning_dir(self) -> Path:
        return self.out / TUNING_DIR

    def tuning_record(self, scenario: str, method: str) -> Path:
        """The tune job's selection record of a method instance in a scenario."""
        return self.tuning_dir() / f"{job_key(scenario, method=method)}.json"

    def tuned_checkpoint(self, scenario: str, method: str) -> Path:
        """The chosen run's model, beside its record (:func:`unlearnbench.tuning.tuned_model_path`)."""
        return self.tuning_record(scenario, method).with_suffix(CHECKPOINT_SUFFIX)

    def tuned_checkpoint_meta(self, scenario: str, method: str) -> Path:
        return _sidecar(self.tuned_checkpoint(scenario, method))

    # results and their aggregates
    def results_dir(self) -> Path:
        """The per-job results dataset (``pandas.read_parquet`` of this folder reads every row)."""
        return self.out / RESULTS_DIR

    def result_file(self, scenario: Any, seed: Any, method: str, part: str | None = None) -> Path:
        """One job's rows: the evaluation's ``{method}.parquet``, or another stage's ``{method}.{part}.parquet``
        (same schema) beside it."""
        name = method if part is None else f"{method}.{part}"
        return self.results_dir() / f"{job_key(scenario, seed, name)}.parquet"

    def relearn_file(self, scenario: Any, seed: Any, method: str) -> Path:
        """The recovery attacks' rows of one (scenario, seed, model) job."""
        return self.result_file(scenario, seed, method, part=RELEARN_PART)

    def summary_dir(self) -> Path:
        return self.out / SUMMARY_DIR

    def results_table(self) -> Path:
        """Every result row in one file (``aggregate``: the concatenation of the results dataset)."""
        return self.summary_dir() / "results.parquet"

    def summary_table(self) -> Path:
        """Per (scenario, method) summaries over seeds (:func:`unlearnbench.aggregate.summarise_seeds`)."""
        return self.summary_dir() / "summary.parquet"

    def summary_csv(self) -> Path:
        return self.summary_dir() / "summary.csv"

    # the report
    def report_dir(self) -> Path:
        return self.out / REPORT_DIR

    def combined_leaderboard(self) -> Path:
        """Every scenario's leaderboard in one numeric CSV."""
        return self.report_dir() / "leaderboard.csv"

    def leaderboard_dir(self) -> Path:
        return self.report_dir() / "leaderboard"

    def leaderboard_file(self, scenario: str, fmt: str) -> Path:
        """``fmt``: ``md``, ``csv``, ``html`` or ``tex`` (:data:`unlearnbench.report.layout.LEADERBOARD_FORMATS`)."""
        return self.leaderboard_dir() / f"{scenario}.{fmt}"

    def report_index(self) -> Path:
        """The landing page (:mod:`unlearnbench.report.index`)."""
        return self.report_dir() / INDEX_HTML

    def metrics_json(self) -> Path:
        return self.report_dir() / "metrics.json"

    def plot_dir(self) -> Path:
        return self.report_dir() / "plots"

    def plot_file(self, name: str, fmt: str, scenario: str | None = None) -> Path:
        """A figure: ``{name}.{fmt}`` for the whole experiment, ``{name}_{scenario}.{fmt}`` per scenario."""
        stem = name if scenario is None else f"{name}_{scenario}"
        return self.plot_dir() / f"{stem}.{fmt}"

    def plot_table(self, name: str) -> Path:
        """The tidy data of a figure (``dvc plots``)."""
        return self.plot_dir() / f"{name}.csv"

    # bookkeeping
    def logs_dir(self) -> Path:
        return self.out / LOGS_DIR

    def log(self, rule: str, key: str | None = None) -> Path:
        """A job's log: ``logs/{rule}/{key}.log`` (``key``: the job's :func:`job_key`), ``logs/{rule}.log``
        for a rule of one job."""
        return self.logs_dir() / f"{rule if key is None else f'{rule}/{key}'}.log"

    def benchmark(self, rule: str, key: str | None = None) -> Path:
        """A job's Snakemake benchmark (wall time, memory), named like its :meth:`log`."""
        return self.out / BENCHMARKS_DIR / f"{rule if key is None else f'{rule}/{key}'}.tsv"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)
