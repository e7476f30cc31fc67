"""Membership inference (SVC, loss threshold) and linear-probe recovery."""
import math

import numpy as np
import pytest

from unlearnbench.metrics import EvalContext, FeatureSet, create_metric
from unlearnbench.metrics.mia import attack_features, log_softmax, loss_threshold_auc, svc_mia_efficacy
from unlearnbench.metrics.probe import per_class_subset


def test_attack_features_match_formulas():
    rng = np.random.default_rng(0)
    z = 3 * rng.standard_normal((20, 6))
    y = rng.integers(0, 6, 20)
    f = attack_features(z, y)
    for i in range(20):
        p = np.exp(z[i]) / np.exp(z[i]).sum()
        conf = p[y[i]]
        ent = -sum(pi * math.log(pi) for pi in p)
        ment = -(1 - conf) * math.log(conf) - sum(p[j] * math.log(1 - p[j]) for j in range(6) if j != y[i])
        np.testing.assert_allclose(f[i], [conf, ent, ment], rtol=1e-10)
    np.testing.assert_allclose(attack_features(np.zeros((1, 8)), [3], ["entropy"]), [[math.log(8)]])
    np.testing.assert_array_equal(attack_features(z, y, ["correctness"])[:, 0], z.argmax(1) == y)
    # confident and correct -> modified entropy ~ 0; confident and wrong -> large
    sure = attack_features(np.array([[50.0, 0, 0], [50.0, 0, 0]]), [0, 1], ["m_entropy"])[:, 0]
    assert sure[0] < 1e-15 and sure[1] > 40
    assert np.all(np.isfinite(attack_features(np.array([[1e4, 0.0]]), [1])))  # p_y underflows: no inf/NaN


def test_loss_threshold_auc_is_mann_whitney():
    rng = np.random.default_rng(1)
    m, n = rng.exponential(1.0, 30), rng.exponential(2.0, 40)
    m[:3] = n[:3]  # ties count one half
    u = sum((a < b) + 0.5 * (a == b) for a in m for b in n) / (30 * 40)  # member loss lower = attack right
    assert loss_threshold_auc(m, n) == pytest.approx(u, abs=1e-12)
    assert loss_threshold_auc(np.zeros(5), np.ones(5)) == 1.0


def _mia_ctx(rng, forget_like, *, sample_forgetting=False, n_cls=4):
    def logits(n, margin):  # true-class margin controls confidence
        y = np.arange(n) % n_cls
        z = rng.standard_normal((n, n_cls))
        z[np.arange(n), y] += margin + 0.5 * rng.standard_normal(n)
        return FeatureSet(labels=y, logits=z.astype(np.float32))

    n_tr, n_te = 400, 200
    train, test = logits(n_tr, 6.0), logits(n_te, 0.5)  # members confident, non-members not
    f_tr = np.flatnonzero(train.labels == 1)
    if forget_like == "nonmember":  # an ideally unlearned forget set behaves like unseen data
        train.logits[f_tr] = logits(n_tr, 0.5).logits[f_tr]
    f_te = np.array([], dtype=int) if sample_forgetting else np.flatnonzero(test.labels == 1)
    return EvalContext(features={"model": {"train": train, "test": test}}, forget_train_idx=f_tr,
                       retain_train_idx=np.setdiff1d(np.arange(n_tr), f_tr), forget_test_idx=f_te,
                       retain_test_idx=np.setdiff1d(np.arange(n_te), f_te), num_classes=n_cls,
                       forget_classes=None if sample_forgetting else [1], seed=0)


def test_mia_separates_members_from_nonmembers():
    rng = np.random.default_rng(2)
    metric = create_metric("mia", n_shadow=150)
    member = {r["variant"]: r for r in metric.evaluate(_mia_ctx(rng, "member"))}
    unseen = {r["variant"]: r for r in metric.evaluate(_mia_ctx(rng, "nonmember"))}
    assert member["svc"]["value"] < 0.1 and unseen["svc"]["value"] > 0.9  # MIA-efficacy: fraction "non-member"
    assert member["loss_threshold"]["value"] > 0.9  # forget-train vs forget-test losses: memorised
    assert 0.3 < unseen["loss_threshold"]["value"] < 0.7  # looks like unseen data
    assert member["svc"]["split"] == "forget_train" and member["svc"]["evalset"] == "train"
    assert member["loss_threshold"]["split"] == "forget_train_vs_forget_test"


def test_svc_efficacy_function_and_seeding():
    rng = np.random.default_rng(3)
    a, b = rng.normal(2, 0.3, (100, 2)), rng.normal(-2, 0.3, (100, 2))
    assert svc_mia_efficacy(a, b, rng.normal(2, 0.3, (50, 2))) == 0.0
    assert svc_mia_efficacy(a, b, rng.normal(-2, 0.3, (50, 2))) == 1.0
    ctx = _mia_ctx(rng, "member")
    one = create_metric("mia", n_shadow=50, variants="svc")
    assert one.evaluate(ctx) == one.evaluate(ctx)  # deterministic for a fixed ctx.seed


