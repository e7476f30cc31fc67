"""Linear CKA: closed-form identities, equality with n×n Gram formulas, streaming, the metric's rows."""
import math

import numpy as np
import pytest

from unlearnbench.metrics import EvalContext, FeatureSet, create_metric
from unlearnbench.metrics.cka import LinearCKAAccumulator, RepresentationStats, linear_cka


def gram_cka(x, y):
    """Reference: HSIC(K, L) = tr(KHLH)/(n-1)^2 with K = XX^T, L = YY^T, normalised."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h) / (n - 1) ** 2

    return hsic(k, l_) / math.sqrt(hsic(k, k) * hsic(l_, l_))


def gram_cka_debiased(x, y):
    """Reference: unbiased HSIC_1 of Song et al. 2012 with explicit n×n Gram matrices."""
    n = len(x)
    one = np.ones(n)

    def hsic1(k, l_):
        k, l_ = k.copy(), l_.copy()
        np.fill_diagonal(k, 0.0)
        np.fill_diagonal(l_, 0.0)
        return (np.trace(k @ l_) + (one @ k @ one) * (one @ l_ @ one) / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * (one @ k @ l_ @ one)) / (n * (n - 3))

    k, l_ = x @ x.T, y @ y.T
    return hsic1(k, l_) / math.sqrt(hsic1(k, k) * hsic1(l_, l_))


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 7)) + 2.0
    y = np.maximum(x @ rng.standard_normal((7, 5)), 0) + 0.5 * rng.standard_normal((60, 5))
    return x, y


def cka64(x, y, **kw):
    return linear_cka(x, y, compute_dtype="float64", **kw)


@pytest.mark.parametrize("debiased", [False, True])
def test_closed_form_identities(xy, debiased):
    x, _ = xy
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((7, 7)))
    assert cka64(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
    assert cka64(x, x @ q, debiased=debiased) == pytest.approx(1.0, abs=1e-12)  # orthogonal invariance
    assert cka64(x, 3.7 * x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)  # isotropic scaling
    # not invariant to anisotropic scaling: a value clearly below 1
    assert cka64(x - x.mean(0), (x - x.mean(0)) * np.array([100, 1, 1, 1, 1, 1, 1.0]), debiased=debiased) < 0.9


def test_biased_equals_gram_formula(xy):
    x, y = xy
    assert cka64(x, y) == pytest.approx(gram_cka(x, y), abs=1e-10)
    rng = np.random.default_rng(2)  # d > n
    a, b = rng.standard_normal((20, 30)), rng.standard_normal((20, 25))
    assert cka64(a, b) == pytest.approx(gram_cka(a, b), abs=1e-10)


def test_debiased_equals_gram_formula(xy):
    x, y = xy
    ref = gram_cka_debiased(x, y)
    assert cka64(x, y, debiased=True) == pytest.approx(ref, abs=1e-10)
    assert abs(ref - gram_cka(x, y)) > 1e-3  # the two estimators genuinely differ on small n
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((9, 12)), rng.standard_normal((9, 4))
    assert cka64(a, b, debiased=True) == pytest.approx(gram_cka_debiased(a, b), abs=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_translation_invariance(xy, debiased):
    x, y = xy
    assert cka64(x + 50.0, y - 7.0, debiased=debiased) == pytest.approx(cka64(x, y, debiased=debiased), abs=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_streaming_equals_one_shot(xy, debiased):
    x, y = xy
    acc = LinearCKAAccumulator(compute_dtype="float64")
    for lo, hi in [(0, 1), (1, 13), (13, 13), (13, 40), (40, 60)]:  # uneven, one empty batch
        acc.update(x[lo:hi], y[lo:hi])
    assert acc.n == 60
    assert acc.result(debiased=debiased) == pytest.approx(cka64(x, y, debiased=debiased, batch_size=60), abs=1e-12)
    assert cka64(x, y, debiased=debiased, batch_size=7) == pytest.approx(acc.result(debiased=debiased), abs=1e-12)


def test_memory_independent_of_n():
    rng = np.random.default_rng(4)
    st = RepresentationStats("float64")
    for _ in range(5):
        st.update(rng.standard_normal((1000, 6)))
    arrays = [v for v in vars(st).values() if isinstance(v, np.ndarray)]
    assert st.n == 5000 and max(a.size for a in arrays) == 36


def test_independent_features_small():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((3000, 5)), rng.standard_normal((3000, 5))
    assert cka64(x, y) < 0.01
    assert abs(cka64(x, y, debiased=True)) < 0.005
    assert cka64(x, x @ rng.standard_normal((5, 5))) > 0.3


def test_float32_blocks_match_float64():
    rng = np.random.default_rng(6)
    x = np.maximum(rng.standard_normal((4000, 48)) @ rng.standard_normal((48, 48)), 0).astype(np.float32) + 20
    y = (x @ rng.standard_normal((48, 32)) + 5 * rng.standard_normal((4000, 32))).astype(np.float32)
    for debiased in (False, True):
        exact = cka64(x.astype(np.float64), y.astype(np.float64), debiased=debiased)
        mixed = linear_cka(x, y, debiased=debiased, compute_dtype="float32", batch_size=512)
        assert linear_cka(x, y, debiased=debiased, batch_size=512) == mixed  # auto follows float32 input
        assert abs(mixed - exact) <= 1e-6 * abs(exact)


def test_float16_features():
    rng = np.random.default_rng(10)
    x = (rng.standard_normal((500, 16)) + 3).astype(np.float16)
    y = np.maximum(x.astype(np.float32) @ rng.standard_normal((16, 8)).astype(np.float32), 0).astype(np.float16)
    exact = cka64(x.astype(np.float64), y.astype(np.float64), debiased=True)
    assert linear_cka(x, y, debiased=True, batch_size=128) == pytest.approx(exact, rel=1e-6)


def test_degenerate_and_errors():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((10, 3))
    assert cka64(x, np.ones((10, 2))) == 0.0  # a representation without variance
    with pytest.raises(ValueError, match="same number of rows"):
        linear_cka(x, x[:5])
    with pytest.raises(ValueError, match="n >= 4"):
        cka64(x[:3], x[:3], debiased=True)
    with pytest.raises(ValueError, match="compute_dtype"):
        LinearCKAAccumulator(compute_dtype="float16")


def _ctx(rng, *, sample_forgetting=False, drop=(), nan_model=False):
    n_tr, n_te, n_ds = 80, 40, 30
    base = {s: rng.standard_normal((n, 6)) for s, n in (("train", n_tr), ("test", n_te), ("ds", n_ds))}

    def fs(evalset, noise):
        x = base[evalset] + noise * rng.standard_normal(base[evalset].shape)
        lab = np.arange(len(x)) % 4
        return FeatureSet(labels=lab, logits=x[:, :4].astype(np.float32),
                          layers={"pre_logits": x, "block3": np.tanh(x @ rng.standard_normal((6, 9)))})

    feats = {"model": {e: fs(e, 0.3) for e in base}, "original": {e: fs(e, 0.0) for e in base},
             "retrain": {e: fs(e, 1.0) for e in base}}
    if nan_model:
        feats["model"]["test"].layers["pre_logits"][3, 1] = np.nan
    for role in drop:
        del feats[role]
    lab_tr, lab_te = np.arange(n_tr) % 4, np.arange(n_te) % 4
    if sample_forgetting:
        f_tr, f_te = np.arange(0, n_tr, 10), np.array([], dtype=int)
    else:
        f_tr, f_te = np.flatnonzero(lab_tr == 1), np.flatnonzero(lab_te == 1)
    return EvalContext(features=feats, forget_train_idx=f_tr, retain_train_idx=np.setdiff1d(np.arange(n_tr), f_tr),
                       forget_test_idx=f_te, retain_test_idx=np.setdiff1d(np.arange(n_te), f_te), num_classes=4,
                       forget_classes=None if sample_forgetting else [1], downstream=["ds"],
                       layers=["pre_logits", "block3"], seed=0)


def test_metric_rows_and_values():
    rng = np.random.default_rng(8)
    ctx = _ctx(rng)
    rows = create_metric("cka", compute_dtype="float64", batch_size=16).evaluate(ctx)
    keys = {(r["evalset"], r["split"], r["layer"], r["reference"], r["variant"]) for r in rows}
    assert len(keys) == len(rows) == 4 * 2 * 2 * 2  # splits × layers × references × variants
    assert {(r["evalset"], r["split"]) for r in rows} == {("train", "forget_train"), ("test", "forget_test"),
                                                          ("test", "retain_test"), ("ds", "all")}
    get = {(r["evalset"], r["split"], r["layer"], r["reference"], r["variant"]): r["value"] for r in rows}
    x = ctx.features["model"]["train"].layers["block3"][ctx.forget_train_idx]
    y = ctx.features["retrain"]["train"].layers["block3"][ctx.forget_train_idx]
    assert get[("train", "forget_train", "block3", "retrain", "debiased")] == pytest.approx(
        gram_cka_debiased(x, y), abs=1e-10)
    x, y = ctx.features["model"]["ds"].layers["pre_logits"], ctx.features["original"]["ds"].layers["pre_logits"]
    assert get[("ds", "all", "pre_logits", "original", "biased")] == pytest.approx(gram_cka(x, y), abs=1e-10)
    # every row records the samples and the feature dimension it was computed on
    sizes = {(r["evalset"], r["split"], r["layer"]): (r["n"], r["dim"]) for r in rows}
    assert sizes[("train", "forget_train", "block3")] == (len(ctx.forget_train_idx), 9)
    assert sizes[("ds", "all", "pre_logits")] == (30, 6)
    # the model is closer to the original (noise 0.3) than to the retrained model (noise 1.0)
    assert get[("test", "retain_test", "pre_logits", "original", "biased")] > \
        get[("test", "retain_test", "pre_logits", "retrain", "biased")]


def test_metric_robustness():
    rng = np.random.default_rng(9)
    rows = create_metric("cka", variants=["biased"]).evaluate(_ctx(rng, sample_forgetting=True, drop=["retrain"]))
    assert {r["reference"] for r in rows} == {"original"} and {r["variant"] for r in rows} == {"biased"}
    assert "forget_test" not in {r["split"] for r in rows} and len(rows) == 3 * 2
    rows = create_metric("cka").evaluate(_ctx(rng, nan_model=True))
    nan = [r for r in rows if math.isnan(r["value"])]
    # only rows whose samples include the NaN (test row 3: a retain-class sample) on that layer
    assert {(r["evalset"], r["split"], r["layer"]) for r in nan} == {("test", "retain_test", "pre_logits")}
    assert len(nan) == 2 * 2  # 2 references × 2 variants
    assert create_metric("cka").evaluate(_ctx(rng, drop=["original", "retrain"])) == []


@pytest.mark.parametrize("kw, name", [({"variants": ["linear"]}, "variants"), ({"variants": []}, "variants"),
                                      ({"batch_size": 0}, "batch_size"), ({"compute_dtype": "half"}, "compute_dtype"),
                                      ({"upstream_splits": ["val"]}, "upstream_splits")])
def test_invalid_params(kw, name):
    with pytest.raises(ValueError, match=name):
        create_metric("cka", **kw)
