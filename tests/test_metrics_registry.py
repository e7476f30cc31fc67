"""Metric registry, parameters, row contract, robustness to diverged (NaN) models, accuracy."""
import json
import math

import numpy as np
import pytest

from unlearnbench.metrics import METRICS, ROW_KEYS, EvalContext, FeatureSet, Metric, create_metric, list_metrics
from unlearnbench.metrics.base import make_row, register_metric

SMALL = {"mia": {"n_shadow": 60}, "probe": {"train_per_class": 20}}


def _ctx(rng, *, nan_model=False, sample_forgetting=False):
    centres = 3.0 * rng.standard_normal((4, 12))

    def fs(n, noise, shift=0.0):
        y = np.arange(n) % 4
        x = centres[y] + noise * rng.standard_normal((n, 12)) + shift
        z = (x @ rng.standard_normal((12, 4))).astype(np.float32)
        return FeatureSet(labels=y, logits=z, layers={"pre_logits": x, "block2": np.maximum(x[:, :6], 0)})

    sizes = {"train": 160, "test": 80, "similar": 40, "unrelated": 40}
    feats = {role: {e: fs(n, noise, e == "unrelated") for e, n in sizes.items()}
             for role, noise in (("model", 1.0), ("original", 0.5), ("retrain", 1.5))}
    if nan_model:
        for e in sizes:
            feats["model"][e].logits[:] = np.nan
            for v in feats["model"][e].layers.values():
                v[:] = np.nan
    lab_tr, lab_te = np.arange(160) % 4, np.arange(80) % 4
    f_tr = np.arange(0, 160, 9) if sample_forgetting else np.flatnonzero(lab_tr == 0)
    f_te = np.array([], dtype=int) if sample_forgetting else np.flatnonzero(lab_te == 0)
    return EvalContext(features=feats, forget_train_idx=f_tr, retain_train_idx=np.setdiff1d(np.arange(160), f_tr),
                       forget_test_idx=f_te, retain_test_idx=np.setdiff1d(np.arange(80), f_te), num_classes=4,
                       forget_classes=None if sample_forgetting else [0], downstream=["similar", "unrelated"],
                       layers=["pre_logits", "block2"], seed=1)


def test_registry_lists_and_creates():
    assert set(list_metrics()) >= {"accuracy", "mia", "cka", "knn", "probe"}
    assert list_metrics() == sorted(METRICS)
    for name in list_metrics():
        m = create_metric(name)
        assert isinstance(m, METRICS[name]) and m.name == name


def test_unknown_and_duplicate_names():
    with pytest.raises(KeyError, match="unknown metric 'kappa'.*accuracy.*cka.*knn.*mia.*probe"):
        create_metric("kappa")
    with pytest.raises(ValueError, match="already registered"):
        @register_metric("cka")
        class Again(Metric):
            def evaluate(self, ctx):
                return []
    with pytest.raises(TypeError, match="Metric subclass"):
        register_metric("not_a_metric")(dict)
    with pytest.raises(ValueError, match=r"knn: unknown parameter\(s\) \['neighbours'\].*valid: .*'k'"):
        create_metric("knn", neighbours=3)


@pytest.mark.parametrize("name", list_metrics())
def test_get_params_round_trip(name):
    m = create_metric(name)
    params = m.get_params()
    assert json.loads(json.dumps(params)) == params  # JSON-friendly
    assert create_metric(name, **params).get_params() == params
    if params:
        key = sorted(params)[0]
        assert key in m.params_json()


@pytest.mark.parametrize("name", list_metrics())
def test_rows_contract(name):
    m = create_metric(name, **SMALL.get(name, {}))
    rows = m.evaluate(_ctx(np.random.default_rng(0)))
    assert rows
    for r in rows:
        assert tuple(r) == ROW_KEYS and r["metric"] == name
        assert json.loads(r["params"]) == m.get_params() and r["params"] == json.dumps(m.get_params(), sort_keys=True)
        assert isinstance(r["value"], float) and math.isfinite(r["value"])
        assert all(isinstance(r[k], str) for k in ROW_KEYS if k not in ("value", "se", "n", "dim", "step"))
        assert r["step"] is None  # metrics have no relearning steps
    ids = [tuple(r[k] for k in ("variant", "evalset", "split", "layer", "reference")) for r in rows]
    assert len(set(ids)) == len(ids)  # one row per identifying combination


@pytest.mark.parametrize("name", list_metrics())
def test_nan_model_gives_nan_rows(name):
    m = create_metric(name, **SMALL.get(name, {}))
    good = m.evaluate(_ctx(np.random.default_rng(0)))
    bad = m.evaluate(_ctx(np.random.default_rng(0), nan_model=True))
    assert [r["split"] for r in bad] == [r["split"] for r in good]
    assert all(math.isnan(r["value"]) for r in bad)


@pytest.mark.parametrize("name", list_metrics())
def test_sample_forgetting_has_no_forget_test_rows(name):
    rows = create_metric(name, **SMALL.get(name, {})).evaluate(_ctx(np.random.default_rng(0), sample_forgetting=True))
    assert not any("forget_test" in r["split"] for r in rows)
    assert (rows == []) == (name == "probe")


def test_accuracy_values():
    ctx = _ctx(np.random.default_rng(2))
    rows = {r["split"]: r for r in create_metric("accuracy").evaluate(ctx)}
    assert list(rows) == ["forget_train", "retain_train", "forget_test", "retain_test"]
    fs = ctx.features["model"]["test"]
    i = ctx.retain_test_idx
    assert rows["retain_test"]["value"] == np.mean(fs.logits[i].argmax(1) == fs.labels[i])
    assert rows["retain_test"]["evalset"] == "test" and rows["forget_train"]["evalset"] == "train"


def test_make_row_and_featureset():
    row = make_row("cka", evalset="test", split="all", value=0.5, params={"b": 1, "a": [1, 2]})
    assert tuple(row) == ROW_KEYS and row["params"] == '{"a": [1, 2], "b": 1}' and row["layer"] == ""
    assert math.isnan(make_row("cka", evalset="t", split="all", value=float("nan"))["value"])
    with pytest.raises(ValueError, match="infinite"):
        make_row("cka", evalset="t", split="all", value=float("inf"))
    fs = FeatureSet(labels=[0, 1, 2], logits=np.eye(3), layers={"pre_logits": np.arange(6.0).reshape(3, 2)})
    sub = fs.subset([2, 0])
    assert sub.labels.dtype == np.int64 and sub.labels.tolist() == [2, 0]
    assert sub.layers["pre_logits"].tolist() == [[4, 5], [0, 1]] and len(sub) == 2
    assert fs.feature("logits") is fs.logits
    with pytest.raises(ValueError, match="layer 'x'"):
        FeatureSet(labels=[0, 1], logits=np.zeros((2, 2)), layers={"x": np.zeros((3, 4))})
    with pytest.raises(ValueError, match="'model' role"):
        EvalContext(features={}, forget_train_idx=[], retain_train_idx=[], forget_test_idx=[], retain_test_idx=[],
                    num_classes=2)


def test_missing_reference_roles_are_skipped():
    ctx = _ctx(np.random.default_rng(3))
    del ctx.features["retrain"]
    rows = create_metric("cka").evaluate(ctx)
    assert rows and {r["reference"] for r in rows} == {"original"}
