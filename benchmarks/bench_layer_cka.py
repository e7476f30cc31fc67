"""Layer-wise CKA on flattened activation maps: subsample error, storage, time (a script, not a test).

    PYTHONPATH=src python benchmarks/bench_layer_cka.py --data upstream.npz --forget random2.json \\
        --pair original.safetensors retrain.safetensors [--pair a.safetensors b.safetensors ...]
    PYTHONPATH=src python benchmarks/bench_layer_cka.py --synthetic      # no checkpoints needed

1. Subsample error. For each pair of models, the flattened stage maps of *every* example of the train and
   test eval sets are extracted (one pass per model and eval set), and the exact full-split CKA of the flattened
   maps (Gram form, float64) is compared with the value the benchmark stores: the CKA of the Grams restricted
   to the seeded per-class subset (``subset_order``, ``gram_per_class`` = p) ∩ split, over ``--draws`` subset
   seeds. Printed per (pair, split, layer, estimator): the full value, and per p the mean signed error
   (bias), the mean and the 95th percentile of |error|.
2. Storage rounding: the same subset CKA from the float32-rounded centred Gram that features files store.
3. Storage and memory of the Grams per model and eval set, for the default experiment (cifar_resnet8, 16
   classes) and for a ResNet-50 at 224 px on ImageNet-1k (``capped_rows`` with the default byte cap).
4. Time of the Gram (float64, column blocks) for the default experiment's train eval set.

``--synthetic`` replaces the models by generated class-structured maps (a shared low-rank signal plus noise,
the second representation a noisy linear map of the first) so that the script runs anywhere.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from unlearnbench.metrics.cka_gram import GramCollector, capped_rows, cka_from_grams, packed_size, subset_order

GIB = 1 << 30
#: timm's resnet50 feature stages: stage0 = stem (act1), stage1–4 = layer1–4
RESNET50_224 = {"stage0": (64, 112, 112), "stage1": (256, 56, 56), "stage2": (512, 28, 28), "stage3": (1024, 14, 14),
                "stage4": (2048, 7, 7)}
CIFAR_RESNET8_32 = {"stage0": (16, 32, 32), "stage1": (32, 16, 16), "stage2": (64, 8, 8)}


def centred_gram(x: np.ndarray) -> np.ndarray:
    """Xc Xcᵀ in float64 (column blocks), Xc = X minus its column mean."""
    mean = x.mean(axis=0, dtype=np.float64)
    k = np.zeros((len(x), len(x)))
    step = max(1, (1 << 26) // (8 * len(x)))
    for j in range(0, x.shape[1], step):
        blk = x[:, j:j + step].astype(np.float64) - mean[j:j + step]
        k += blk @ blk.T
    return k


def model_maps(ckpt: str, images, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Flattened float32 maps of every stage of ``ckpt`` over ``images`` (one pass)."""
    import torch

    from unlearnbench.checkpoints import load_checkpoint
    from unlearnbench.models import feature_layers, forward_layers

    model, _ = load_checkpoint(ckpt, "cpu")
    model.eval()
    stages = [name for name in feature_layers(model) if name.startswith("stage")]
    out: dict[str, list[np.ndarray]] = {s: [] for s in stages}
    with torch.inference_mode():
        for x, _ in images.batches(batch_size):
            maps = forward_layers(model, x, [], maps=stages).maps
            for s in stages:
                out[s].append(maps[s].reshape(len(x), -1).float().numpy())
    return {s: np.concatenate(v) for s, v in out.items()}


def synthetic_maps(labels: np.ndarray, seed: int, dims: dict[str, int]) -> tuple[dict, dict]:
    """Two class-structured representations per layer: rank-48 signal (16 class + 32 example factors) + noise."""
    rng = np.random.default_rng(seed)
    n, c = len(labels), int(labels.max()) + 1
    z = np.concatenate([np.eye(c)[labels] * 3.0, rng.standard_normal((n, 32))], axis=1)
    a, b = {}, {}
    for name, d in dims.items():
        x = np.maximum(z @ rng.standard_normal((z.shape[1], d)) + rng.standard_normal((n, d)), 0)
        y = np.maximum(z @ rng.standard_normal((z.shape[1], d)) * 0.7 + x @ rng.standard_normal((d, 64))
                       @ rng.standard_normal((64, d)) / d + 2 * rng.standard_normal((n, d)), 0)
        a[name], b[name] = x.astype(np.float32), y.astype(np.float32)
    return a, b


