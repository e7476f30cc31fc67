"""Scale harness (a script, not a test): streamed CKA memory and CPU feature-extraction throughput.

    HF_HUB_OFFLINE=1 python benchmarks/bench_scale.py [--threads 2] [--n 200000] [--quick]

1. Peak RSS of linear CKA over n = 200 000 × 2 048 float32 features per representation, generated batch
   by batch (never materialised: 2 × 1.6 GB if they were) and fed to
   ``unlearnbench.metrics.cka.LinearCKAAccumulator``; biased and debiased from the one pass. Runs in a
   fresh interpreter that imports numpy and the CKA module only, so ``ru_maxrss`` is the CKA's footprint
   (plus the interpreter's): target < 1 GiB. Memory is O(d²) — three 2 048² float64 Gram blocks
   (96 MiB) plus one batch per representation — independent of n.
2. Feature-extraction throughput on this CPU for the presets' models at their resolutions — ResNet-50 @ 224
   (configs/imagenet.yaml) and CIFAR ResNet-20 @ 32 (configs/cifar100.yaml): the forward pass alone
   (``models.extract`` over every stage + pre-logits, inference mode), and the whole ``extract_all`` path
   (prepared dataset → batches → forward → safetensors): JPEG files through ``FileImageSet`` (decode +
   resize + centre crop in DataLoader workers) for ResNet-50, in-memory pixels for ResNet-20.

Numbers move with the load of a shared machine; the GPU path (bf16 autocast, channels_last, pinned
DataLoader workers) is not measured here.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CKA_CHILD = r"""
import json, resource, sys, time
import numpy as np
from unlearnbench.metrics.cka import LinearCKAAccumulator
n, d, batch, threads = (int(a) for a in sys.argv[1:5])
from threadpoolctl import threadpool_limits
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
rng = np.random.default_rng(0)
perm = rng.permutation(d)
scale = rng.uniform(0.5, 2.0, d).astype(np.float32)
xbuf, ybuf = np.empty((batch, d), np.float32), np.empty((batch, d), np.float32)
acc = LinearCKAAccumulator()
t0 = time.perf_counter()
with threadpool_limits(limits=threads, user_api="blas"):
    for start in range(0, n, batch):
        m = min(batch, n - start)
        x, y = xbuf[:m], ybuf[:m]
        rng.standard_normal(dtype=np.float32, out=x)
        np.maximum(x, 0, out=x)                          # ReLU-like features
        rng.standard_normal(dtype=np.float32, out=y)     # y = ReLU(permuted, rescaled x + noise)
        y *= 0.5
        y += x[:, perm] * scale
        np.maximum(y, 0, out=y)
        acc.update(x, y)
    biased, debiased = acc.result(), acc.result(debiased=True)
