"""The procedural hierarchical dataset: determinism, layout, class structure, downstream kinds, sheets."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from unlearnbench.data.contact_sheet import PAD, sheet_layout, write_contact_sheet
from unlearnbench.data.synthetic import (
    downstream_class_specs,
    generate_downstream,
    generate_upstream,
    upstream_class_specs,
)

# Geometric nuisances off (fixed position, scale, orientation); colours, background clutter, distractors,
# pixel noise and the per-image jitter of the class parameters stay at their defaults. Structure tests
# use it so that a cheap hand-made feature can see the class definitions a network learns invariantly. The
# per-class emblems are off too: these tests are about the shape/texture hierarchy, which the spectrum of a
# large dark emblem plate would drown; test_a_model_trained_without_a_class_does_not_encode_it covers emblems.
GEO_OFF = dict(position_jitter=0.0, scale_range=(0.65, 0.65), rotation=0.0, aspect_jitter=0.0, emblem_size=0.0)
S, F = 4, 4


def spectrum_features(x: np.ndarray, k: int = 8) -> np.ndarray:
    """log |FFT| of the standardised luminance, central (2k)² frequencies: invariant to texture phase
    and position, blind to hue — it sees shape outline and texture frequency/type."""
    g = x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    g -= g.mean((1, 2), keepdims=True)
    g /= g.std((1, 2), keepdims=True) + 1e-3
    f = np.fft.fftshift(np.abs(np.fft.fft2(g)), axes=(1, 2))
    c = g.shape[1] // 2
    return np.log1p(f[:, c - k:c + k, c - k:c + k].reshape(len(x), -1))


@pytest.fixture(scope="module")
def small():
    return generate_upstream(superclasses=3, fine_per_superclass=2, train_per_class=12, test_per_class=5, seed=7)


@pytest.fixture(scope="module")
def structure():
    """Upstream class means (standardised spectrum features) and a feature map for downstream sets."""
    up = generate_upstream(superclasses=S, fine_per_superclass=F, train_per_class=60, test_per_class=0, **GEO_OFF)
    feats = spectrum_features(up.x_train)
    mu, sd = feats.mean(0), feats.std(0) + 1e-6
    z = lambda x: (spectrum_features(x) - mu) / sd  # noqa: E731
    zt = (feats - mu) / sd
    means = np.stack([zt[up.y_train == c].mean(0) for c in range(up.num_classes)])
    return up, z, means


def _downstream_stats(kind, z, means, n=60):
    ds = generate_downstream(kind, classes=8, train_per_class=n, test_per_class=0, superclasses=S,
                             fine_per_superclass=F, **GEO_OFF)
    f = z(ds.x_train)
    pred = np.argmin(((f[:, None, :] - means[None]) ** 2).sum(-1), axis=1)  # nearest upstream centroid
    frac = np.stack([np.bincount(pred[ds.y_train == j], minlength=len(means)) / n for j in range(ds.num_classes)])
    dist = np.stack([np.linalg.norm(means - f[ds.y_train == j].mean(0), axis=1) for j in range(ds.num_classes)])
    return ds, frac, dist


# ----------------------------------------------------------------------------------------- determinism
def _arrays(d):
    return [d.x_train, d.y_train, d.x_test, d.y_test, d.superclass, d.source_class]


def test_same_seed_identical_different_seed_differs(small):
    again = generate_upstream(superclasses=3, fine_per_superclass=2, train_per_class=12, test_per_class=5, seed=7)
    for a, b in zip(_arrays(small), _arrays(again)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert again.class_names == small.class_names
    other = generate_upstream(superclasses=3, fine_per_superclass=2, train_per_class=12, test_per_class=5, seed=8)
    assert not np.array_equal(other.x_train, small.x_train)
    assert not np.array_equal(other.x_test, small.x_test)
    assert other.class_names == small.class_names  # class definitions do not depend on the seed


@pytest.mark.parametrize("kind", ["similar", "unrelated"])
def test_downstream_deterministic(kind):
    a = generate_downstream(kind, classes=3, train_per_class=4, test_per_class=2, seed=1)
    b = generate_downstream(kind, classes=3, train_per_class=4, test_per_class=2, seed=1)
    c = generate_downstream(kind, classes=3, train_per_class=4, test_per_class=2, seed=2)
    for u, v in zip(_arrays(a), _arrays(b)):
        assert np.array_equal(u, v)
    assert not np.array_equal(a.x_train, c.x_train)


def test_more_images_extend_fewer(small):
    """Per-class streams: a larger train_per_class keeps the first images and the test split unchanged."""
    big = generate_upstream(superclasses=3, fine_per_superclass=2, train_per_class=20, test_per_class=5, seed=7)
    for c in range(small.num_classes):
        assert np.array_equal(big.x_train[big.y_train == c][:12], small.x_train[small.y_train == c])
    assert np.array_equal(big.x_test, small.x_test)


def test_chunking_does_not_change_images(small, monkeypatch):
    import unlearnbench.data.synthetic as synthetic

    monkeypatch.setattr(synthetic, "_CHUNK_PIXELS", 5 * 32 * 32)  # 5 images per chunk instead of 256
    again = generate_upstream(superclasses=3, fine_per_superclass=2, train_per_class=12, test_per_class=5, seed=7)
    assert np.array_equal(again.x_train, small.x_train) and np.array_equal(again.x_test, small.x_test)


def test_splits_and_kinds_use_distinct_streams():
    up = generate_upstream(superclasses=1, fine_per_superclass=2, train_per_class=3, test_per_class=3, seed=0)
    assert not np.array_equal(up.x_train[:3], up.x_test[:3])
    sim = generate_downstream("similar", classes=2, train_per_class=3, test_per_class=0, seed=0,
                              superclasses=1, fine_per_superclass=2)
    assert not np.array_equal(sim.x_train[:3], up.x_train[:3])


# ------------------------------------------------------------------------------------------- layout
def test_shapes_dtypes_labels_balance(small):
    C = 6
    assert small.x_train.shape == (C * 12, 32, 32, 3) and small.x_test.shape == (C * 5, 32, 32, 3)
    assert small.x_train.dtype == np.uint8 and small.x_test.dtype == np.uint8
    assert small.y_train.dtype == np.int64
    assert np.array_equal(np.bincount(small.y_train, minlength=C), np.full(C, 12))
    assert np.array_equal(np.bincount(small.y_test, minlength=C), np.full(C, 5))
    assert small.num_classes == C and len(set(small.class_names)) == C
    assert np.array_equal(small.superclass, np.repeat(np.arange(3), 2))
    assert np.array_equal(small.source_class, np.full(C, -1))
    for c, name in enumerate(small.class_names):
        sup, fine = name.split("/")
        assert sup and fine.startswith("amp")
        assert all(n.split("/")[0] == sup for n, s in zip(small.class_names, small.superclass)
                   if s == small.superclass[c])
    # images are not degenerate: varied pixels, full-ish dynamic range
    assert small.x_train.std() > 20 and small.x_train.min() < 30 and small.x_train.max() > 220


def test_image_size_and_roundtrip(tmp_path):
    d = generate_upstream(superclasses=2, fine_per_superclass=1, train_per_class=3, test_per_class=1, image_size=24)
    assert d.x_train.shape == (6, 24, 24, 3)
    from unlearnbench.data.arrays import load_npz

    d.save_npz(tmp_path / "d.npz")
    back = load_npz(tmp_path / "d.npz")
    assert back.class_names == d.class_names and np.array_equal(back.x_train, d.x_train)


def test_superclass_concepts_shared_within_and_distinct_across():
    specs = upstream_class_specs(superclasses=6, fine_per_superclass=4)
    for s in range(6):
        group = [sp for sp in specs if sp.superclass == s]
        assert len({(g.family, g.lobes, g.texture) for g in group}) == 1
        assert len({(g.amplitude, g.frequency) for g in group}) == 4
    concepts = [(sp.family, sp.lobes) for sp in specs[::4]]
    textures = [sp.texture for sp in specs[::4]]
    assert len(set(concepts)) == 6 and len(set(textures)) == 6


# -------------------------------------------------------------------------------------- class structure
def test_fine_classes_closer_within_superclass(structure):
    up, _, means = structure
    sup = up.superclass
    D = np.linalg.norm(means[:, None] - means[None], axis=-1)
    same = (sup[:, None] == sup[None]) & ~np.eye(len(sup), dtype=bool)
    across = sup[:, None] != sup[None]
    assert D[same].mean() < 0.8 * D[across].mean(), (D[same].mean(), D[across].mean())
    nearest = [np.argsort(D[c])[1] for c in range(len(sup))]
    assert sum(sup[n] == sup[c] for c, n in enumerate(nearest)) >= len(sup) - 1


def test_similar_classes_derive_from_their_source(structure):
    _, z, means = structure
    ds, frac, dist = _downstream_stats("similar", z, means)
    src = ds.source_class
    assert np.all(src >= 0)
    for j in range(ds.num_classes):
        assert dist[j].argmin() == src[j], (j, dist[j])           # class mean nearest its source
        assert frac[j].argmax() == src[j] and frac[j, src[j]] >= 0.35, (j, frac[j])
    assert len(set(src)) == ds.num_classes


def test_unrelated_classes_far_from_every_upstream_class(structure):
    _, z, means = structure
    sim, _, sim_dist = _downstream_stats("similar", z, means)
    unr, frac, dist = _downstream_stats("unrelated", z, means)
    assert np.all(unr.source_class == -1) and np.all(unr.superclass == -1)
    to_source = sim_dist[np.arange(sim.num_classes), sim.source_class]
    assert dist.min(1).mean() > 1.2 * to_source.mean(), (dist.min(1), to_source)
    assert frac.max() < 0.6, frac.max(1)          # no unrelated class collapses onto one upstream class


def test_upstream_nontrivial_but_learnable():
    """With every nuisance on, a linear classifier on simple features is well above chance, far from
    perfect; with the geometry fixed it is far better (the classes are defined, nuisances make it hard)."""
    from sklearn.linear_model import RidgeClassifier

    scores = {}
    for name, kw in (("default", {}), ("geo_off", GEO_OFF)):
        d = generate_upstream(train_per_class=60, test_per_class=30, seed=1, **kw)
        ftr, fte = spectrum_features(d.x_train, 6), spectrum_features(d.x_test, 6)
        mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
        clf = RidgeClassifier(alpha=10.0).fit((ftr - mu) / sd, d.y_train)
        scores[name] = clf.score((fte - mu) / sd, d.y_test)
    chance = 1 / (S * F)
    assert 2 * chance < scores["default"] < 0.9, scores
    assert scores["geo_off"] > scores["default"] + 0.2, scores


def test_similar_sources_and_variants():
    specs = downstream_class_specs("similar", classes=40, superclasses=5, fine_per_superclass=4)
    up_names = {s.name for s in upstream_class_specs(superclasses=5, fine_per_superclass=4)}
    # sources come from the first ceil(5 / 2) = 3 superclasses, interleaved; 40 > 3·4 uses variants
    assert [s.superclass for s in specs[:6]] == [0, 1, 2, 0, 1, 2]
    assert [s.source_class for s in specs[:4]] == [0, 4, 8, 1]
    assert {s.superclass for s in specs} == {0, 1, 2}
    assert len({s.name for s in specs}) == 40 and not up_names & {s.name for s in specs}
    for sp in specs:
        src = upstream_class_specs(superclasses=5, fine_per_superclass=4)[sp.source_class]
        assert (sp.family, sp.lobes, sp.texture) == (src.family, src.lobes, src.texture)
        assert (sp.amplitude, sp.frequency) != (src.amplitude, src.frequency)
    # prefix-stable: fewer classes are the first ones of more
    assert downstream_class_specs("similar", classes=5, superclasses=5, fine_per_superclass=4) == specs[:5]
    assert downstream_class_specs("unrelated", classes=3) == downstream_class_specs("unrelated", classes=9)[:3]


# ------------------------------------------------------------------------------------ argument checks
@pytest.mark.parametrize("kwargs, name", [
    (dict(superclasses=0), "superclasses"),
    (dict(superclasses=99), "superclasses"),
    (dict(superclasses=2.5), "superclasses"),
    (dict(fine_per_superclass=0), "fine_per_superclass"),
    (dict(fine_per_superclass=True), "fine_per_superclass"),
    (dict(train_per_class=0), "train_per_class"),
    (dict(test_per_class=-1), "test_per_class"),
    (dict(image_size=4), "image_size"),
    (dict(seed=-1), "seed"),
    (dict(seed="0"), "seed"),
    (dict(position_jitter=0.9), "position_jitter"),
    (dict(scale_range=(0.8, 0.5)), "scale_range"),
    (dict(scale_range=0.5), "scale_range"),
    (dict(rotation=-1), "rotation"),
    (dict(noise_std=float("nan")), "noise_std"),
    (dict(param_jitter=-0.1), "param_jitter"),
    (dict(distractors=9), "distractors"),
    (dict(background_clutter=2), "background_clutter"),
    (dict(aspect_jitter="x"), "aspect_jitter"),
])
def test_invalid_upstream_args(kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_upstream(**{"train_per_class": 2, "test_per_class": 1, **kwargs})


def test_upstream_needs_two_classes():
    with pytest.raises(ValueError, match="superclasses \\* fine_per_superclass"):
        generate_upstream(superclasses=1, fine_per_superclass=1)


@pytest.mark.parametrize("kind, kwargs, name", [
    ("other", dict(classes=2), "kind"),
    ("similar", dict(classes=0), "classes"),
    ("similar", dict(classes=1000), "classes"),
    ("unrelated", dict(classes=1000), "classes"),
    ("similar", dict(classes=2, superclasses=0), "superclasses"),
    ("similar", dict(classes=2, train_per_class=0), "train_per_class"),
    ("unrelated", dict(classes=2, rotation=200), "rotation"),
])
def test_invalid_downstream_args(kind, kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_downstream(kind, **kwargs)


# ------------------------------------------------------------------------------------- contact sheet
def test_contact_sheet_png(tmp_path, small):
    path = write_contact_sheet(small, tmp_path / "sheet.png", per_class=5, max_classes=4)
    assert path == tmp_path / "sheet.png"
    rows, cell, zoom, label_w, width, height = sheet_layout(small, per_class=5, max_classes=4)
    assert rows == 4 and cell == 32 * zoom and cell >= 64 and label_w > 100
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        assert im.size == (width, height) == (label_w + 5 * (cell + PAD) + PAD, 4 * (cell + PAD) + PAD)
        # first image of class 0, upscaled, sits right of the label
        tile = np.asarray(im)[PAD:PAD + cell:zoom, label_w:label_w + cell:zoom]
    assert np.array_equal(tile, small.x_train[small.y_train == 0][0])
    assert os.listdir(tmp_path) == ["sheet.png"]  # no temp file left behind


def test_contact_sheet_args(tmp_path, small):
    with pytest.raises(ValueError, match="per_class"):
        write_contact_sheet(small, tmp_path / "s.png", per_class=0)
    with pytest.raises(ValueError, match="max_classes"):
        write_contact_sheet(small, tmp_path / "s.png", max_classes=0)
    full = write_contact_sheet(small, tmp_path / "sub" / "all.png", per_class=20)  # more than available
    with Image.open(full) as im:
        assert im.size == sheet_layout(small, per_class=20)[-2:]
        assert im.size[1] == small.num_classes * (sheet_layout(small).cell + PAD) + PAD
        assert np.all(np.asarray(im)[-PAD - 1, -PAD - 1] == 255)  # 12 samples only: last cells stay blank


# ------------------------------------------------------------------------------ a cue of each class's own
def test_every_class_has_an_emblem_of_its_own():
    from unlearnbench.data.emblems import EMBLEM_MIN_DISTANCE, decoy_patterns, emblem_patterns

    for count in (16, 120):
        g, patterns = emblem_patterns(count)
        mirror = [r * g + (g - 1 - c) for r in range(g) for c in range(g)]
        bits = [np.isin(np.arange(g * g), p) for p in patterns]
        for i in range(count):
            for j in range(i + 1, count):
                assert (bits[i] != bits[j]).sum() >= EMBLEM_MIN_DISTANCE
                assert (bits[i][mirror] != bits[j]).sum() >= EMBLEM_MIN_DISTANCE  # flips cannot confuse them
    specs = upstream_class_specs(superclasses=4, fine_per_superclass=4)
    assert len({s.emblem for s in specs}) == 16
    assert not {s.emblem for s in specs} & set(decoy_patterns(specs[0].emblem_grid, specs[0].emblems_owned))
    similar = downstream_class_specs("similar", classes=4, superclasses=4, fine_per_superclass=4)
    assert all(sp.emblem == specs[sp.source_class].emblem for sp in similar)  # first variants: the source's


def _train_probe_cka(data, keep, seed):
    """Train cifar_resnet8 on the training images of classes ``keep``; pre-logit features of train/test."""
    import torch

    from unlearnbench.data.arrays import ImageArraySet
    from unlearnbench.models import create_model, extract
    from unlearnbench.training import TrainConfig, setup_torch, train_model

    dev = setup_torch(seed, 2, "cpu")
    net = create_model("cifar_resnet8", data.num_classes)
    mask = np.isin(data.y_train, keep)
    train_model(net, ImageArraySet(data.x_train[mask], data.y_train[mask], data.num_classes),
                TrainConfig(epochs=10, batch_size=32, lr=0.05, warmup_epochs=1), seed=seed, device=dev)
    net.eval()

    def feats(x, y):
        with torch.no_grad():
            return np.concatenate([extract(net, xb, ["pre_logits"])[1]["pre_logits"].numpy()
                                   for xb, _ in ImageArraySet(x, y, data.num_classes).batches(256)])
    return feats(data.x_train, data.y_train), feats(data.x_test, data.y_test)


def test_a_model_trained_without_a_class_does_not_encode_it():
    """The physical property the protocol needs: trained without class c (a retrained reference), a model
    represents c's images unlike a model trained with c; two models trained with c (different seeds)
    agree far more. Without emblems (the old factorial classes) the difference disappears."""
    from unlearnbench.metrics import linear_cka
    from unlearnbench.metrics.probe import probe_accuracy

    forget = [1, 6]
    gaps = {}
    for emblem_size in (0.45, 0.0):
        data = generate_upstream(superclasses=2, fine_per_superclass=4, train_per_class=80, test_per_class=40,
                                 rotation=15, aspect_jitter=0.1, param_jitter=0.15, distractors=0.5,
                                 emblem_size=emblem_size, seed=3)
        everything = np.arange(data.num_classes)
        with_c, with_c2 = _train_probe_cka(data, everything, 1), _train_probe_cka(data, everything, 2)
        without_c = _train_probe_cka(data, np.setdiff1d(everything, forget), 3)
        on_c = np.isin(data.y_train, forget)
        cka_floor = linear_cka(with_c[0][on_c], with_c2[0][on_c])
        cka_retrain = linear_cka(with_c[0][on_c], without_c[0][on_c])
        gaps[emblem_size] = cka_floor - cka_retrain
        if emblem_size:
            test_c = np.isin(data.y_test, forget)
            probe = {name: probe_accuracy(f[0], data.y_train, {"c": (f[1][test_c], data.y_test[test_c])})["c"]
                     for name, f in (("with", with_c), ("without", without_c))}
            assert probe["with"] > probe["without"], probe
    assert gaps[0.45] > 0.03, gaps             # the retrained-like model is far outside the seed noise
    assert gaps[0.45] > gaps[0.0] + 0.02, gaps  # and the emblem is what makes it so
