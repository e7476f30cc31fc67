"""Layer-wise CKA on flattened activation maps (Gram form on a seeded subset): Gram vs feature-space identity,
flattened stage CKA against an explicit n×n reference, a subset shared by every model, bounded bytes, the
last stage not duplicated as pre-logits, config keys validated."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from test_metrics_cka import gram_cka, gram_cka_debiased
from unlearnbench.checkpoints import load_checkpoint, save_checkpoint
from unlearnbench.config import ConfigError, validate_config
from unlearnbench.data.arrays import ArrayDataset
from unlearnbench.features import _same_features, extract_all, read_features, read_features_meta
from unlearnbench.metrics import EvalContext, FeatureSet, create_metric, linear_cka
from unlearnbench.metrics.cka_gram import (LayerGram, aligned_rows, capped_rows, cka_from_grams, packed_size,
                                           subset_order)
from unlearnbench.models import create_model, forward_layers

CLASSES, TRAIN_PER_CLASS, TEST_PER_CLASS = 4, 12, 6


# ------------------------------------------------------------------------------------------ Gram form
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("n, d1, d2", [(40, 6, 9), (12, 50, 30)])  # n > d and d > n
def test_cka_from_grams_equals_feature_space(debiased, n, d1, d2):
    rng = np.random.default_rng(n)
    x = np.maximum(rng.standard_normal((n, d1)) + 1.5, 0)
    y = x @ rng.standard_normal((d1, d2)) + 0.7 * rng.standard_normal((n, d2)) + 4.0
    ref = linear_cka(x, y, debiased=debiased, compute_dtype="float64")
    assert cka_from_grams(x @ x.T, y @ y.T, debiased=debiased) == pytest.approx(ref, abs=1e-8)
    xc, yc = x - x.mean(0), y - 3.0  # translation: the stored Grams are of mean-shifted maps
    assert cka_from_grams(xc @ xc.T, yc @ yc.T, debiased=debiased) == pytest.approx(ref, abs=1e-8)


def test_cka_from_grams_errors_and_nan():
    k = np.eye(5)
    with pytest.raises(ValueError, match="same shape"):
        cka_from_grams(k, np.eye(4))
    with pytest.raises(ValueError, match="n >= 4"):
        cka_from_grams(np.eye(3), np.eye(3), debiased=True)
    bad = k.copy()
    bad[1, 2] = np.nan
    assert np.isnan(cka_from_grams(bad, k))


def test_layer_gram_packing_and_alignment():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 3))
    k = x @ x.T
    g = LayerGram(index=[5, 0, 9, 2, 7, 3, 1], packed=k[np.triu_indices(7)], dim=3)
    np.testing.assert_allclose(g.matrix(), k)
    np.testing.assert_allclose(g.matrix(np.array([4, 1])), k[np.ix_([4, 1], [4, 1])])
    other = LayerGram(index=[9, 5, 0], packed=np.zeros(packed_size(3)), dim=3)  # a shorter prefix elsewhere
    ra, rb = aligned_rows(g, other, np.array([0, 9, 2]))
    assert g.index[ra].tolist() == other.index[rb].tolist() == [0, 9]
    with pytest.raises(ValueError, match="packed"):
        LayerGram(index=[0, 1], packed=np.zeros(2), dim=3)
    # FeatureSet.subset keeps the Gram rows of the surviving examples, re-indexed into the new rows
    fs = FeatureSet(labels=np.arange(10) % 2, logits=np.zeros((10, 2)), grams={"stage0": g})
    sub = fs.subset(np.array([9, 5, 4, 0]))
    h = sub.grams["stage0"]
    assert sub.labels.tolist() == [1, 1, 0, 0] and h.index.tolist() == [1, 3, 0]  # positions 5, 0, 9
    np.testing.assert_allclose(h.matrix(), k[np.ix_([0, 1, 2], [0, 1, 2])])


# ------------------------------------------------------------------------------------------ the subset
def test_subset_is_seeded_class_balanced_and_nested():
    labels = np.repeat(np.arange(5), [9, 9, 9, 9, 2])  # one small class
    order = subset_order(labels, 4, seed=3)
    assert np.array_equal(order, subset_order(labels, 4, seed=3))
    assert not np.array_equal(order, subset_order(labels, 4, seed=4))
    assert np.bincount(labels[order]).tolist() == [4, 4, 4, 4, 2] and len(set(order)) == len(order)
    for k in (1, 2):  # every round-robin prefix holds k of each class
        assert np.bincount(labels[order[:5 * k]]).tolist() == [k] * 5
    assert subset_order(labels, 0, seed=3).size == 0


def test_capped_rows_bounds_maps_and_gram():
    assert capped_rows(16_000, 256 * 56 * 56, 1 << 30) == 334  # ResNet-50 layer1 at 224 px: 1 GiB of maps
    for m, dim, cap in [(10_000, 10, 1 << 20), (500, 4096, 1 << 22), (100, 1, 400)]:
        rows = capped_rows(m, dim, cap)
        assert rows <= m and 4 * rows * dim <= cap and 4 * packed_size(rows) <= cap
        assert rows == m or 4 * (rows + 1) * dim > cap or 4 * packed_size(rows + 1) > cap


# ------------------------------------------------------------------------------------------ extraction
@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Two randomly initialised cifar_resnet8 checkpoints extracted on a tiny random image set."""
    tmp = tmp_path_factory.mktemp("layer_cka")
    rng = np.random.default_rng(0)
    n_tr, n_te = CLASSES * TRAIN_PER_CLASS, CLASSES * TEST_PER_CLASS
    ds = ArrayDataset(rng.integers(0, 256, (n_tr, 32, 32, 3), dtype=np.uint8), np.arange(n_tr) % CLASSES,
                      rng.integers(0, 256, (n_te, 32, 32, 3), dtype=np.uint8), np.arange(n_te) % CLASSES)
    ds.save_npz(tmp / "data.npz")
    paths = {}
    for role, seed in (("model", 1), ("original", 2)):
        torch.manual_seed(seed)
        save_checkpoint(tmp / f"{role}.safetensors", create_model("cifar_resnet8", CLASSES),
                        {"arch": "cifar_resnet8", "num_classes": CLASSES})
        outs = [tmp / role / f"{ev}.safetensors" for ev in ("train", "test")]
        extract_all(tmp / f"{role}.safetensors", [(ev, str(tmp / "data.npz")) for ev in ("train", "test")], outs,
                    batch_size=16, threads=1, device="cpu", gram_per_class=5, seed=7)
        paths[role] = {ev: out for ev, out in zip(("train", "test"), outs)}
    return tmp, ds, paths


