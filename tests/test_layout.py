"""The experiment layout (:mod:`unlearnbench.layout`): the model-id rule round-trips through every path that
names a model, the wildcard constraints accept exactly the config's model ids, the paths a dry run of the
quick config plans are the layout's, the rules spell no path of their own, and ``unlearnbench where`` and
``unlearnbench.load`` name the same files. Fast: one dry run, no model trained."""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from conftest import REPO, copy_workflow, snakemake
from unlearnbench.config import load_yaml, method_scenarios, validate_config
from unlearnbench.layout import (CHECKPOINT_SUFFIX, REFERENCE_ROWS, Layout, ModelRef, job_key, model_id,
                                 model_pattern, parse_model_id, wildcard_patterns)

QUICK = validate_config(load_yaml(REPO / "configs" / "quick.yaml"))
SCENARIOS = [s["name"] for s in QUICK["scenarios"]]
SEEDS = [int(s) for s in QUICK["seeds"]]
METHODS = sorted(QUICK["methods"])
DATASETS = ["upstream", *sorted(QUICK["data"]["downstream"])]
EVALSETS = ["train", "test", *sorted(QUICK["data"]["downstream"])]
ROWS = [*REFERENCE_ROWS, *METHODS]  # every (scenario, seed, row) a result file can name


def all_models(seeds=SEEDS) -> list[str]:
    """Every model id the quick config could name."""
    return sorted({model_id(sc, seed, m) for sc in SCENARIOS for seed in seeds for m in ROWS})


# ------------------------------------------------------------------------------------------- model-id rule

@pytest.mark.parametrize("method", ROWS)
def test_model_ids_round_trip(method):
    pattern = re.compile(model_pattern(SCENARIOS, METHODS))
    for scenario in SCENARIOS:
        for seed in (0, 7, 12):
            model = model_id(scenario, seed, method)
            ref = parse_model_id(model)
            assert model_id(ref.scenario, ref.seed, ref.method) == model and ref.method == method
            assert ref.seed == (None if method == "original" else seed)
            assert ref.scenario == (scenario if method not in ("original", "original_prime") else None)
            assert pattern.fullmatch(model), model


def test_model_ids_of_the_references_and_methods():
    assert model_id("random1", 0, "original") == "original"
    assert model_id("random1", 3, "original_prime") == "original_prime/seed3"
    assert model_id("random1", 0, "retrain") == "retrain/random1/seed0"
    assert model_id("random1", 0, "ga") == "unlearn/random1/seed0/ga"
    assert parse_model_id("unlearn/random1/seed0/ga") == ModelRef("ga", "random1", 0)


@pytest.mark.parametrize("bad", ["", "foo", "retrain/random1", "original_prime/0", "original/seed0",
                                 "unlearn/random1/seed0/original", "retrain/random1/seedx", "unlearn/a/seed0"])
def test_strings_that_are_no_model_id_are_rejected(bad):
    with pytest.raises(ValueError, match="not a model id"):
        parse_model_id(bad)
    assert not re.fullmatch(model_pattern(SCENARIOS, METHODS), bad)


def test_wildcard_constraints_accept_exactly_the_configs_names():
    patterns = wildcard_patterns(datasets=DATASETS, scenarios=SCENARIOS, evalsets=EVALSETS, methods=METHODS)
    accepted = {name: re.compile(rx) for name, rx in patterns.items()}
    assert all(accepted["model"].fullmatch(m) for m in all_models(seeds=(0, 10)))
    for wrong in ("unlearn/random1/seed0/nope", "retrain/unknown/seed0", "unlearn/random1/seed0/retrain",
                  "retrain/random1/seed0/extra", "features/original"):
        assert not accepted["model"].fullmatch(wrong), wrong
    assert all(accepted["scenario"].fullmatch(sc) for sc in SCENARIOS) and not accepted["scenario"].fullmatch("random")
    assert accepted["seed"].fullmatch("12") and not accepted["seed"].fullmatch("seed1")
    assert not re.fullmatch(wildcard_patterns(datasets=[], scenarios=[], evalsets=[], methods=[])["method"], "")


# -------------------------------------------------------------------------------- paths through model ids

def model_of_checkpoint(layout: Layout, path: Path) -> str:
    rel = path.relative_to(layout.models_dir()).as_posix()
    return rel.removesuffix(".json").removesuffix(CHECKPOINT_SUFFIX)


def row_of_result(layout: Layout, path: Path) -> tuple[str, int, str]:
    scenario, seed, name = path.relative_to(layout.results_dir()).as_posix().split("/")
    return scenario, int(seed.removeprefix("seed")), name.split(".")[0]


