"""References that are what they claim (independent seeds, a seed-noise floor) and methods tuned on logits
only: the selection never reads a test split, a grid edit reruns only its branch, bad grids are rejected."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from conftest import REPO, job_counts, snakemake
from unlearnbench.layout import Layout
from unlearnbench.report import layout


def _sidecar(out, model):
    return json.loads(Layout(out).checkpoint_meta(model).read_text())


def test_reference_seeds_are_independent_of_the_originals(quick_out):
    from unlearnbench.seeding import init_seed

    original = _sidecar(quick_out, "original")
    prime = _sidecar(quick_out, "original_prime/seed0")
    retrains = [_sidecar(quick_out, f"retrain/{sc}/seed0") for sc in ("random1", "top1_similar", "samples30")]
    assert original["init_seed"] == init_seed("original", 0) and original["role"] == "original"
    assert prime["role"] == "original_prime" and prime["init_seed"] == init_seed("original_prime", 0)
    seeds = [original["init_seed"], prime["init_seed"], *(r["init_seed"] for r in retrains)]
    assert len(set(seeds[:3])) == 3, seeds  # config seed 0 and replicate seed 0, yet three different streams
    assert all(r["role"] == "retrain" for r in retrains)


def test_floor_rows_are_in_the_results(quick_out):
    import pandas as pd

    results = pd.read_parquet(layout.results_table(quick_out))
    floor = results[(results["method"] == "original_prime") & (results["metric"] == "cka")
                    & (results["reference"] == "original")]
    assert len(floor) and floor["value"].between(0, 1).all()
    assert results.loc[results["method"] == "original_prime", "init_seed"].notna().all()


def test_unlearned_models_record_their_tuning(quick_out):
    import pandas as pd

    results = pd.read_parquet(layout.results_table(quick_out))
    ga = results[results["method"] == "ga"]
    record = json.loads(ga["tuning"].iloc[0])
    assert record["grid"] == [{"lr": 0.0001}, {"lr": 0.001}]
    assert record["chosen"] in record["grid"] + record["extended"]
    # one axis: at most one edge point (edge_steps 1) and one refinement (refine_steps 1)
    assert len(record["scores"]) == len(record["grid"]) + len(record["extended"]) <= 4
    assert json.loads(ga["method_params"].iloc[0])["lr"] == record["chosen"]["lr"]
    assert (results.loc[results["method"] == "bs", "tuning"] == "").all()  # tune: false


def _poisoned_copy(src, dst):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    rng = np.random.default_rng(1)
    arrays["x_test"] = rng.integers(0, 256, arrays["x_test"].shape, dtype=np.uint8)
    arrays["y_test"] = rng.permutation(arrays["y_test"])
    with open(dst, "wb") as fh:
        np.savez(fh, **arrays)


def test_tuning_never_reads_the_test_split(quick_out, tmp_path):
    from unlearnbench.tuning import tune_method

    spec = {"algorithm": "gradient_ascent", "epochs": 1, "grid": {"lr": [0.0001, 0.003]}}
    poisoned = tmp_path / "poisoned.npz"
    _poisoned_copy(Layout(quick_out).data_files("upstream")["npz"], poisoned)
    records = [tune_method("ga", spec, Layout(quick_out).checkpoint("original"),
                           Layout(quick_out).run_checkpoint("random1", 0, "retrain"), npz,
                           Layout(quick_out).forget_set("random1"), tmp_path / f"{i}.json", seed=0, threads=2,
                           device="cpu")
               for i, npz in enumerate([Layout(quick_out).data_files("upstream")["npz"], poisoned])]
    assert records[0]["scores"] == records[1]["scores"] and records[0]["chosen"] == records[1]["chosen"]
    assert records[0]["accuracies"] == records[1]["accuracies"]


def test_the_first_seed_adopts_the_tuned_run_with_the_weights_a_fresh_run_gives(quick_out, tmp_path):
    """The unlearn job of the tuning seed adopts the tune job's run of the chosen point: same weights as
    computing it again, the sidecar says so, and a tuned run of another point or seed is refused."""
    from safetensors.numpy import load_file

    from unlearnbench.checkpoints import read_meta
    from unlearnbench.unlearning import run_unlearning

    q, scenario = quick_out, "random1"
    paths = Layout(q)
    adopted = paths.run_checkpoint(scenario, 0, "ga")
    assert read_meta(adopted)["adopted_from_tune"] is True
    preset = yaml.safe_load((q.parents[1] / "configs" / "quick.yaml").read_text())
    spec = preset["methods"]["ga"]
    data = paths.data_files("upstream")
    args = ("ga", spec, paths.checkpoint("original"), data["npz"], data["meta"], paths.forget_set(scenario))
    # the preset's torch threads: the job computed with them (another thread count changes the last bits)
    kw = dict(seed=0, threads=preset["threads"], device="cpu", tuning_json=paths.tuning_record(scenario, "ga"),
              monitor_images=256)
    run_unlearning(*args, tmp_path / "fresh.safetensors", **kw)
    fresh, kept = load_file(tmp_path / "fresh.safetensors"), load_file(adopted)
    assert fresh.keys() == kept.keys() and all(np.array_equal(fresh[k], kept[k]) for k in fresh)
    assert "adopted_from_tune" not in read_meta(tmp_path / "fresh.safetensors")
    with pytest.raises(ValueError, match="is not this job's"):
        run_unlearning(*args, tmp_path / "other.safetensors", **{**kw, "seed": 1},
                       tuned_ckpt=paths.tuned_checkpoint(scenario, "ga"))


def test_changing_one_grid_point_reruns_only_that_branch(quick_run, tmp_path):
    cfg = yaml.safe_load((quick_run / "configs" / "quick.yaml").read_text())
    cfg["methods"]["ga"]["grid"]["lr"][1] = 0.002
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    jobs = job_counts(snakemake(quick_run, "--dry-run", configfile=str(changed)).stdout)
    evalsets = 2 + len(cfg["data"]["downstream"])
    scenarios = len(cfg["scenarios"])  # ga runs on every scenario, one seed
    assert jobs == {"tune": scenarios, "unlearn": scenarios, "extract_features": scenarios * evalsets,
                    "evaluate": scenarios, "attack": scenarios, "aggregate": 1, "leaderboard": 1, "plots": 1, "exports": 1}, jobs


@pytest.mark.parametrize("grid, message", [
    ({"nope": [1]}, "methods.ga.grid.nope: not a hyper-parameter of gradient_ascent"),
    ({"lr": [-1.0]}, "methods.ga.grid.lr: must be > 0"),
    ({"lr": []}, "methods.ga.grid"),
    ({"lr": [1e-4, 2e-4, 3e-4, 4e-4], "epochs": [1, 2, 3, 4]}, "methods.ga.grid: 16 points; at most 12"),
])
def test_bad_grids_are_rejected_before_any_job(grid, message):
    from unlearnbench.config import ConfigError, validate_config

    cfg = yaml.safe_load((REPO / "configs" / "quick.yaml").read_text())
    cfg["methods"]["ga"]["grid"] = grid
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate_config(cfg)


def test_validation_split_is_carved_from_training_data(quick_out):
    from unlearnbench.data import load_prepared

    ds = load_prepared(Layout(quick_out).data_files("upstream")["npz"])
    meta = json.loads((Layout(quick_out).data_files("upstream")["meta"]).read_text())
    assert meta["n_val"] == len(ds.y_val) == 6 * 12 and meta["n_train"] == len(ds.y_train) == 6 * 48
    assert np.bincount(ds.y_val).tolist() == [12] * 6
    # no validation image is also a training image
    train = {x.tobytes() for x in ds.x_train}
    assert not any(x.tobytes() in train for x in ds.x_val)


def test_monitoring_subsample_never_changes_the_model(quick_out, tmp_path):
    """Per-epoch monitoring on a capped subsample (``monitor_images``) draws the curves only: the unlearned
    weights are byte-identical to a run monitoring every image, and the sidecar records the cap."""
    from safetensors.numpy import load_file

    from unlearnbench.checkpoints import read_meta
    from unlearnbench.unlearning import run_unlearning

    spec = {"algorithm": "gradient_ascent", "epochs": 2}
    outs = {}
    for cap in (3, None):
        outs[cap] = tmp_path / f"ga_{cap}.safetensors"
        run_unlearning("ga", spec, Layout(quick_out).checkpoint("original"), Layout(quick_out).data_files("upstream")["npz"],
                       Layout(quick_out).data_files("upstream")["meta"], Layout(quick_out).forget_set("random1"), outs[cap],
                       seed=0, threads=2, device="cpu", monitor_images=cap)
    a, b = load_file(str(outs[3])), load_file(str(outs[None]))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert read_meta(outs[3])["monitor_images"] == 3 and read_meta(outs[None])["monitor_images"] is None
    monitored = [e["forget_acc"] for e in read_meta(outs[3])["curve"]]  # accuracy of 3 images: a multiple of 1/3
    assert monitored and all(abs(3 * v - round(3 * v)) < 1e-9 for v in monitored)


def test_edge_points_continue_the_axis_where_the_best_point_sits_on_its_edge():
    from unlearnbench.tuning import edge_points

    ga = {"algorithm": "gradient_ascent"}
    grid = [{"lr": lr, "epochs": e} for lr in (1e-4, 3e-4) for e in (3, 5)]
    # best on both upper edges: one step past each (lr geometric ×3, epochs arithmetic +2)
    assert edge_points("ga", ga, grid, {"lr": 3e-4, "epochs": 5}) == [{"lr": 9e-4, "epochs": 5},
                                                                      {"lr": 3e-4, "epochs": 7}]
    # lower edges: lr ÷3; epochs 3 − 2 = 1 is still valid (>= 1)
    assert edge_points("ga", ga, grid, {"lr": 1e-4, "epochs": 3}) == [{"lr": 3.33333e-05, "epochs": 3},
                                                                      {"lr": 1e-4, "epochs": 1}]
    three = [{"lr": lr, "epochs": 1} for lr in (1e-4, 2e-4, 3e-4)]
    assert edge_points("ga", ga, three, {"lr": 2e-4, "epochs": 1}) == []  # interior: bracketed
    # a step outside the declared range is not run (epochs >= 1), nor a point already searched
    low = [{"lr": 1e-4, "epochs": e} for e in (1, 2)]
    assert edge_points("ga", ga, low, {"lr": 1e-4, "epochs": 1}) == []
    assert edge_points("ga", ga, low + [{"lr": 1e-4, "epochs": 3}], {"lr": 1e-4, "epochs": 2}) == []
    ssd = {"algorithm": "ssd"}
    alphas = [{"selection_weighting": a} for a in (2.0, 4.0)]
    assert edge_points("ssd", ssd, alphas, {"selection_weighting": 2.0}) == [{"selection_weighting": 1.0}]


def test_refine_points_halve_the_step_towards_the_better_neighbour_on_the_line_through_the_best_point():
    from unlearnbench.tuning import refine_points

    ga = {"algorithm": "gradient_ascent"}
    grid = [{"lr": lr, "epochs": e} for lr in (1e-4, 4e-4, 1.6e-3) for e in (3, 5, 6)]
    scores = [0.9, 0.8, 0.85,  # lr 1e-4
              0.6, 0.3, 0.5,   # lr 4e-4: the best point is (4e-4, 5); on its epochs line 6 beats 3
              0.7, 0.4, 0.9]   # lr 1.6e-3: on the lr line (epochs 5) 0.4 at 1.6e-3 beats 0.8 at 1e-4
    best = {"lr": 4e-4, "epochs": 5}
    # lr: geometric mean of 4e-4 and 1.6e-3 = 8e-4; epochs: 5 and 6 are adjacent integers, nothing between
    assert refine_points("ga", ga, grid, scores, best) == [{"lr": 8e-4, "epochs": 5}]
    # the other neighbour when it scores better; ints: the midpoint rounded down
    worse_above = [0.9, 0.35, 0.85, 0.6, 0.3, 0.5, 0.7, 0.4, 0.9]
    assert refine_points("ga", ga, grid, worse_above, best) == [{"lr": 2e-4, "epochs": 5}]
    wide = [{"lr": 4e-4, "epochs": e} for e in (1, 5, 9)]
    assert refine_points("ga", ga, wide, [0.5, 0.3, 0.5], best) == [{"lr": 4e-4, "epochs": 3}]  # tie: lower
    # only points on the line through the best count; a point searched already is not proposed again
    assert refine_points("ga", ga, [best, {"lr": 1e-4, "epochs": 3}], [0.2, 0.3], best) == []
    assert refine_points("ga", ga, wide + [{"lr": 4e-4, "epochs": 3}], [0.5, 0.3, 0.5, 0.4], best) == \
        [{"lr": 4e-4, "epochs": 4}]  # the line now has 3 below 5: halfway is 4
    ssd = {"algorithm": "ssd"}  # SSD's α: between 4 and 2 when 6 selects nothing (+inf)
    alphas = [{"selection_weighting": a} for a in (2.0, 4.0, 6.0)]
    assert refine_points("ssd", ssd, alphas, [0.5, 0.3, float("inf")], {"selection_weighting": 4.0}) == \
        [{"selection_weighting": 2.82843}]


def test_a_point_that_runs_what_a_searched_point_runs_is_not_proposed():
    from unlearnbench.methods import create_method
    from unlearnbench.tuning import edge_points

    scrub = {"algorithm": "scrub", "epochs": 3}
    # SCRUB's max-steps run in epochs 1..min(max_epochs, epochs): max_epochs 4 with 3 epochs runs what 3 runs
    assert create_method("s", {**scrub, "max_epochs": 4}).effective_params() == \
        create_method("s", {**scrub, "max_epochs": 3}).effective_params()
    assert create_method("s", {**scrub, "max_epochs": 2}).effective_params()["max_epochs"] == 2
    grid = [{"lr": lr, "max_epochs": m} for lr in (2e-3, 5e-3) for m in (2, 3)]
    assert edge_points("s", scrub, grid, {"lr": 5e-3, "max_epochs": 3}) == [{"lr": 1.25e-2, "max_epochs": 3}]
    # with 5 epochs max_epochs 4 is a new computation, and is run
    assert edge_points("s", {**scrub, "epochs": 5}, grid, {"lr": 5e-3, "max_epochs": 3}) == \
        [{"lr": 1.25e-2, "max_epochs": 3}, {"lr": 5e-3, "max_epochs": 4}]
    # a method without redundant values: effective = declared parameters
    ga = create_method("g", {"algorithm": "gradient_ascent", "lr": 2e-4})
    assert ga.effective_params() == ga.get_params()


def test_the_step_rules_keep_the_sign_and_fall_back_to_arithmetic_at_zero_and_across_signs():
    from unlearnbench.tuning import halfway, step_beyond

    assert step_beyond(4e-3, 2e-3) == 8e-3 and step_beyond(1e-4, 2e-4) == 5e-5  # geometric, both directions
    assert step_beyond(-4.0, -2.0) == -8.0  # one sign: geometric keeps it
    assert step_beyond(0.5, 0.0) == 1.0 and step_beyond(0.0, 0.5) == -0.5 and step_beyond(1.0, -1.0) == 3.0
    assert step_beyond(8, 5) == 11 and step_beyond(3, 5) == 1  # ints: arithmetic
    assert halfway(4.0, 1.0) == 2.0 and halfway(-4.0, -1.0) == -2.0  # signed geometric mean
    assert halfway(0.0, 0.5) == 0.25 and halfway(-1.0, 3.0) == 1.0  # zero or across signs: arithmetic
    assert halfway(3e-3, 5e-3) == 3.87298e-3  # 6 significant digits
    assert halfway(5, 8) == 6 and halfway(8, 5) == 6 and halfway(5, 6) is None and halfway(-3, -1) == -2


def test_the_criterion_sums_the_absolute_gaps_to_retrain_and_ranks_a_failed_point_last():
    from unlearnbench.tuning import criterion_score

    target = {"forget": 0.0, "retain_val": 0.9}
    assert criterion_score({"forget": 0.25, "retain_val": 0.5}, target) == pytest.approx(0.25 + 0.4)
    assert criterion_score({"forget": 0.0, "retain_val": 1.0}, target) == pytest.approx(0.1)  # above retrain counts
    assert criterion_score(dict(target), target) == 0.0
    assert criterion_score({"forget": float("nan"), "retain_val": float("nan")}, target) == float("inf")


def test_tuning_steps_past_the_edge_and_records_the_extension(quick_out, tmp_path):
    """With edge_steps 1 and refine_steps 1 the tune stage runs exactly the edge points of the grid's best
    point, then the refinement around the best point so far; scores and accuracies cover grid + extended, and
    the chosen point is the best of all of them."""
    from unlearnbench.tuning import edge_points, refine_points, tune_method

    spec = {"algorithm": "gradient_ascent", "epochs": 1, "grid": {"lr": [0.0001, 0.0003]}}
    args = ("ga", spec, Layout(quick_out).checkpoint("original"),
            Layout(quick_out).run_checkpoint("random1", 0, "retrain"), Layout(quick_out).data_files("upstream")["npz"],
            Layout(quick_out).forget_set("random1"))
    edged = tune_method(*args, tmp_path / "edged.json", seed=0, threads=2, device="cpu", edge_steps=1,
                        refine_steps=1)
    best_of_grid = edged["grid"][int(np.argmin(edged["scores"][:2]))]
    edges = edge_points("ga", spec, edged["grid"], best_of_grid)
    assert edged["extended"][:len(edges)] == edges != []  # 2 points: the best is on an edge
    searched = edged["grid"] + edged["extended"]
    n = len(edged["grid"]) + len(edges)  # what the refinement saw
    best_so_far = searched[int(np.argmin(edged["scores"][:n]))]
    refined = refine_points("ga", spec, searched[:n], edged["scores"][:n], best_so_far)
    assert edged["extended"][len(edges):] == refined != []  # one axis, 3 points: a neighbour to halve towards
    assert len(edged["scores"]) == len(edged["accuracies"]) == len(searched)
    assert edged["chosen"] == searched[int(np.argmin(edged["scores"]))] == searched[edged["chosen_index"]]