def _context(paths, ds):
    feats = {role: {ev: read_features(p) for ev, p in evs.items()} for role, evs in paths.items()}
    forget = [1]
    f_tr, f_te = np.flatnonzero(np.isin(ds.y_train, forget)), np.flatnonzero(np.isin(ds.y_test, forget))
    return EvalContext(features=feats, forget_train_idx=f_tr,
                       retain_train_idx=np.setdiff1d(np.arange(len(ds.y_train)), f_tr),
                       forget_test_idx=f_te, retain_test_idx=np.setdiff1d(np.arange(len(ds.y_test)), f_te),
                       num_classes=CLASSES, forget_classes=forget, layers=["stage0", "stage1", "stage2", "pre_logits"])


def test_flattened_stage_cka_equals_gram_reference(extracted):
    """The metric's flattened-map rows equal the explicit n×n Gram formulas (tr(KHLH), Song et al. HSIC_1)
    on the flattened maps recomputed from the checkpoints, on the subset ∩ split."""
    tmp, ds, paths = extracted
    ctx = _context(paths, ds)
    rows = create_metric("cka", upstream_splits=["forget_train", "retain_test"]).evaluate(ctx)
    got = {(r["split"], r["layer"], r["variant"]): r for r in rows}
    maps = {}
    for role in ("model", "original"):
        model, _ = load_checkpoint(tmp / f"{role}.safetensors", "cpu")
        maps[role] = {}
        for ev, x_img in (("train", ds.split("train")), ("test", ds.split("test"))):
            x = torch.cat([b for b, _ in x_img.batches(64)])
            with torch.inference_mode():
                out = forward_layers(model.eval(), x, [], maps=["stage0", "stage1", "stage2"]).maps
            maps[role][ev] = {k: v.reshape(len(x), -1).double().numpy() for k, v in out.items()}
    checked = 0
    for split, ev, idx in (("forget_train", "train", ctx.forget_train_idx),
                           ("retain_test", "test", ctx.retain_test_idx)):
        labels = ds.y_train if ev == "train" else ds.y_test
        subset = np.intersect1d(subset_order(labels, 5, 7), idx)
        for layer in ("stage0", "stage1", "stage2"):
            x, y = maps["model"][ev][layer][subset], maps["original"][ev][layer][subset]
            for variant, ref in (("biased", gram_cka), ("debiased", gram_cka_debiased)):
                row = got[(split, layer, variant)]
                assert row["value"] == pytest.approx(ref(x, y), abs=1e-5)
                assert row["n"] == len(subset) and row["dim"] == x.shape[1]
                checked += 1
    assert checked == 12
    assert got[("forget_train", "stage0", "biased")]["dim"] == 16 * 32 * 32
    # pooled stage variants: feature space, whole split; pre_logits keeps its variant names and meaning
    pooled = got[("forget_train", "stage1", "biased_pooled")]
    x, y = ctx.features["model"]["train"].layers["stage1"], ctx.features["original"]["train"].layers["stage1"]
    f = ctx.forget_train_idx
    assert pooled["value"] == pytest.approx(gram_cka(x[f].astype(np.float64), y[f].astype(np.float64)), abs=1e-5)
    assert pooled["n"] == len(f) and pooled["dim"] == 32
    pre = got[("forget_train", "pre_logits", "debiased")]
    x, y = ctx.features["model"]["train"].layers["pre_logits"], ctx.features["original"]["train"].layers["pre_logits"]
    assert pre["value"] == pytest.approx(gram_cka_debiased(x[f].astype(np.float64), y[f].astype(np.float64)),
                                         abs=1e-5)
    assert pre["n"] == len(f) and pre["dim"] == 64


