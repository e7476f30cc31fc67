"""Procrustes similarity and mutual k-NN alignment: closed forms, invariances, chance levels, the metrics' rows."""
import json
import math

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes

from unlearnbench.metrics import ROW_KEYS, EvalContext, FeatureSet, create_metric
from unlearnbench.metrics.mutual_knn import knn_indices, mutual_knn
from unlearnbench.metrics.procrustes import procrustes_similarity
from unlearnbench.metrics.uncertainty import bootstrap_se


def rotation(rng, d_in, d_out=None):
    """Random d_in×d_out matrix with orthonormal rows (square: a random orthogonal matrix)."""
    q, _ = np.linalg.qr(rng.standard_normal((d_out or d_in, d_in)))
    return q.T


def nuclear_similarity(x, y):
    """Reference: the formula written out — centre, unit Frobenius norm, nuclear norm of X^T Y by SVD."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    xc, yc = xc / np.linalg.norm(xc), yc / np.linalg.norm(yc)
    return np.linalg.svd(xc.T @ yc, compute_uv=False).sum()


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((60, 7)) + 2.0


# ---------------------------------------------------------------- Procrustes

def test_procrustes_invariances(x):
    rng = np.random.default_rng(1)
    assert procrustes_similarity(x, x) == pytest.approx(1.0, abs=1e-12)
    # rotation/reflection + isotropic scaling + translation: similarity 1 (distance 0)
    y = 3.7 * x @ rotation(rng, 7) + rng.standard_normal(7) * 50
    assert procrustes_similarity(x, y) == pytest.approx(1.0, abs=1e-12)
    # isometric embedding into a wider space (d1 = 7, d2 = 10), then translated
    wide = x @ rotation(rng, 7, 10) - 4.0
    assert procrustes_similarity(x, wide) == pytest.approx(1.0, abs=1e-12)
    assert procrustes_similarity(wide, x) == pytest.approx(1.0, abs=1e-12)
    # not invariant to an anisotropic rescaling (CKA-style invertible-linear invariance does not hold)
    assert procrustes_similarity(x, x * np.array([10, 1, 1, 1, 1, 1, 1.0])) < 0.8
    # standard error of an exact match is 0
    value, se = procrustes_similarity(x, y, return_se=True)
    assert value == pytest.approx(1.0, abs=1e-12) and se == pytest.approx(0.0, abs=1e-9)


def test_procrustes_hand_computed_3x2():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array([[2.0, 1.0], [0.0, 0.0], [1.0, 3.0]])
    # by hand: Xc = [[1,-2],[-2,1],[1,1]]/3, ||Xc||² = 4/3; Yc = [[1,-1/3],[-1,-4/3],[0,5/3]], ||Yc||² = 20/3;
    # M = Xc^T Yc = [[1, 4/3], [-1, 1/3]]; for a 2×2 matrix σ1 + σ2 = sqrt(||M||_F² + 2|det M|)
    m = np.array([[1.0, 4 / 3], [-1.0, 1 / 3]])
    xc, yc = x - x.mean(0), y - y.mean(0)
    np.testing.assert_allclose(xc.T @ yc, m, atol=1e-15)
    hand = math.sqrt(35 / 9 + 2 * 5 / 3) / math.sqrt(4 / 3 * 20 / 3)  # = sqrt(65/9) / sqrt(80/9)
    assert hand == pytest.approx(math.sqrt(13) / 4, abs=1e-15)
    assert np.linalg.svd(m, compute_uv=False).sum() / math.sqrt(80 / 9) == pytest.approx(hand, abs=1e-14)
    assert procrustes_similarity(x, y) == pytest.approx(math.sqrt(13) / 4, abs=1e-14)
    # value = 1 − d²/2 with d² = min over orthogonal Q of ||X̃ − Ỹ Q||_F² (scipy's independent solver)
    xt, yt = xc / np.linalg.norm(xc), yc / np.linalg.norm(yc)
    q, _ = orthogonal_procrustes(yt, xt)
    d2 = np.linalg.norm(xt - yt @ q) ** 2
    assert 1 - d2 / 2 == pytest.approx(procrustes_similarity(x, y), abs=1e-12)


def test_procrustes_matches_formula_wide_and_narrow():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((40, 9)), rng.standard_normal((40, 5))
    b = b + a[:, :5]
    assert procrustes_similarity(a, b) == pytest.approx(nuclear_similarity(a, b), abs=1e-12)
    # d > n: the n×n reduction is exact
    c, e = rng.standard_normal((12, 30)), rng.standard_normal((12, 25))
    assert procrustes_similarity(c, e) == pytest.approx(nuclear_similarity(c, e), abs=1e-12)
    assert procrustes_similarity(c, c[:, ::-1] * 2) == pytest.approx(1.0, abs=1e-12)
    assert 0.0 <= procrustes_similarity(c, e) <= 1.0


def test_procrustes_null_value_of_independent_features():
    # independent isotropic Gaussians, d ≪ n: X̃^T Ỹ ≈ G/(d√n) with G a d×d standard Gaussian matrix, whose
    # mean nuclear norm is ≈ (8/(3π)) d^1.5 (quarter-circle law) -> value ≈ 0.849·sqrt(d/n). One draw at
    # n = 4000, d = 16 has SD ≈ 4% of the mean (measured), so the mean of 3 draws is within 10%.
    rng = np.random.default_rng(3)
    n, d = 4000, 16
    vals = [procrustes_similarity(rng.standard_normal((n, d)), rng.standard_normal((n, d))) for _ in range(3)]
    assert np.mean(vals) == pytest.approx(8 / (3 * math.pi) * math.sqrt(d / n), rel=0.10)


def test_procrustes_degenerate_and_errors(x):
    assert procrustes_similarity(x, np.full((60, 3), 0.1)) == 0.0  # a representation without variance
    with pytest.raises(ValueError, match="same number of rows"):
        procrustes_similarity(x, x[:5])
    with pytest.raises(ValueError, match="n >= 2"):
        procrustes_similarity(x[:1], x[:1])


def test_procrustes_se_matches_paired_bootstrap_and_sampling_sd():
    rng = np.random.default_rng(4)
    n, d = 1000, 8
    a = rng.standard_normal((d, d))

    def draw():
        z = rng.standard_normal((n, d))
        return np.maximum(z, 0) + 1.0, z @ a + 2.0 * rng.standard_normal((n, d))

    x, y = draw()
    value, se = procrustes_similarity(x, y, return_se=True)
    # paired bootstrap: the same resampled rows in both representations (200 resamples: ~5% relative noise)
    boot = np.std([procrustes_similarity(x[i], y[i]) for i in rng.integers(0, n, (200, n))], ddof=1)
    assert se == pytest.approx(boot, rel=0.25)
    # SD of the statistic over fresh samples (40 draws: ~11% relative noise); dropping the normalisation
    # terms of the influence function doubles the SE here, so a 35% band separates right from wrong
    truth = np.std([procrustes_similarity(*draw()) for _ in range(40)], ddof=1)
    assert se == pytest.approx(truth, rel=0.35)
    assert 0.3 < value < 0.9


# ---------------------------------------------------------------- mutual k-NN

def test_mutual_knn_invariances(x):
    rng = np.random.default_rng(5)
    assert mutual_knn(x, x, k=5) == 1.0
    assert mutual_knn(x, 3.7 * x @ rotation(rng, 7), k=5) == 1.0  # rotation/reflection + isotropic scaling
    assert mutual_knn(x, 0.2 * x @ rotation(rng, 7, 12), k=5) == 1.0  # embedding into a wider space
    assert mutual_knn(x, x * rng.uniform(0.1, 10, (60, 1)), k=5) == 1.0  # per-sample positive scaling
    # cosine neighbourhoods are about the origin: a translation changes them (and Procrustes does not see it)
    shifted = x + np.array([-2.0, 3, -1, 0, 2, -3, 1]) * 3
    assert mutual_knn(x, shifted, k=5) < 0.9
    assert procrustes_similarity(x, shifted) == pytest.approx(1.0, abs=1e-12)


def test_mutual_knn_hand_computed():
    # unit vectors at these angles (degrees), with arbitrary positive lengths; cosine decreases with the angle
    # difference (all differences < 180°), so neighbours are the nearest angles
    ax, ay = [0, 10, 25, 45, 85], [0, 30, 36, 40, 100]
    radii = np.array([1.0, 5.0, 0.3, 2.0, 7.0])
    to_xy = lambda deg: radii[:, None] * np.stack([np.cos(np.radians(deg)), np.sin(np.radians(deg))], 1)  # noqa: E731
    x, y = to_xy(np.array(ax, float)), to_xy(np.array(ay, float))
    # k = 1: N_X = 1,0,1,2,3 ; N_Y = 1,2,3,2,3 -> agree for samples 0, 3, 4
    assert knn_indices(x, 1).ravel().tolist() == [1, 0, 1, 2, 3]
    assert knn_indices(y, 1).ravel().tolist() == [1, 2, 3, 2, 3]
    assert mutual_knn(x, y, k=1) == pytest.approx(3 / 5)
    # k = 2: N_X = {1,2},{0,2},{1,3},{1,2},{2,3}; N_Y = {1,2},{2,3},{1,3},{1,2},{2,3} -> overlaps 2,1,2,2,2
    assert [set(r) for r in knn_indices(x, 2).tolist()] == [{1, 2}, {0, 2}, {1, 3}, {1, 2}, {2, 3}]
    value, per = mutual_knn(x, y, k=2, return_per_sample=True)
    assert per.tolist() == [1.0, 0.5, 1.0, 1.0, 1.0] and value == pytest.approx(9 / 10)


def test_knn_ties_go_to_the_lower_position():
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    x = np.array([e1, e1, e1, e2, [0.0, 0.0]])  # exact duplicates; a zero row (similarity 0 to all)
    assert knn_indices(x, 1).ravel().tolist() == [1, 0, 0, 0, 0]
    assert knn_indices(x, 2).tolist() == [[1, 2], [0, 2], [0, 1], [0, 1], [0, 1]]


def test_mutual_knn_chance_level_of_independent_features():
    # Independent representations: N_X(i), N_Y(i) are independent uniform k-subsets of the n − 1 others, so
    # |N_X ∩ N_Y| is hypergeometric: mean k²/(n−1) -> alignment k/(n−1) = 0.02506 (n = 400, k = 10).
    # Per-sample SD of the overlap fraction: sqrt(k·p·(1−p)·(n−1−k)/(n−2))/k with p = k/(n−1) = 0.0489; the
    # mean over n samples if independent: 0.0489/20 = 0.0024; neighbour relations are partly mutual (an
    # overlap can count for both i and j), inflating it by at most √2 -> ≤ 0.0035 per draw (0.0033
    # measured), ≤ 0.0017 for the mean of 4 draws; the tolerance 0.007 is 4 of those SDs.
    rng = np.random.default_rng(6)
    n, k = 400, 10
    vals = [mutual_knn(rng.standard_normal((n, 32)), rng.standard_normal((n, 32)), k=k) for _ in range(4)]
    assert np.mean(vals) == pytest.approx(k / (n - 1), abs=0.007)


def test_mutual_knn_errors(x):
    with pytest.raises(ValueError, match="k=60"):
        mutual_knn(x, x, k=60)  # n = 60: only 59 other samples
    with pytest.raises(ValueError, match="k: must be"):
        mutual_knn(x, x, k=0)
    with pytest.raises(ValueError, match="same number of rows"):
        mutual_knn(x, x[:10], k=3)
    assert mutual_knn(x, x, k=59) == 1.0  # every other sample


# ---------------------------------------------------------------- the metrics' rows

def _ctx(rng, *, sample_forgetting=False, drop=(), nan_model=False, nan_ref=False, n_forget=None):
    n_tr, n_te, n_ds = 80, 60, 30
    base = {s: rng.standard_normal((n, 6)) for s, n in (("train", n_tr), ("test", n_te), ("ds", n_ds))}
    mix = rng.standard_normal((6, 9))

    def fs(evalset, noise):
        x = base[evalset] + noise * rng.standard_normal(base[evalset].shape)
        return FeatureSet(labels=np.arange(len(x)) % 4, logits=x[:, :4].astype(np.float32),
                          layers={"pre_logits": x, "block3": np.tanh(x @ mix), "stage2": x[:, :3]},
                          aliases={})

    feats = {"model": {e: fs(e, 0.3) for e in base}, "original": {e: fs(e, 0.0) for e in base},
             "retrain": {e: fs(e, 1.0) for e in base}}
    if nan_model:
        feats["model"]["test"].layers["pre_logits"][3, 1] = np.nan  # a retain-test sample (label 3)
    if nan_ref:
        feats["retrain"]["train"].layers["pre_logits"][:] = np.inf
    for role in drop:
        del feats[role]
    lab_tr, lab_te = np.arange(n_tr) % 4, np.arange(n_te) % 4
    if sample_forgetting:
        f_tr, f_te = np.arange(0, n_tr, 10), np.array([], dtype=int)
    else:
        f_tr, f_te = np.flatnonzero(lab_tr == 1), np.flatnonzero(lab_te == 1)
    if n_forget is not None:
        f_tr, f_te = f_tr[:n_forget], f_te[:n_forget]
    return EvalContext(features=feats, forget_train_idx=f_tr, retain_train_idx=np.setdiff1d(np.arange(n_tr), f_tr),
                       forget_test_idx=f_te, retain_test_idx=np.setdiff1d(np.arange(n_te), f_te), num_classes=4,
                       forget_classes=None if sample_forgetting else [1], downstream=["ds"],
                       layers=["pre_logits", "block3"], seed=0)


SPLITS = {("train", "forget_train"), ("train", "retain_train"), ("test", "forget_test"), ("test", "retain_test"),
          ("ds", "all")}


@pytest.mark.parametrize("name, fn, variant", [
    ("procrustes", procrustes_similarity, "similarity"),
    ("mutual_knn", lambda a, b: mutual_knn(a, b, k=10), "")])
def test_metric_rows_and_values(name, fn, variant):
    ctx = _ctx(np.random.default_rng(7))
    m = create_metric(name)
    rows = m.evaluate(ctx)
    assert len(rows) == 5 * 2  # splits × references; default layers: pre_logits only
    for r in rows:
        assert tuple(r) == ROW_KEYS and r["metric"] == name and r["variant"] == variant
        assert r["layer"] == "pre_logits" and r["dim"] == 6 and json.loads(r["params"]) == m.get_params()
        assert math.isfinite(r["value"]) and 0.0 <= r["value"] <= 1.0 and math.isfinite(r["se"]) and r["se"] > 0
    assert {(r["evalset"], r["split"]) for r in rows} == SPLITS
    assert {r["reference"] for r in rows} == {"original", "retrain"}
    get = {(r["split"], r["reference"]): r for r in rows}
    assert get[("forget_train", "original")]["n"] == 20 and get[("retain_train", "retrain")]["n"] == 60
    assert get[("all", "original")]["n"] == 30 and get[("forget_test", "retrain")]["n"] == 15
    # values are the functions on the same samples of model and reference
    i = ctx.retain_train_idx
    x, y = ctx.features["model"]["train"].layers["pre_logits"], ctx.features["retrain"]["train"].layers["pre_logits"]
    assert get[("retain_train", "retrain")]["value"] == pytest.approx(fn(x[i], y[i]), abs=1e-12)
    # the model (noise 0.3) is closer to the original (noise 0) than to the retrained model (noise 1)
    assert get[("retain_train", "original")]["value"] > get[("retain_train", "retrain")]["value"]
    # more layers on request; a layer the run did not extract is skipped; a stage aliased to pre_logits too
    ctx.layers.append("stage2")
    for fs in (f for role in ctx.features.values() for f in role.values()):
        fs.aliases["stage2"] = "pre_logits"
    rows = create_metric(name, layers=["pre_logits", "block3", "stage2", "stage9"]).evaluate(ctx)
    assert {r["layer"] for r in rows} == {"pre_logits", "block3"} and len(rows) == 5 * 2 * 2
    assert {r["dim"] for r in rows if r["layer"] == "block3"} == {9}


def test_mutual_knn_se_is_bootstrap_of_per_sample_overlaps():
    ctx = _ctx(np.random.default_rng(8))
    row = next(r for r in create_metric("mutual_knn", k=5).evaluate(ctx)
               if (r["split"], r["reference"]) == ("retain_test", "original"))
    i = ctx.retain_test_idx
    x, y = ctx.features["model"]["test"].layers["pre_logits"], ctx.features["original"]["test"].layers["pre_logits"]
    value, per = mutual_knn(x[i], y[i], k=5, return_per_sample=True)
    assert row["value"] == value and row["se"] == bootstrap_se(per) and row["n"] == 45


def test_procrustes_se_on_rows():
    ctx = _ctx(np.random.default_rng(9))
    row = next(r for r in create_metric("procrustes").evaluate(ctx)
               if (r["split"], r["reference"]) == ("forget_test", "retrain"))
    i = ctx.forget_test_idx
    x, y = ctx.features["model"]["test"].layers["pre_logits"], ctx.features["retrain"]["test"].layers["pre_logits"]
    assert (row["value"], row["se"]) == pytest.approx(procrustes_similarity(x[i], y[i], return_se=True), abs=1e-12)


@pytest.mark.parametrize("name", ["procrustes", "mutual_knn"])
def test_max_samples_subsamples_the_same_rows_for_every_model(name):
    ctx = _ctx(np.random.default_rng(10))
    m = create_metric(name, max_samples=25, subsample_seed=3)
    rows = {(r["split"], r["reference"]): r for r in m.evaluate(ctx)}
    assert rows[("retain_train", "original")]["n"] == 25 and rows[("all", "original")]["n"] == 25
    assert rows[("forget_train", "original")]["n"] == 20  # small enough: whole split
    idx = ctx.retain_train_idx
    kept = idx[np.sort(np.random.default_rng(3).choice(len(idx), size=25, replace=False))]
    x, y = ctx.features["model"]["train"].layers["pre_logits"], ctx.features["original"]["train"].layers["pre_logits"]
    fn = procrustes_similarity if name == "procrustes" else (lambda a, b: mutual_knn(a, b, k=10))
    assert rows[("retain_train", "original")]["value"] == pytest.approx(fn(x[kept], y[kept]), abs=1e-12)
    # another model of the same scenario is scored on the same rows; another seed picks other rows
    ctx2 = _ctx(np.random.default_rng(11))
    ctx2.features["model"] = ctx.features["original"]
    ctx2.features["original"] = ctx.features["original"]
    same = {(r["split"], r["reference"]): r["value"] for r in m.evaluate(ctx2)}
    assert same[("retain_train", "original")] == pytest.approx(1.0, abs=1e-12)
    other = create_metric(name, max_samples=25, subsample_seed=4).evaluate(ctx)
    assert [r["value"] for r in other] != [r["value"] for r in rows.values()]


@pytest.mark.parametrize("name", ["procrustes", "mutual_knn"])
def test_robustness_sample_forgetting_missing_refs_and_nan(name):
    rng = np.random.default_rng(12)
    rows = create_metric(name).evaluate(_ctx(rng, sample_forgetting=True, drop=["retrain"]))
    assert {r["reference"] for r in rows} == {"original"}
    assert {r["split"] for r in rows} == {"forget_train", "retain_train", "retain_test", "all"}  # forget-test empty
    assert next(r for r in rows if r["split"] == "forget_train")["n"] == 8
    assert create_metric(name).evaluate(_ctx(rng, drop=["original", "retrain"])) == []
    # a NaN in one retain-test sample of the model: only the rows on those samples are NaN (both references)
    rows = create_metric(name).evaluate(_ctx(rng, nan_model=True))
    nan = {(r["split"], r["reference"]) for r in rows if math.isnan(r["value"])}
    assert nan == {("retain_test", "original"), ("retain_test", "retrain")}
    assert all(math.isnan(r["se"]) and r["n"] == 45 for r in rows if math.isnan(r["value"]))
    # a diverged reference: its train rows only
    rows = create_metric(name).evaluate(_ctx(rng, nan_ref=True))
    nan = {(r["split"], r["reference"]) for r in rows if math.isnan(r["value"])}
    assert nan == {("forget_train", "retrain"), ("retain_train", "retrain")}


def test_small_splits():
    rng = np.random.default_rng(13)
    # 3 forget samples: no rows (as CKA); 6 forget samples with k = 10: NaN rows (undetermined), n recorded
    assert not any("forget" in r["split"] for r in create_metric("procrustes").evaluate(_ctx(rng, n_forget=3)))
    assert not any("forget" in r["split"] for r in create_metric("mutual_knn").evaluate(_ctx(rng, n_forget=3)))
    rows = [r for r in create_metric("mutual_knn").evaluate(_ctx(rng, n_forget=6)) if "forget" in r["split"]]
    assert len(rows) == 4 and all(math.isnan(r["value"]) and r["n"] == 6 for r in rows)
    rows = [r for r in create_metric("mutual_knn", k=5).evaluate(_ctx(rng, n_forget=6)) if "forget" in r["split"]]
    assert len(rows) == 4 and all(math.isfinite(r["value"]) for r in rows)
    rows = [r for r in create_metric("procrustes").evaluate(_ctx(rng, n_forget=6)) if "forget" in r["split"]]
    assert len(rows) == 4 and all(math.isfinite(r["value"]) for r in rows)


@pytest.mark.parametrize("name, kw, param", [
    ("procrustes", {"layers": []}, "layers"), ("procrustes", {"layers": [""]}, "layers"),
    ("procrustes", {"layers": ["pre_logits", "pre_logits"]}, "layers"),
    ("procrustes", {"upstream_splits": ["val"]}, "upstream_splits"), ("procrustes", {"max_samples": 3}, "max_samples"),
    ("procrustes", {"max_samples": 2.5}, "max_samples"), ("procrustes", {"subsample_seed": -1}, "subsample_seed"),
    ("mutual_knn", {"k": 0}, "k"), ("mutual_knn", {"k": 2.0}, "k"), ("mutual_knn", {"k": True}, "k"),
    ("mutual_knn", {"k": 10, "max_samples": 10}, "max_samples"), ("mutual_knn", {"layers": [3]}, "layers"),
    ("mutual_knn", {"upstream_splits": "all"}, "upstream_splits")])
def test_invalid_params(name, kw, param):
    with pytest.raises(ValueError, match=param):
        create_metric(name, **kw)


@pytest.mark.parametrize("name", ["procrustes", "mutual_knn"])
def test_params_round_trip(name):
    m = create_metric(name, layers=("pre_logits", "block3"), upstream_splits="forget_train", max_samples=None)
    params = m.get_params()
    assert json.loads(json.dumps(params)) == params and params["layers"] == ["pre_logits", "block3"]
    assert params["upstream_splits"] == ["forget_train"] and params["max_samples"] is None
    assert create_metric(name, **params).get_params() == params
