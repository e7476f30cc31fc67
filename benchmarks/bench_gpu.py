"""Training and extraction throughput on a GPU (run by hand on a GPU machine; never part of CI).

For resnet50@224 and cifar_resnet8@32: training img/s of ``unlearnbench.training.train_model`` (bf16
autocast, channels_last, as the workflow runs it) next to a bare torch loop (same model, batch,
forward + backward + SGD on device-resident random tensors), and extraction img/s of
``unlearnbench.models.extract`` under ``torch.inference_mode``. Prints wall time, img/s, the ratio to the
bare loop and peak GPU memory.

    .venv/bin/python benchmarks/bench_gpu.py [--steps 50] [--batch 256]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

CASES = (("resnet50", 224, 128), ("cifar_resnet8", 32, 256))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--classes", type=int, default=100)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    from unlearnbench.data.arrays import ImageArraySet
    from unlearnbench.models import create_model, extract, feature_layers
    from unlearnbench.training import TrainConfig, autocast, prepare_model, setup_torch, train_model

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark is for GPU machines")
    dev = setup_torch(0, None, "cuda")
    print(f"device: {torch.cuda.get_device_name(dev)}")
    print(f"{'arch':<15}{'px':>5}{'batch':>7}{'bare train':>12}{'loop train':>12}{'ratio':>7}{'extract':>10}{'peak GiB':>10}")
    for arch, size, batch in CASES:
        torch.cuda.reset_peak_memory_stats()
        net = prepare_model(create_model(arch, args.classes), dev).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(batch, 3, size, size, device=dev).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, args.classes, (batch,), device=dev)

        def step() -> None:
            with autocast(dev):
                loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(5):
            step()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        torch.cuda.synchronize()
        bare = args.steps * batch / (time.perf_counter() - t0)

        n = args.steps * batch
        rng = np.random.default_rng(0)
        data = ImageArraySet(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                             rng.integers(0, args.classes, n), args.classes)
        cfg = TrainConfig(epochs=1, batch_size=batch, lr=0.01, augment=size <= 64)
        t0 = time.perf_counter()
        train_model(net, data, cfg, seed=0, device=dev, desc=arch)
        torch.cuda.synchronize()
        loop = n / (time.perf_counter() - t0)

        net.eval()
        layers = feature_layers(net)
        t0 = time.perf_counter()
        with torch.inference_mode(), autocast(dev):
            for xb, _ in data.batches(batch, device=dev):
                extract(net, xb, layers)
        torch.cuda.synchronize()
        ext = n / (time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(f"{arch:<15}{size:>5}{batch:>7}{bare:>12.0f}{loop:>12.0f}{loop / bare:>7.2f}{ext:>10.0f}{peak:>10.1f}")


if __name__ == "__main__":
    main()
