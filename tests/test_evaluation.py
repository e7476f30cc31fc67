"""Evaluation stage: results schema and provenance, one forward pass per (model, eval set), clear
errors for inconsistent inputs, NaN features from a diverged model become rows with that status."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from safetensors.numpy import load_file, save_file

from unlearnbench.aggregate import per_seed_summary
from unlearnbench.atomic import file_sha256
from unlearnbench.evaluation import EvaluationError, evaluate_model
from unlearnbench.layout import Layout, model_id
from unlearnbench.report import layout
from unlearnbench.results import COLUMNS, KEY, SCHEMA, read_results


def test_results_have_the_schema_and_provenance(quick_out):
    table = pq.read_table(layout.results_table(quick_out))
    assert table.schema.equals(SCHEMA, check_metadata=False)
    frame = table.to_pandas()
    assert list(frame.columns) == list(COLUMNS)
    for col in ("config_hash", "forget_hash", "data_hash", "code_version", "package_versions", "device"):
        assert (frame[col].str.len() > 0).all(), col
    assert set(frame["method"]) == {"original", "original_prime", "retrain", "ga", "bs"}
    assert set(frame.loc[frame["method"] == "bs", "scenario"]) == {"random1"}  # its explicit scenario list
    assert {"accuracy", "mia", "cka", "knn", "probe"} <= set(frame["metric"])
    assert set(frame.loc[frame["metric"] == "cka", "reference"]) == {"original", "retrain"}
    assert not frame.duplicated(KEY).any()  # relearning curves differ only by `step`, part of the key
    # the forget-set hash in every row is the one written by select_forget_set
    for scenario, rows in frame.groupby("scenario"):
        fs = json.loads(Layout(quick_out).forget_set(scenario).read_text())
        assert set(rows["forget_hash"]) == {fs["forget_hash"]}


def test_one_forward_pass_per_model_and_evalset(quick_out):
    sidecars = list(Layout(quick_out).features_dir().rglob("*.safetensors.json"))
    pairs = Counter()
    for side in sidecars:
        meta = json.loads(side.read_text())
        pairs[(meta["checkpoint"], meta["evalset"])] += meta["forward_passes"]
    models = {m for m, _ in pairs}
    n_checkpoints = len(list(Layout(quick_out).models_dir().rglob("*.safetensors")))
    assert len(models) == n_checkpoints  # every model extracted exactly once …
    assert set(pairs.values()) == {1} and len(pairs) == n_checkpoints * 4  # … on each of 4 eval sets, once


def test_reference_rows_behave_like_references(quick_out):
    frame = read_results(layout.results_table(quick_out))
    cka = frame[(frame["metric"] == "cka") & (frame["variant"] == "biased")]
    self_orig = cka[(cka["method"] == "original") & (cka["reference"] == "original")]["value"]
    self_retrain = cka[(cka["method"] == "retrain") & (cka["reference"] == "retrain")]["value"]
    assert np.allclose(self_orig, 1.0, atol=1e-5) and np.allclose(self_retrain, 1.0, atol=1e-5)
    summary = per_seed_summary(frame)
    gaps = summary[(summary["method"] == "retrain") & summary["quantity"].isin(["gap_logit", "gap_repr"])]
    assert np.allclose(gaps["value"], 0.0)


def _evaluate(quick_out, tmp_path, features, method="ga", scenario="random1"):
    out = tmp_path / "rows.parquet"
    ckpt = Layout(quick_out).run_checkpoint(scenario, 0, method)
    evaluate_model(scenario=scenario, seed=0, method=method, algorithm="gradient_ascent",
                   model_ckpt=str(ckpt), features=features,
                   forget_json=Layout(quick_out).forget_set(scenario),
                   data_npz=Layout(quick_out).data_files("upstream")["npz"], data_json=Layout(quick_out).data_files("upstream")["meta"],
                   downstream=["similar", "unrelated"], layers="all", metrics={}, data_seed=0, out=out)
    return read_results(out)


def _features(quick_out, model=model_id("random1", 0, "ga"), scenario="random1"):
    roles = {"model": model, "original": "original", "retrain": model_id(scenario, 0, "retrain")}
    return {role: {ev: str(Layout(quick_out).features(m, ev))
                   for ev in ("train", "test", "similar", "unrelated")} for role, m in roles.items()}


def test_features_with_another_class_count_are_rejected(quick_out, tmp_path):
    feats = _features(quick_out)
    arrays = load_file(feats["model"]["train"])
    arrays["logits"] = arrays["logits"][:, :3].copy()
    bad = tmp_path / "train.safetensors"
    save_file(arrays, str(bad))
    feats["model"]["train"] = str(bad)
    with pytest.raises(EvaluationError, match="3 classes but the scenario's dataset has 6"):
        _evaluate(quick_out, tmp_path, feats)


def test_nan_features_give_nan_rows_not_a_crash(quick_out, tmp_path):
    feats = _features(quick_out)
    for ev, path in list(feats["model"].items()):
        arrays = {k: (np.full_like(v, np.nan) if v.dtype.kind == "f" else v) for k, v in load_file(path).items()}
        save_file(arrays, str(tmp_path / f"{ev}.safetensors"))
        meta = json.loads(Path(path + ".json").read_text())  # the sidecar of the NaN file: its own digest
        meta["sha256"] = file_sha256(tmp_path / f"{ev}.safetensors")
        (tmp_path / f"{ev}.safetensors.json").write_text(json.dumps(meta))
        feats["model"][ev] = str(tmp_path / f"{ev}.safetensors")
    rows = _evaluate(quick_out, tmp_path, feats)
    assert len(rows) > 0 and rows["value"].isna().all()


def test_evaluation_is_deterministic(quick_out, tmp_path):
    a = _evaluate(quick_out, tmp_path / "a", _features(quick_out))
    b = _evaluate(quick_out, tmp_path / "b", _features(quick_out))
    pd.testing.assert_frame_equal(a, b)


def test_a_diverged_run_flows_to_rows_summary_and_verdict(quick_out, tmp_path):
    """run_unlearning on an exploding recipe (NaN loss) writes status `diverged`; evaluation keeps every row
    with that status (values as computed from the saved weights; non-finite features give NaN rows:
    test_nan_features_give_nan_rows_not_a_crash); the summary says so and the verdict is `diverged`."""
    from unlearnbench.aggregate import summarise_seeds
    from unlearnbench.features import extract_all
    from unlearnbench.report.verdicts import DIVERGED, verdict
    from unlearnbench.checkpoints import read_meta
    from unlearnbench.unlearning import run_unlearning

    ckpt = tmp_path / "models" / "boom.safetensors"
    run_unlearning("boom", {"algorithm": "gradient_ascent", "epochs": 3, "lr": 1e12, "batch_size": 8, "tune": False},
                   Layout(quick_out).checkpoint("original"), Layout(quick_out).data_files("upstream")["npz"],
                   Layout(quick_out).data_files("upstream")["meta"], Layout(quick_out).forget_set("random1"), ckpt,
                   seed=0, threads=2, device="cpu")
    assert read_meta(ckpt)["status"] == "diverged"
    feats = _features(quick_out)
    evalsets = {"train": "upstream", "test": "upstream", "similar": "similar", "unrelated": "unrelated"}
    outs = [tmp_path / "features" / f"{ev}.safetensors" for ev in evalsets]
    extract_all(ckpt, [(ev, str(Layout(quick_out).data_files(npz)["npz"])) for ev, npz in evalsets.items()], outs,
                threads=2, device="cpu")
    feats["model"] = {ev: str(out) for ev, out in zip(evalsets, outs)}
    out = tmp_path / "rows.parquet"
    evaluate_model(scenario="random1", seed=0, method="boom", algorithm="gradient_ascent", model_ckpt=str(ckpt),
                   features=feats, forget_json=Layout(quick_out).forget_set("random1"),
                   data_npz=Layout(quick_out).data_files("upstream")["npz"], data_json=Layout(quick_out).data_files("upstream")["meta"],
                   downstream=["similar", "unrelated"], layers="all", metrics={}, data_seed=0, out=out)
    rows = read_results(out)
    assert len(rows) > 20 and set(rows["status"]) == {"diverged"}
    retrain = read_results(layout.result_file(quick_out, "random1", 0, "retrain"))
    summary = summarise_seeds(per_seed_summary(pd.concat([rows, retrain], ignore_index=True)))
    boom = summary[summary["method"] == "boom"]
    assert set(boom["status"]) == {"diverged (1/1 runs)"}
    assert verdict("boom", {}, boom["status"].iloc[0], refs={}, kind="random", downstream=[])[0] == DIVERGED
