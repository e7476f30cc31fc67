"""Time the procedural dataset generator and report peak RSS.

Usage: ``PYTHONPATH=src python benchmarks/bench_synthetic.py [--images 10000] [--repeat 3] [--image-size 32]``

Generates ``--images`` upstream images (16 classes, 5:1 train/test split) and the same number of
``unrelated`` downstream glyph images, reporting the best wall and CPU time over ``--repeat`` runs and
the process's peak resident set size. The design target is ≤ 10 s (aim ≤ 3 s) for 10 000 32×32 images on
2 CPU cores.
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time

import numpy as np


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _time(fn, repeat: int) -> tuple[float, float, object]:
    best_wall, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--image-size", type=int, default=32)
    args = ap.parse_args(argv)

    from unlearnbench.data.synthetic import generate_downstream, generate_upstream

    classes = 16
    per_class = max(1, args.images // classes)
    train, test = per_class * 5 // 6, per_class - per_class * 5 // 6
    rss0 = _peak_rss_mib()
    generate_upstream(train_per_class=2, test_per_class=1, image_size=args.image_size)  # warm-up
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
          f"image_size={args.image_size}, repeat={args.repeat}")
    rows = [
        ("upstream (16 lobed classes)",
         lambda: generate_upstream(superclasses=4, fine_per_superclass=4, train_per_class=train,
                                   test_per_class=test, image_size=args.image_size)),
        ("downstream unrelated (16 glyph classes)",
         lambda: generate_downstream("unrelated", classes=classes, train_per_class=train,
                                     test_per_class=test, image_size=args.image_size)),
    ]
    for name, fn in rows:
        wall, cpu, ds = _time(fn, args.repeat)
        n = len(ds.x_train) + len(ds.x_test)
        print(f"{name:42s} {n:6d} images  wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
              f"{n / wall:8.0f} img/s  ({ds.x_train.nbytes / 2**20:.1f} MiB train array)")
    print(f"peak RSS {_peak_rss_mib():.0f} MiB (at start {rss0:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
