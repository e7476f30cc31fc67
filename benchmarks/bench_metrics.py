"""Performance harness for the metrics (a script, not a test): prints timings, values and peak RSS.

    PYTHONPATH=src python benchmarks/bench_metrics.py [--threads 2] [--quick]

1. Linear CKA in feature space on 50 000 × 2 048 float32 features (biased, debiased, both from one pass,
   float64 blocks for the accuracy reference) — targets: ≤ 3 s, debiased ≤ 2× biased.
2. k-NN (k=5, cosine): 10 000-sample bank × 2 000 queries, d = 512 — target ≤ 0.3 s; agreement with sklearn.
3. Side by side on 10 000 × 512 class-sorted features: feature-space CKA vs the naive n×n Gram formula
   (float64 and float32) vs a batch-averaged CKA (mean of per-mini-batch CKAs, batches of 100 consecutive
   class-sorted samples, the way the reference code evaluates it).

Also prints the machine's plain float32 GEMM throughput measured in the same process, because timings on a
shared machine move with its load: compare the achieved GMAC/s with it.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from unlearnbench.metrics.cka import LinearCKAAccumulator, linear_cka
from unlearnbench.metrics.knn import knn_predict


def rss_mb() -> float:
    """Peak RSS of the process so far (getrusage), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class PhasePeak:
    """Peak RSS of one phase above the RSS at its start (Linux: resets VmHWM via /proc/self/clear_refs)."""

    def __enter__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        self.start = _status_mb("VmRSS:")
        return self

    def __exit__(self, *exc):
        self.extra = _status_mb("VmHWM:") - self.start


CPU_TIMES: list[float] = []