def test_every_model_path_round_trips_through_the_model_id_rule(tmp_path):
    layout = Layout(tmp_path / "outputs" / "quick")
    for model in all_models():
        for path in (layout.checkpoint(model), layout.checkpoint_meta(model)):
            assert model_of_checkpoint(layout, path) == model, path
        for ev in EVALSETS:
            for path in (layout.features(model, ev), layout.features_meta(model, ev)):
                assert path.relative_to(layout.features_dir()).parent.as_posix() == model, path
    for sc in SCENARIOS:
        for seed in SEEDS:
            for row in ROWS:
                model = model_id(sc, seed, row)
                assert layout.run_checkpoint(sc, seed, row) == layout.checkpoint(model)
                assert layout.run_sidecar(sc, seed, row) == layout.checkpoint_meta(model)
                for path in (layout.result_file(sc, seed, row), layout.relearn_file(sc, seed, row)):
                    assert row_of_result(layout, path) == (sc, seed, row), path
                    assert model_id(*row_of_result(layout, path)) == model


def test_wildcard_paths_are_the_concrete_paths_with_names_filled_in():
    """The rules build paths from wildcard patterns ("{scenario}"); filled in, they are the job's paths."""
    layout = Layout("outputs/quick")
    names = {"scenario": "random1", "seed": 0, "method": "ga", "model": "retrain/random1/seed0", "evalset": "test",
             "dataset": "similar"}
    pairs = [(layout.run_checkpoint("{scenario}", "{seed}", "{method}"), layout.run_checkpoint("random1", 0, "ga")),
             (layout.run_sidecar("{scenario}", "{seed}", "retrain"), layout.run_sidecar("random1", 0, "retrain")),
             (layout.run_checkpoint(None, "{seed}", "original_prime"), layout.run_checkpoint(None, 0, "original_prime")),
             (layout.features("{model}", "{evalset}"), layout.features("retrain/random1/seed0", "test")),
             (layout.data_files("{dataset}")["npz"], layout.data_files("similar")["npz"]),
             (layout.result_file("{scenario}", "{seed}", "{method}"), layout.result_file("random1", 0, "ga")),
             (layout.relearn_file("{scenario}", "{seed}", "{method}"), layout.relearn_file("random1", 0, "ga")),
             (layout.tuning_record("{scenario}", "{method}"), layout.tuning_record("random1", "ga")),
             (layout.log("unlearn", job_key("{scenario}", "{seed}", "{method}")),
              layout.log("unlearn", job_key("random1", 0, "ga")))]
    for pattern, concrete in pairs:
        assert Path(str(pattern).format(**names)) == concrete, pattern


def test_the_tuned_model_is_where_the_tune_job_writes_it():
    from unlearnbench.tuning import tuned_model_path

    layout = Layout("outputs/quick")
    assert tuned_model_path(layout.tuning_record("random1", "ga")) == layout.tuned_checkpoint("random1", "ga")


# ------------------------------------------------------------------------------------------- the workflow

def layout_paths(layout: Layout) -> set[Path]:
    """Every concrete path the layout can name for the quick config (a superset of what the workflow plans)."""
    models = all_models()
    paths = {p for ds in DATASETS for p in (*layout.data_files(ds).values(), layout.data_sheet(ds))}
    paths |= {p for m in models for p in (layout.checkpoint(m), layout.checkpoint_meta(m))}
    paths |= {p for m in models for ev in EVALSETS for p in (layout.features(m, ev), layout.features_meta(m, ev))}
    paths |= {p for sc in SCENARIOS for p in (layout.forget_set(sc), layout.forget_ranking(sc))}
    paths |= {p for sc in SCENARIOS for m in METHODS for p in (layout.tuning_record(sc, m), layout.tuned_checkpoint(sc, m),
                                                               layout.tuned_checkpoint_meta(sc, m))}
    paths |= {p for sc in SCENARIOS for seed in SEEDS for r in ROWS
              for p in (layout.result_file(sc, seed, r), layout.relearn_file(sc, seed, r))}
    paths |= {layout.results_table(), layout.summary_table(), layout.summary_csv(), layout.combined_leaderboard(),
              layout.report_index(), layout.metrics_json()}
    keys = [*DATASETS, *SCENARIOS, *(f"{m}/{ev}" for m in models for ev in EVALSETS),
            *(job_key(seed=s) for s in SEEDS), *(job_key(sc, s) for sc in SCENARIOS for s in SEEDS),
            *(job_key(sc, method=m) for sc in SCENARIOS for m in METHODS),
            *(job_key(sc, s, r) for sc in SCENARIOS for s in SEEDS for r in ROWS), "leaderboard", "plots", "exports"]
    rules = ["prepare_data", "select_forget_set", "train_original_prime", "train_retrain", "tune", "unlearn",
             "extract_features", "evaluate", "attack", "report"]
    paths |= {p for rule in rules for key in keys for p in (layout.log(rule, key), layout.benchmark(rule, key))}
    paths |= {p for rule in ("train_original", "aggregate") for p in (layout.log(rule), layout.benchmark(rule))}
    return paths