print(json.dumps({"n": acc.n, "d": d, "batch": batch, "seconds": time.perf_counter() - t0, "biased": biased,
                  "debiased": debiased, "baseline_mib": base, "buffers_mib": 2 * xbuf.nbytes / 2**20,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cka_memory(n: int, d: int, batch: int, threads: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CKA_CHILD, str(n), str(d), str(batch), str(threads)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def forward_throughput(arch: str, size: int, num_classes: int, n: int, batch: int) -> float:
    import torch

    from unlearnbench.models import create_model, extract, feature_layers

    torch.manual_seed(0)
    model = create_model(arch, num_classes).eval()
    layers = feature_layers(model)
    x = torch.randn(batch, 3, size, size)
    with torch.inference_mode():
        extract(model, x[:2], layers)  # warm-up
        t0 = time.perf_counter()
        done = 0
        while done < n:
            extract(model, x, layers)
            done += batch
    return done / (time.perf_counter() - t0)


def pipeline_throughput(kind: str, arch: str, size: int, n_per_class: int, classes: int, batch: int,
                        threads: int, work: Path) -> dict:
    """Images/s of ``features.extract_all`` on one eval set of a prepared dataset."""
    import numpy as np

    from unlearnbench.checkpoints import save_checkpoint
    from unlearnbench.data import ArrayDataset
    from unlearnbench.testing import write_imagefolder
    from unlearnbench.features import extract_all, read_features_meta
    from unlearnbench.models import create_model
    from unlearnbench.stages import prepare_data

    work.mkdir(parents=True, exist_ok=True)
    if kind == "files":  # JPEGs of a typical ImageNet size (decoded, resized to size/0.875, centre-cropped)
        write_imagefolder(work / "imgs", [f"c{i}" for i in range(classes)], per_class=n_per_class, size=320,
                          ext=".jpg")
        prepare_data({"type": "imagefolder", "root": str(work / "imgs"), "image_size": size, "test_fraction": 0.5},
                     work / "d.npz", work / "d.json", work / "d.png")
    else:
        rng = np.random.default_rng(0)
        y = np.arange(classes * n_per_class) % classes
        ArrayDataset(rng.integers(0, 255, (len(y), size, size, 3), dtype=np.uint8), y,
                     rng.integers(0, 255, (len(y), size, size, 3), dtype=np.uint8), y).save_npz(work / "d.npz")
    save_checkpoint(work / "m.safetensors", create_model(arch, classes), {"arch": arch, "num_classes": classes})
    out = work / "f" / "whole.safetensors"
    t0 = time.perf_counter()
    extract_all(work / "m.safetensors", [("whole", str(work / "d.npz"))], [out], batch_size=batch, threads=threads,
                device="cpu")
    wall = time.perf_counter() - t0
    meta = read_features_meta(out)
    return {"n": meta["n"], "img_per_s_loop": meta["img_per_s"], "img_per_s_job": meta["n"] / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=200_000, help="rows of the streamed CKA")
    parser.add_argument("--d", type=int, default=2048, help="feature width of the streamed CKA")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    n = 20_000 if args.quick else args.n

    print(f"== streamed linear CKA, n={n:,} × d={args.d} per representation, float32 batches of 8192")
    r = cka_memory(n, args.d, 8192, args.threads)
    verdict = "OK" if r["peak_rss_mib"] < 1024 else "OVER"
    print(f"  peak RSS {r['peak_rss_mib']:.0f} MiB — target < 1024 MiB: {verdict} (of which: interpreter + "
          f"unlearnbench.metrics imports {r['baseline_mib']:.0f} MiB, the generator's two batch buffers "
          f"{r['buffers_mib']:.0f} MiB)")
    print(f"  {r['seconds']:.1f} s for the pass ({r['n'] / r['seconds']:,.0f} rows/s incl. generating the "
          f"features); CKA biased {r['biased']:.4f}, debiased {r['debiased']:.4f}")

    print(f"== feature extraction on CPU ({args.threads} threads), every stage + pre_logits")
    reps = 16 if args.quick else 64
    for arch, size, batch in (("resnet50", 224, 32), ("cifar_resnet20", 32, 256)):
        ips = forward_throughput(arch, size, 100, reps if arch == "resnet50" else reps * 32, batch)
        print(f"  {arch:15s} @{size:<3d} forward only: {ips:8.1f} img/s")
    with tempfile.TemporaryDirectory() as tmp:
        r50 = pipeline_throughput("files", "resnet50", 224, 4 if args.quick else 8, 8, 32, args.threads,
                                  Path(tmp) / "r50")
        r20 = pipeline_throughput("pixels", "cifar_resnet20", 32, 50 if args.quick else 200, 20, 512, args.threads,
                                  Path(tmp) / "r20")
    print(f"  resnet50        @224 extract_all, {r50['n']} JPEGs (320 px) via FileImageSet: "
          f"{r50['img_per_s_loop']:.1f} img/s in the loop, {r50['img_per_s_job']:.1f} img/s incl. model load")
    print(f"  cifar_resnet20  @32  extract_all, {r20['n']} in-memory images: {r20['img_per_s_loop']:.0f} img/s in "
          f"the loop, {r20['img_per_s_job']:.0f} img/s incl. model load")


if __name__ == "__main__":
    main()
