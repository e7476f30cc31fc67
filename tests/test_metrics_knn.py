"""k-NN: same predictions as scikit-learn's brute-force cosine KNeighborsClassifier; the metric's splits."""
import math

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from unlearnbench.metrics import EvalContext, FeatureSet, create_metric
from unlearnbench.metrics.knn import bank_query_split, knn_predict


def sk_predict(bank, y, queries, k):
    clf = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(bank, y)
    return clf.predict(queries)


@pytest.mark.parametrize("k", [1, 4, 5, 9])
def test_matches_sklearn(k):
    rng = np.random.default_rng(k)
    centres = 0.5 * rng.standard_normal((5, 16))
    yb, yq = rng.integers(0, 5, 300), rng.integers(0, 5, 120)
    bank = (centres[yb] + rng.standard_normal((300, 16))).astype(np.float32)
    queries = (centres[yq] + rng.standard_normal((120, 16))).astype(np.float32)
    labels = np.array([3, 7, 10, 11, 42])[yb]  # non-contiguous labels
    ours = knn_predict(bank, labels, queries, k=k, chunk_size=37)
    np.testing.assert_array_equal(ours, sk_predict(bank, labels, queries, k))
    assert 0.3 < np.mean(ours == np.array([3, 7, 10, 11, 42])[yq]) < 1.0  # a non-trivial task


def test_vote_tie_goes_to_smallest_label():
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = np.array([9, 2, 5])
    q = np.array([[1.0, 0.9]])  # nearest: label 9 (cos .74), then label 2 (cos .67): one vote each
    assert knn_predict(bank, labels, q, k=2)[0] == 2
    assert sk_predict(bank, labels, q, 2)[0] == 2
    assert knn_predict(bank, labels, q, k=1)[0] == 9


def test_cosine_not_euclidean():
    bank, labels = np.array([[10.0, 0.0], [0.1, 0.1]]), np.array([0, 1])
    q = np.array([[1.0, 0.2]])  # Euclidean-nearest: row 1 (label 1); cosine-nearest: row 0 (label 0)
    assert knn_predict(bank, labels, q, k=1)[0] == 0
    assert knn_predict(bank, labels, 1e-3 * q, k=1)[0] == 0  # scale-free


def test_k_larger_than_bank():
    with pytest.raises(ValueError, match=r"k=6.*bank size 5"):
        knn_predict(np.ones((5, 3)), np.arange(5), np.ones((2, 3)), k=6)


def test_bank_query_split():
    labels = np.repeat(np.arange(4), 25)
    bank, query = bank_query_split(labels, query_fraction=0.2, seed=3, stratify=True)
    assert len(query) == 20 and len(bank) == 80 and np.intersect1d(bank, query).size == 0
    np.testing.assert_array_equal(np.bincount(labels[query]), [5, 5, 5, 5])
    b2, q2 = bank_query_split(labels, query_fraction=0.2, seed=3, stratify=True)
    np.testing.assert_array_equal(q2, query)
    _, q3 = bank_query_split(labels, query_fraction=0.2, seed=4, stratify=True)
    assert not np.array_equal(q3, query)
    single = np.array([0, 0, 0, 1, 2, 2, 2, 2, 2, 2])  # class 1 has one sample: falls back to a plain split
    b4, q4 = bank_query_split(single, query_fraction=0.2, seed=0, stratify=True)
    assert len(q4) == 2 and len(b4) == 8


def _ctx(rng, *, sample_forgetting=False, nan=False):
    centres = 3.0 * rng.standard_normal((4, 8))

    def fs(n, shift=0.0):
        y = np.arange(n) % 4
        x = centres[y] + rng.standard_normal((n, 8)) + shift
        return FeatureSet(labels=y, logits=rng.standard_normal((n, 4)).astype(np.float32), layers={"pre_logits": x})

    feats = {"train": fs(120), "test": fs(60), "ds": fs(50, 1.0)}
    if nan:
        feats["ds"].layers["pre_logits"][0, 0] = np.inf
    lab_tr, lab_te = feats["train"].labels, feats["test"].labels
    f_tr = np.arange(0, 120, 7) if sample_forgetting else np.flatnonzero(lab_tr == 2)
    f_te = np.array([], dtype=int) if sample_forgetting else np.flatnonzero(lab_te == 2)
    return EvalContext(features={"model": feats}, forget_train_idx=f_tr,
                       retain_train_idx=np.setdiff1d(np.arange(120), f_tr), forget_test_idx=f_te,
                       retain_test_idx=np.setdiff1d(np.arange(60), f_te), num_classes=4,
                       forget_classes=None if sample_forgetting else [2], downstream=["ds"], seed=0)


def test_metric_values():
    rng = np.random.default_rng(10)
    ctx = _ctx(rng)
    rows = create_metric("knn").evaluate(ctx)
    assert [(r["evalset"], r["split"], r["variant"], r["layer"]) for r in rows] == [
        ("ds", "all", "prelogit", "pre_logits"), ("test", "forget_test_vs_bank", "prelogit", "pre_logits")]
    ds = ctx.features["model"]["ds"]
    bank, query = bank_query_split(ds.labels, query_fraction=0.2, seed=0, stratify=True)
    x = ds.layers["pre_logits"]
    expect = np.mean(sk_predict(x[bank], ds.labels[bank], x[query], 5) == ds.labels[query])
    assert rows[0]["value"] == pytest.approx(expect)
    tr, te = ctx.features["model"]["train"], ctx.features["model"]["test"]
    q = ctx.forget_test_idx
    expect = np.mean(sk_predict(tr.layers["pre_logits"], tr.labels, te.layers["pre_logits"][q], 5) == te.labels[q])
    assert rows[1]["value"] == pytest.approx(expect) and rows[1]["value"] > 0.8


def test_metric_logit_variant_bank_cap_and_robustness():
    rng = np.random.default_rng(11)
    ctx = _ctx(rng)
    rows = create_metric("knn", feature="logit", k=3).evaluate(ctx)
    assert {r["variant"] for r in rows} == {"logit"} and {r["layer"] for r in rows} == {""}
    with pytest.raises(ValueError, match=r"k=5.*bank size 4"):
        create_metric("knn", bank_size=4).evaluate(ctx)
    rows = create_metric("knn").evaluate(_ctx(rng, sample_forgetting=True))
    assert [r["split"] for r in rows] == ["all"]
    rows = create_metric("knn").evaluate(_ctx(rng, nan=True))
    assert math.isnan(rows[0]["value"]) and not math.isnan(rows[1]["value"])


@pytest.mark.parametrize("kw, name", [({"k": 0}, "k"), ({"feature": "penultimate"}, "feature"),
                                      ({"query_fraction": 1.0}, "query_fraction"), ({"bank_size": 0}, "bank_size"),
                                      ({"split_seed": -1}, "split_seed"), ({"stratify": "yes"}, "stratify")])
def test_invalid_params(kw, name):
    with pytest.raises(ValueError, match=name):
        create_metric("knn", **kw)