def report_file_patterns(layout: Layout) -> list[str]:
    """Figures and per-scenario leaderboards, by pattern (the figure names belong to the report)."""
    return [str(layout.plot_file("*", "*")), *(str(layout.leaderboard_file(sc, "*")) for sc in SCENARIOS)]


def required_paths(layout: Layout) -> set[Path]:
    """What the quick config's default target must plan, from the layout and the config alone."""
    paths = {layout.data_files(ds)["npz"] for ds in DATASETS} | {layout.checkpoint("original"), layout.log("aggregate")}
    paths |= {layout.features("original", ev) for ev in EVALSETS}
    paths |= {layout.forget_set(sc) for sc in SCENARIOS} | {layout.summary_table(), layout.combined_leaderboard()}
    for sc in SCENARIOS:
        for seed in SEEDS:
            rows = [*REFERENCE_ROWS, *(m for m in METHODS if sc in method_scenarios(QUICK, m))]
            paths |= {layout.result_file(sc, seed, r) for r in rows}
            paths |= {layout.run_checkpoint(sc, seed, r) for r in rows}
            paths |= {layout.leaderboard_file(sc, "md"), layout.log("evaluate", job_key(sc, seed, "retrain")),
                      layout.benchmark("train_retrain", job_key(sc, seed))}
    return paths


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> set[Path]:
    """Every path of the quick config's dry run: the jobs' outputs, inputs, logs and benchmarks."""
    work = copy_workflow(tmp_path_factory.mktemp("layout"))
    stdout = snakemake(work, "--dry-run").stdout
    listed = re.findall(r"^\s+(?:output|input|log|benchmark): (.+)$", stdout, flags=re.M)
    assert listed, stdout[-2000:]
    return {Path(p) for line in listed for p in line.split(", ")}


def test_the_rules_plan_exactly_the_layouts_paths(planned):
    layout = Layout.for_config(QUICK)
    outputs = {p for p in planned if p.is_relative_to(layout.out)}
    patterns = report_file_patterns(layout)
    stray = {p for p in outputs - layout_paths(layout) if not any(fnmatch.fnmatch(str(p), pat) for pat in patterns)}
    assert not stray, sorted(map(str, stray))[:20]
    assert not required_paths(layout) - outputs, sorted(map(str, required_paths(layout) - outputs))[:20]


def test_the_rules_spell_no_path_pattern():
    """Paths in the rules come from LAYOUT: no output folder, seed folder or artifact suffix in their code."""
    for smk in sorted((REPO / "rules").glob("*.smk")):
        code = "\n".join(line.split("#")[0] for line in smk.read_text().splitlines())
        for spelled in ("{OUT}/", "seed{", ".safetensors", ".parquet", '.json"', '.log"', '.tsv"', "models/",
                        "features/", "forget_sets/", "results/", "summary/"):
            assert spelled not in code, (smk.name, spelled)


# --------------------------------------------------------------------------------------- where and load()

def test_where_and_load_name_the_same_files(tmp_path):
    from fake_experiment import KINDS, make_experiment
    from unlearnbench import load
    from unlearnbench.api import table_files
    from unlearnbench.where import locations

    cfg = {"output_root": "outputs", "experiment": "fake", "scenarios": [{"name": sc} for sc in KINDS]}
    layout = Layout.for_config(cfg, tmp_path)
    make_experiment(layout.out)
    where = {what: path for what, path, _ in locations(cfg, tmp_path) if what}
    exp = load(layout.out)
    assert {k: Path(v) for k, v in exp.meta["files"].items()} == table_files(layout.out)
    for what in ("results", "summary", "leaderboard", "index"):
        assert where[what] == Path(exp.meta["files"][what]), what
        assert where[what].exists(), what
    boards = {path for what, path, _ in locations(cfg, tmp_path) if what == "" and path.suffix == ".md"}
    assert boards == {layout.leaderboard_file(sc, "md") for sc in KINDS} and all(p.is_file() for p in boards)
    assert set(exp.meta["scenarios"]) == set(KINDS)  # forget sets found through the layout
    assert list(exp.meta["data"]) == ["upstream"]
    assert set(exp.runs["model"]) == {model_id(r.scenario, r.seed, r.method) for r in exp.runs.itertuples()}