def subsample_table(title: str, grams_a: dict, grams_b: dict, labels: np.ndarray, splits: dict[str, np.ndarray],
                    per_class: list[int], draws: int) -> None:
    print(f"\n== {title}")
    print(f"{'split':13s} {'layer':7s} {'est.':8s} {'n':>5s} {'full':>7s} | " + " | ".join(
        f"p={p:<3d} n~   bias  mean|e|  p95|e|" for p in per_class) + " | f32 max|e|")
    for split, pos in splits.items():
        for layer in grams_a:
            ka, kb = grams_a[layer], grams_b[layer]
            for debiased in (False, True):
                full = cka_from_grams(ka[np.ix_(pos, pos)], kb[np.ix_(pos, pos)], debiased=debiased)
                cells, f32 = [], 0.0
                for p in per_class:
                    errs, sizes = [], []
                    for s in range(draws):
                        sub = np.sort(np.intersect1d(subset_order(labels, p, s), pos))
                        if len(sub) < 4:
                            continue
                        a, b = ka[np.ix_(sub, sub)], kb[np.ix_(sub, sub)]
                        v = cka_from_grams(a, b, debiased=debiased)
                        errs.append(v - full)
                        sizes.append(len(sub))
                        if p == per_class[0] and s < 3:  # as stored: subset Gram centred, float32, restricted
                            whole = np.sort(subset_order(labels, p, s))
                            at = np.searchsorted(whole, sub)
                            ca, cb = (_centre(k[np.ix_(whole, whole)]).astype(np.float32) for k in (ka, kb))
                            v32 = cka_from_grams(ca[np.ix_(at, at)], cb[np.ix_(at, at)], debiased=debiased)
                            f32 = max(f32, abs(v32 - v))
                    e = np.asarray(errs)
                    cells.append(f"      {np.mean(sizes):4.0f} {e.mean():+.3f}   {np.abs(e).mean():.3f}   "
                                 f"{np.quantile(np.abs(e), 0.95):.3f}" if len(e) else " " * 34)
                name = "debiased" if debiased else "biased"
                print(f"{split:13s} {layer:7s} {name:8s} {len(pos):5d} {full:7.4f} | " + " | ".join(cells)
                      + f" | {f32:.1e}")


def _centre(k: np.ndarray) -> np.ndarray:
    r = k.mean(axis=0)
    return k - r[None, :] - r[:, None] + r.mean()


def storage_tables(per_class: int, max_bytes: int) -> None:
    print(f"\n== storage per model (gram_per_class={per_class}, gram_max_bytes={max_bytes / GIB:g} GiB; float32 "
          "packed triangle; held = maps kept in memory during extraction)")
    cases = [("default: cifar_resnet8, 16 classes", CIFAR_RESNET8_32,
              {"train (2016)": 16, "test (800)": 16, "similar (300)": 4, "unrelated (300)": 4}),
             ("ImageNet-1k: ResNet-50 @224", RESNET50_224,
              {"train (50/class)": 1000, "val": 1000, "officehome": 65, "cub": 200, "domainnet": 345})]
    for title, shapes, evalsets in cases:
        print(f"-- {title}")
        total = 0
        for ev, classes in evalsets.items():
            parts = []
            for stage, shape in shapes.items():
                dim = int(np.prod(shape))
                m = capped_rows(per_class * classes, dim, max_bytes)
                stored = 4 * packed_size(m)
                total += stored
                parts.append(f"{stage}: m={m} held={4 * m * dim / 2**20:.0f} MiB stored={stored / 2**20:.2f} MiB")
            print(f"   {ev:17s} " + "; ".join(parts))
        print(f"   total stored per model (all stages, all eval sets): {total / 2**20:.1f} MiB")


def time_gram(per_class: int) -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(16), 126)
    order = subset_order(labels, per_class, 0)
    for stage, shape in CIFAR_RESNET8_32.items():
        col = GramCollector(order, len(labels), GIB)
        col.start(shape)
        rows, slots = col.wanted(0, len(labels))
        col.put(slots, np.maximum(rng.standard_normal((len(rows), int(np.prod(shape))), dtype=np.float32), 0))
        t0 = time.perf_counter()
        col.packed_gram()
        print(f"   Gram of {col.m} × {int(np.prod(shape))} ({stage}): {time.perf_counter() - t0:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="prepared upstream .npz")
    ap.add_argument("--forget", help="forget-set JSON (class forgetting) of the scenario")
    ap.add_argument("--pair", nargs=2, action="append", default=[], metavar=("A", "B"), help="two checkpoints")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--per-class", type=int, nargs="+", default=[8, 16, 24, 32])
    ap.add_argument("--draws", type=int, default=20, help="subset seeds per p")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-bytes", type=int, default=GIB)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.synthetic:
        labels = np.repeat(np.arange(16), 126)
        a, b = synthetic_maps(labels, 0, {"s0": 4096, "s1": 2048})
        ga, gb = {k: centred_gram(v) for k, v in a.items()}, {k: centred_gram(v) for k, v in b.items()}
        splits = {"forget(2cls)": np.flatnonzero(labels < 2), "retain": np.flatnonzero(labels >= 2)}
        subsample_table("synthetic", ga, gb, labels, splits, args.per_class, args.draws)
    else:
        from unlearnbench.data import load_prepared
        from unlearnbench.data.forget_sets import read_forget_set

        ds = load_prepared(args.data)
        fs = read_forget_set(args.forget)
        for ev in ("train", "test"):
            images = ds.evalset(ev)
            labels = images.labels
            full = fs.splits(labels, labels)
            splits = {f"forget_{ev}": full["forget_train"], f"retain_{ev}": full["retain_train"]}
            cache: dict[str, dict[str, np.ndarray]] = {}
            for ca, cb in args.pair:
                for c in (ca, cb):
                    if c not in cache:
                        t0 = time.perf_counter()
                        cache[c] = {k: centred_gram(v) for k, v in model_maps(c, images).items()}
                        print(f"[{ev}] maps + full Grams of {c}: {time.perf_counter() - t0:.1f} s")
                subsample_table(f"{ev}: {ca} vs {cb}", cache[ca], cache[cb], labels, splits, args.per_class,
                                args.draws)
    storage_tables(16, args.max_bytes)
    print("\n== time (one core, default experiment's train eval set)")
    time_gram(16)


if __name__ == "__main__":
    main()