def timed(fn, repeat: int = 1):
    """Best wall time of ``repeat`` calls; the process CPU time of that call is appended to CPU_TIMES
    (with --threads 1 it estimates the wall time on an idle core when the machine is shared)."""
    best, cpu, out = float("inf"), float("nan"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, c = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, cpu = wall, c
    CPU_TIMES.append(cpu)
    return best, out


def cpu() -> str:
    return f"[cpu {CPU_TIMES[-1]:.2f} s]"


def features(n: int, d: int, seed: int, *, classes: int | None = None):
    """Correlated, non-centred ReLU features of a 'model' and a 'reference' sharing a 64-d latent."""
    rng = np.random.default_rng(seed)
    if classes:
        labels = np.sort(rng.integers(0, classes, n))
        z = (3.0 * rng.standard_normal((classes, 64), dtype=np.float32))[labels]
        z += rng.standard_normal((n, 64), dtype=np.float32)
    else:
        labels, z = None, rng.standard_normal((n, 64), dtype=np.float32)
    x = z @ rng.standard_normal((64, d), dtype=np.float32)
    x += rng.standard_normal((n, d), dtype=np.float32)
    np.maximum(x + 0.5, 0, out=x)
    y = z @ rng.standard_normal((64, d), dtype=np.float32)
    y += 2.0 * rng.standard_normal((n, d), dtype=np.float32)
    np.maximum(y, 0, out=y)
    return x, y, labels


def gram_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Naive: K = XX^T, L = YY^T (n×n), double-centred in place, CKA = <Kc,Lc> / (||Kc|| ||Lc||)."""
    def centred(a):
        k = a @ a.T
        k -= k.mean(axis=0, keepdims=True)
        k -= k.mean(axis=1, keepdims=True)
        return k

    k = centred(x)
    l_ = centred(y)
    return float(np.vdot(k, l_) / np.sqrt(np.vdot(k, k) * np.vdot(l_, l_)))


def batch_averaged_cka(x: np.ndarray, y: np.ndarray, batch: int) -> float:
    """Mean over consecutive mini-batches of the per-batch linear CKA (not a CKA of the full set)."""
    vals = [gram_cka(x[i:i + batch].astype(np.float64), y[i:i + batch].astype(np.float64))
            for i in range(0, len(x) - batch + 1, batch)]
    return float(np.mean(vals))


def gemm_throughput(d: int = 2048, n: int = 8192) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, d), dtype=np.float32), rng.standard_normal((n, d), dtype=np.float32)
    t, _ = timed(lambda: a.T @ b, repeat=3)
    return n * d * d / t / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    ap.add_argument("--no-float64", action="store_true", help="skip the float64 accuracy reference at full size")
    ap.add_argument("--repeat", type=int, default=1, help="best of N for the timed CKA/k-NN calls (shared machines)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads, user_api="blas")
    n, d = (10_000, 512) if args.quick else (50_000, 2_048)

    print(f"threads={args.threads}  numpy float32 GEMM throughput: {gemm_throughput():.0f} GMAC/s")
    x, y, _ = features(n, d, 0)
    print(f"\n[1] linear CKA, feature space, {n} x {d} float32 (features {2 * x.nbytes / 2**20:.0f} MiB)")
    macs = 2 * n * d * d  # X^T X and Y^T Y by SYRK (n d²/2 each) + X^T Y by GEMM (n d²)
    with PhasePeak() as ph:
        t_b, v_b = timed(lambda: linear_cka(x, y), args.repeat)
    print(f"  biased    {t_b:7.2f} s {cpu()}  CKA={v_b:.10f}  ({macs / t_b / 1e9:.0f} GMAC/s on {macs:.2e} MACs)")
    t_d, v_d = timed(lambda: linear_cka(x, y, debiased=True), args.repeat)
    print(f"  debiased  {t_d:7.2f} s {cpu()}  CKA={v_d:.10f}  ({t_d / t_b:.2f}x biased)")

    def both():
        acc = LinearCKAAccumulator()
        for i in range(0, n, 8192):
            acc.update(x[i:i + 8192], y[i:i + 8192])
        return acc.result(), acc.result(debiased=True)

    t_both, _ = timed(both, args.repeat)
    print(f"  both variants from one streamed pass: {t_both:.2f} s {cpu()}")
    print(f"  CKA working memory (peak RSS above the resident features): {ph.extra:.0f} MiB; accumulator state "
          f"{3 * d * d * 8 / 2**20:.0f} MiB float64 + two 8192-row float32 blocks {2 * 8192 * d * 4 / 2**20:.0f} MiB")
    if not args.no_float64:
        t64, v64 = timed(lambda: linear_cka(x, y, compute_dtype="float64"))
        v64d = linear_cka(x, y, compute_dtype="float64", debiased=True)
        print(f"  float64 blocks {t64:.2f} s  CKA={v64:.10f}; float32-block relative error: biased "
              f"{abs(v_b - v64) / v64:.1e}, debiased {abs(v_d - v64d) / abs(v64d):.1e}")
    del x, y

    print("\n[2] k-NN k=5 cosine: bank 10000 x 512, 2000 queries")
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((100, 512)).astype(np.float32)
    yb, yq = rng.integers(0, 100, 10_000), rng.integers(0, 100, 2_000)
    bank = centres[yb] + 2.0 * rng.standard_normal((10_000, 512), dtype=np.float32)
    queries = centres[yq] + 2.0 * rng.standard_normal((2_000, 512), dtype=np.float32)
    t_k, pred = timed(lambda: knn_predict(bank, yb, queries, k=5), max(3, args.repeat))
    c_k = cpu()
    from sklearn.neighbors import KNeighborsClassifier
    clf = KNeighborsClassifier(n_neighbors=5, metric="cosine", algorithm="brute").fit(bank, yb)
    t_s, pred_s = timed(lambda: clf.predict(queries))
    print(f"  knn_predict {t_k:.3f} s {c_k} (acc {np.mean(pred == yq):.3f});  sklearn brute {t_s:.3f} s;  "
          f"same predictions: {np.mean(pred == pred_s) * 100:.2f}%")

    n2, d2 = (4_000, 256) if args.quick else (10_000, 512)
    x, y, _ = features(n2, d2, 2, classes=100)
    print(f"\n[3] side by side, {n2} x {d2}, 100 classes, class-sorted rows")
    t_f32, v_f32 = timed(lambda: linear_cka(x, y), args.repeat)
    print(f"  feature space (float32 blocks) {t_f32:7.3f} s {cpu()}  CKA={v_f32:.10f}")
    t_f64, v_f64 = timed(lambda: linear_cka(x, y, compute_dtype="float64"), args.repeat)
    print(f"  feature space (float64)        {t_f64:7.3f} s {cpu()}  CKA={v_f64:.10f}")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    with PhasePeak() as ph_f:
        linear_cka(x, y)
    with PhasePeak() as ph_g:
        t_g64, v_g64 = timed(lambda: gram_cka(x64, y64))
    print(f"  n x n Gram, float64            {t_g64:7.3f} s {cpu()}  CKA={v_g64:.10f}  "
          f"(|diff| {abs(v_g64 - v_f64):.1e})")
    print(f"    working memory: n x n Gram {ph_g.extra:.0f} MiB vs feature space {ph_f.extra:.0f} MiB")
    t_g32, v_g32 = timed(lambda: gram_cka(x, y))
    print(f"  n x n Gram, float32            {t_g32:7.3f} s {cpu()}  CKA={v_g32:.10f}  "
          f"(|diff| {abs(v_g32 - v_f64):.1e})")
    for b in (100, 512):
        t_ba, v_ba = timed(lambda: batch_averaged_cka(x, y, b))
        print(f"  batch-averaged (batches of {b:3d}) {t_ba:6.3f} s {cpu()}  CKA={v_ba:.10f}  (not the same quantity)")
    print(f"\npeak RSS of the whole run (getrusage) {rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
