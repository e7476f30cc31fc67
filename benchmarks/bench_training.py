"""Training throughput of the project's loop vs a bare torch loop (same model, batch, threads), CPU.

The bare loop is forward + cross-entropy + backward + SGD step on pre-made random tensors: the floor set
by the model itself. The project's loop (`unlearnbench.training.train_model`) adds batching from uint8
arrays, augmentation, the lr schedule and monitoring. Both run in this process, interleaved, so the
ratio is robust to machine noise.

    .venv/bin/python benchmarks/bench_training.py [--arch cifar_resnet8] [--batches 32 64 128] [--threads 1 2]
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="cifar_resnet8")
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--images", type=int, default=2048, help="images per measured epoch")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--classes", type=int, default=16)
    args = ap.parse_args()

    t_import = time.perf_counter()
    import torch
    import torch.nn.functional as F

    from unlearnbench.data.arrays import ImageArraySet
    from unlearnbench.models import create_model
    from unlearnbench.training import TrainConfig, setup_torch, train_model
    print(f"import torch + timm + unlearnbench: {time.perf_counter() - t_import:.1f} s")

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    labels = rng.integers(0, args.classes, args.images)
    data = ImageArraySet(images, labels, args.classes)

    def bare(batch: int) -> float:
        setup_torch(0, None, "cpu")
        net = create_model(args.arch, args.classes).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(batch, 3, args.size, args.size)
        y = torch.randint(0, args.classes, (batch,))
        steps = args.images // batch
        for _ in range(2):  # warm-up
            F.cross_entropy(net(x), y).backward()
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return steps * batch / (time.perf_counter() - t0)

    def project(batch: int) -> float:
        setup_torch(0, None, "cpu")
        net = create_model(args.arch, args.classes)
        cfg = TrainConfig(epochs=1, batch_size=batch, lr=0.01, warmup_epochs=0)
        train_model(net, data.subset(np.arange(2 * batch)), cfg, seed=0, device=torch.device("cpu"), desc="warm")
        t0 = time.perf_counter()
        train_model(net, data, cfg, seed=0, device=torch.device("cpu"), desc="bench")
        return len(data) / (time.perf_counter() - t0)

    print(f"\n{'arch':<16}{'threads':>8}{'batch':>7}{'bare img/s':>12}{'loop img/s':>12}{'ratio':>8}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batches:
            b1, p1 = bare(batch), project(batch)
            b2, p2 = bare(batch), project(batch)  # interleaved twice: the ratio of means
            b, p = (b1 + b2) / 2, (p1 + p2) / 2
            print(f"{args.arch:<16}{threads:>8}{batch:>7}{b:>12.0f}{p:>12.0f}{p / b:>8.2f}")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