def test_mia_sample_forgetting_and_nan():
    rng = np.random.default_rng(4)
    ctx = _mia_ctx(rng, "member", sample_forgetting=True)
    rows = create_metric("mia", n_shadow=100).evaluate(ctx)
    assert [r["split"] for r in rows] == ["forget_train", "forget_train_vs_retain_test"]
    ctx.features["model"]["train"].logits[ctx.forget_train_idx[0], 0] = np.nan
    assert all(math.isnan(r["value"]) for r in create_metric("mia", n_shadow=100).evaluate(ctx))
    rows = create_metric("mia", variants=["loss_threshold"], nonmembers="test").evaluate(_mia_ctx(rng, "member"))
    assert [r["split"] for r in rows] == ["forget_train_vs_test"]


def test_log_softmax_stable():
    z = np.array([[1000.0, 0.0, -1000.0]])
    ls = log_softmax(z)
    assert np.all(np.isfinite(ls)) and ls[0, 0] == pytest.approx(0.0) and ls[0, 1] == pytest.approx(-1000.0)


def _probe_ctx(rng, *, zero_logits=True, sample_forgetting=False, nan=False):
    d, forget = 10, 3

    def fs(n):
        y = np.arange(n) % 5
        x = rng.standard_normal((n, d))
        x[:, 0] += 6.0 * (y == forget)  # the forget class is linearly separable along feature 0
        x[:, 1] += 1.5 * y  # the others only partly
        z = np.zeros((n, 5), np.float32) if zero_logits else rng.standard_normal((n, 5)).astype(np.float32)
        return FeatureSet(labels=y, logits=z, layers={"pre_logits": x})

    train, test = fs(500), fs(200)
    if nan:
        train.layers["pre_logits"][0, 0] = np.nan
    f_tr = np.flatnonzero(train.labels == forget)
    f_te = np.array([], dtype=int) if sample_forgetting else np.flatnonzero(test.labels == forget)
    return EvalContext(features={"model": {"train": train, "test": test}}, forget_train_idx=f_tr,
                       retain_train_idx=np.setdiff1d(np.arange(500), f_tr), forget_test_idx=f_te,
                       retain_test_idx=np.setdiff1d(np.arange(200), f_te), num_classes=5,
                       forget_classes=None if sample_forgetting else [forget], seed=0)


def test_probe_recovers_class_hidden_from_logits():
    rng = np.random.default_rng(5)
    ctx = _probe_ctx(rng)
    acc = {r["split"]: r["value"] for r in create_metric("accuracy").evaluate(ctx)}
    assert acc["forget_test"] == 0.0  # zero logits: argmax is class 0, never the forget class 3
    rows = create_metric("probe", train_per_class=60).evaluate(ctx)
    probe = {r["split"]: r["value"] for r in rows}
    assert probe["forget_test"] > 0.95 and 0.3 < probe["retain_test"] < 1.0
    assert {(r["evalset"], r["layer"]) for r in rows} == {("test", "pre_logits")}


def test_probe_skips_and_nan():
    rng = np.random.default_rng(6)
    assert create_metric("probe").evaluate(_probe_ctx(rng, sample_forgetting=True)) == []
    rows = create_metric("probe").evaluate(_probe_ctx(rng, nan=True))
    assert len(rows) == 2 and all(math.isnan(r["value"]) for r in rows)


def test_per_class_subset():
    labels = np.repeat(np.arange(3), [10, 2, 30])
    idx = np.arange(42)
    sub = per_class_subset(labels, idx, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(labels[sub]), [5, 2, 5])
    assert np.array_equal(sub, np.unique(sub))
    assert not np.array_equal(sub, per_class_subset(labels, idx, 5, np.random.default_rng(1)))


@pytest.mark.parametrize("name, kw, param", [
    ("mia", {"variants": ["svm"]}, "variants"), ("mia", {"n_shadow": 0}, "n_shadow"), ("mia", {"svc_C": 0}, "svc_C"),
    ("mia", {"svc_gamma": "big"}, "svc_gamma"), ("mia", {"attack_features": ["loss"]}, "attack_features"),
    ("mia", {"nonmembers": "val"}, "nonmembers"), ("mia", {"seed": -2}, "seed"),
    ("probe", {"C": -1.0}, "C"), ("probe", {"max_iter": 0}, "max_iter"),
    ("probe", {"train_per_class": 0}, "train_per_class"), ("probe", {"layer": ""}, "layer"),
    ("probe", {"tol": float("nan")}, "tol")])
def test_invalid_params(name, kw, param):
    with pytest.raises(ValueError, match=param):
        create_metric(name, **kw)