def test_pre_logits_not_duplicated(extracted):
    _, ds, paths = extracted
    fs = read_features(paths["model"]["train"])
    assert "stage2" not in fs.layers and fs.aliases == {"stage2": "pre_logits"}
    assert fs.feature("stage2") is fs.layers["pre_logits"]
    assert read_features_meta(paths["model"]["train"])["pooled_same_as"] == {"stage2": "pre_logits"}
    rows = create_metric("cka").evaluate(_context(paths, ds))
    variants = {(r["layer"], r["variant"]) for r in rows}
    assert ("stage2", "biased") in variants and ("stage1", "biased_pooled") in variants
    assert not any(layer == "stage2" and v.endswith("_pooled") for layer, v in variants)
    assert {v for layer, v in variants if layer == "pre_logits"} == {"biased", "debiased"}
    # a network whose pre-logits are not the pooled last stage (a ViT: class token after a final norm)
    vit = create_model("vit_tiny_patch16_224", 3, img_size=32, patch_size=8).eval()
    with torch.inference_mode():
        out = forward_layers(vit, torch.randn(4, 3, 32, 32), ["stage11", "pre_logits"])
    assert not _same_features(out.pooled["stage11"], out.pooled["pre_logits"])


def test_subset_identical_across_models_and_reruns(extracted, tmp_path):
    tmp, ds, paths = extracted
    a, b = (read_features(paths[r]["train"]) for r in ("model", "original"))
    for layer in ("stage0", "stage1", "stage2"):
        assert np.array_equal(a.grams[layer].index, b.grams[layer].index)
        assert np.array_equal(a.grams[layer].index, subset_order(ds.y_train, 5, 7))
    out = tmp_path / "train.safetensors"
    extract_all(tmp / "model.safetensors", [("train", str(tmp / "data.npz"))], [out], batch_size=7, threads=1,
                device="cpu", gram_per_class=5, seed=7)  # another batch size: same subset, same Gram
    again = read_features(out)
    for layer, g in a.grams.items():
        assert np.array_equal(again.grams[layer].index, g.index)
        np.testing.assert_allclose(again.grams[layer].packed, g.packed, rtol=1e-5, atol=1e-6)


def test_storage_bounded_by_gram_max_bytes(extracted, tmp_path):
    tmp, ds, _ = extracted
    cap = 200_000  # stage0 (64 KiB per image) fits 3 < 4 rows: no Gram; stage1 6 rows; stage2 12 rows
    out = tmp_path / "train.safetensors"
    extract_all(tmp / "model.safetensors", [("train", str(tmp / "data.npz"))], [out], batch_size=16, threads=1,
                device="cpu", gram_per_class=5, gram_max_bytes=cap, seed=7)
    meta = read_features_meta(out)["gram"]
    assert meta["max_bytes"] == cap and meta["per_class"] == 5 and meta["seed"] == 7 and meta["subset"] == 20
    assert {k: v["n"] for k, v in meta["layers"].items()} == {"stage0": 0, "stage1": 6, "stage2": 12}
    for rec in meta["layers"].values():
        assert rec["held_bytes"] <= cap and rec["stored_bytes"] <= cap
    fs = read_features(out)
    assert set(fs.grams) == {"stage1", "stage2"}
    assert fs.grams["stage2"].packed.nbytes == meta["layers"]["stage2"]["stored_bytes"]
    full = subset_order(ds.y_train, 5, 7)
    assert np.array_equal(fs.grams["stage1"].index, full[:6])  # a capped subset is a class-balanced prefix
    assert np.bincount(ds.y_train[fs.grams["stage2"].index]).tolist() == [3] * 4
    none = tmp_path / "none" / "train.safetensors"
    extract_all(tmp / "model.safetensors", [("train", str(tmp / "data.npz"))], [none], threads=1, device="cpu",
                gram_per_class=0)
    assert read_features(none).grams == {}


# ------------------------------------------------------------------------------------------ metric
def _gram_ctx(rng, nan_model=False):
    n, d = 40, 30
    labels = np.arange(n) % 4
    base = rng.standard_normal((n, d))

    def fs(noise, index, nan=False):
        x = base + noise * rng.standard_normal((n, d))
        xi = x[index]
        packed = (xi @ xi.T)[np.triu_indices(len(index))]
        if nan:
            packed[0] = np.nan
        return FeatureSet(labels=labels, logits=x[:, :4], layers={"pre_logits": x[:, :8], "stage0": x[:, :5]},
                          grams={"stage0": LayerGram(index=index, packed=packed, dim=d, shape=(d,))})

    index = subset_order(labels, 3, 0)
    feats = {"model": {"train": fs(0.3, index, nan_model)}, "original": {"train": fs(0.0, index[:8])}}
    return EvalContext(features=feats, forget_train_idx=np.flatnonzero(labels == 1),
                       retain_train_idx=np.flatnonzero(labels != 1), forget_test_idx=[], retain_test_idx=[],
                       num_classes=4, layers=["stage0", "pre_logits"]), index


def test_metric_gram_rows_intersect_subsets_and_skip_small_splits():
    rng = np.random.default_rng(3)
    ctx, index = _gram_ctx(rng)
    rows = create_metric("cka", upstream_splits=["forget_train", "retain_train"]).evaluate(ctx)
    flat = {(r["split"], r["variant"]): r for r in rows if r["layer"] == "stage0" and "pooled" not in r["variant"]}
    # the reference holds only the first 8 subset rows (2 per class): forget split has 2 < 4 -> no rows
    assert set(flat) == {("retain_train", "biased"), ("retain_train", "debiased")}
    shared = np.sort(index[:8][np.isin(index[:8], ctx.retain_train_idx)])
    x = ctx.features["model"]["train"].grams["stage0"]
    assert flat[("retain_train", "biased")]["n"] == len(shared) == 6 and flat[("retain_train", "biased")]["dim"] == 30
    assert {r["variant"] for r in rows if r["layer"] == "stage0"} >= {"biased_pooled", "debiased_pooled"}
    assert x.n == 12


def test_metric_nan_gram_gives_nan_rows():
    ctx, _ = _gram_ctx(np.random.default_rng(4), nan_model=True)
    rows = create_metric("cka", upstream_splits=["retain_train"]).evaluate(ctx)
    flat = [r for r in rows if r["layer"] == "stage0" and r["variant"] in ("biased", "debiased")]
    assert len(flat) == 2 and all(np.isnan(r["value"]) for r in flat)


# ------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize("key, value", [("gram_per_class", -1), ("gram_per_class", 2.5), ("gram_max_bytes", 0),
                                        ("gram_max_bytes", "1GB")])
def test_bad_gram_config_names_the_key(key, value):
    with pytest.raises(ConfigError, match=f"evaluation.{key}"):
        validate_config({"evaluation": {key: value}})


def test_gram_config_defaults_and_extraction_check(tmp_path):
    ev = validate_config({})["evaluation"]
    assert ev["gram_per_class"] == 16 and ev["gram_max_bytes"] == 1 << 30
    with pytest.raises(ValueError, match="evaluation.gram_max_bytes"):
        extract_all(tmp_path / "m.safetensors", [], [], gram_max_bytes=0)
    assert json.dumps(ev)  # plain JSON values (rule params)
