"""Benchmark of the unlearning-method zoo on the embedded default data (not a timed test).

Trains (or loads from ``--cache``) a CIFAR ResNet-8 on the procedurally generated upstream dataset
(``data.synthetic.generate_upstream()``: 16 classes, 250 training / 50 test images per class, 32×32), builds
the forget sets of the default scenarios, runs every registered method with its default hyper-parameters
and prints one row per (scenario, method): wall time, images processed per second, forget accuracy
before → after (forget-train), forget-test, retain-train and retain-test accuracy.

    PYTHONPATH=src HF_HUB_OFFLINE=1 python benchmarks/bench_methods.py --threads 2 --cache /tmp/orig.safetensors

The per-epoch monitor is what the pipeline passes (forget-test and retain-test sets), so the wall time
includes that evaluation. ``cpu s`` is the process CPU time (all threads): on a shared machine it is the
better measure of cost (wall ≈ cpu / threads when the cores are free). img/s = images through a
training/importance forward+backward per wall second.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from unlearnbench.data.arrays import ArrayDataset, ImageArraySet  # noqa: E402
from unlearnbench.data.forget_sets import make_forget_set  # noqa: E402
from unlearnbench.methods import METHODS, UnlearnTask  # noqa: E402
from unlearnbench.models import create_model  # noqa: E402
from unlearnbench.training import TrainConfig, accuracy, setup_torch, train_model  # noqa: E402

SCENARIOS = [
    {"name": "random2", "kind": "random", "k": 2, "seed": 0},
    {"name": "random2_s1", "kind": "random", "k": 2, "seed": 1},
    {"name": "samples200", "kind": "samples", "n": 200, "seed": 0},
]


def load_data() -> tuple[ArrayDataset, str]:
    try:
        from unlearnbench.data.synthetic import generate_upstream
    except ImportError:  # the generator is optional for this script: fall back to colour blobs
        rng = np.random.default_rng(0)
        centres = rng.uniform(40, 215, (16, 3))

        def split(n):
            y = np.repeat(np.arange(16), n)
            x = centres[y][:, None, None, :] + rng.normal(0, 40, (len(y), 32, 32, 3))
            return np.clip(x, 0, 255).astype(np.uint8), y

        (xtr, ytr), (xte, yte) = split(250), split(50)
        return ArrayDataset(xtr, ytr, xte, yte), "random colour blobs (synthetic generator unavailable)"
    return generate_upstream(), "data.synthetic.generate_upstream() defaults"


def original_model(data: ArrayDataset, args, device) -> torch.nn.Module:
    model = create_model(args.arch, data.num_classes)
    cache = Path(args.cache) if args.cache else None
    if cache and cache.is_file():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(cache)))
        print(f"loaded original model from {cache}", file=sys.stderr)
        return model.to(device)
    t0 = time.perf_counter()
    train_model(model, data.split("train"), TrainConfig(epochs=args.train_epochs, batch_size=128, lr=0.1),
                seed=0, device=device, desc="original")
    print(f"trained original in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if cache:
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(cache))
    return model


def build_task(data: ArrayDataset, scenario: dict, device, seed: int) -> tuple[UnlearnTask, dict]:
    train, test = data.split("train"), data.split("test")
    fs = make_forget_set(scenario, data.y_train, data.num_classes)
    idx = fs.splits(data.y_train, data.y_test)
    sets = {name: (train if name.endswith("train") else test).subset(ix) for name, ix in idx.items()}
    monitor = {"retain_test": sets["retain_test"]}
    if len(sets["forget_test"]):
        monitor["forget_test"] = sets["forget_test"]
    task = UnlearnTask(forget=sets["forget_train"], retain=sets["retain_train"], num_classes=data.num_classes,
                       forget_classes=list(fs.forget_classes) if fs.forget_classes else None, device=device,
                       seed=seed, monitor=monitor)
    return task, sets


def scores(model, sets: dict[str, ImageArraySet], device) -> dict[str, float]:
    return {name: accuracy(model, subset, device) for name, subset in sets.items()}


def fmt(x: float) -> str:
    return "  –  " if x != x else f"{x:5.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arch", default="cifar_resnet8")
    parser.add_argument("--train-epochs", type=int, default=15, help="epochs of the original model")
    parser.add_argument("--cache", default="", help="safetensors file to load/save the original model")
    parser.add_argument("--methods", nargs="*", default=sorted(METHODS))
    parser.add_argument("--scenarios", nargs="*", default=[s["name"] for s in SCENARIOS])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--override", action="append", default=[],
                        help="method.key=value hyper-parameter override (repeatable)")
    args = parser.parse_args()

    device = setup_torch(0, threads=args.threads, device="cpu")
    data, data_desc = load_data()
    model = original_model(data, args, device).eval()
    overrides: dict[str, dict] = {}
    for item in args.override:
        key, value = item.split("=", 1)
        method, field = key.split(".", 1)
        overrides.setdefault(method, {})[field] = type(getattr(METHODS[method](), field))(
            value if not value.lower() in ("true", "false") else value.lower() == "true")

    print(f"data: {data_desc}; {len(data.y_train)} train / {len(data.y_test)} test images, "
          f"{data.num_classes} classes; model {args.arch}; torch threads {torch.get_num_threads()}")
    header = (f"{'scenario':<11} {'method':<16} {'status':<8} {'wall s':>7} {'cpu s':>7} {'img/s':>7}  "
              f"{'forget before→after':>20}  {'forget_test':>11} {'retain':>6} {'retain_test':>11}")
    print(header)
    print("-" * len(header))
    total = total_cpu = 0.0
    for scenario in (s for s in SCENARIOS if s["name"] in args.scenarios):
        task, sets = build_task(data, scenario, device, args.seed)
        before = scores(model, sets, device)
        for name in args.methods:
            method = METHODS[name](**overrides.get(name, {}))
            if ("sample" if task.forget_classes is None else "class") not in method.supports:
                continue
            cpu0 = time.process_time()
            outcome = method.run(copy.deepcopy(model), task)
            cpu = time.process_time() - cpu0
            wall = outcome.log["wall_time_s"]
            total += wall
            total_cpu += cpu
            after = scores(outcome.model, sets, device)
            images = outcome.log.get("images", 0)
            print(f"{scenario['name']:<11} {name:<16} {outcome.status:<8} {wall:7.2f} {cpu:7.2f} {images / wall:7.0f}  "
                  f"{fmt(before['forget_train']):>9} → {fmt(after['forget_train']):<8}  "
                  f"{fmt(after['forget_test']):>11} {fmt(after['retain_train']):>6} {fmt(after['retain_test']):>11}",
                  flush=True)
        print(f"{scenario['name']:<11} {'(original)':<16} {'':<8} {'':>7} {'':>7} {'':>7}  "
              f"{fmt(before['forget_train']):>9}   {'':<8}  {fmt(before['forget_test']):>11} "
              f"{fmt(before['retain_train']):>6} {fmt(before['retain_test']):>11}")
    print(f"total unlearning wall time: {total:.1f} s; process CPU time: {total_cpu:.1f} s "
          f"(on an otherwise idle machine wall ≈ CPU / threads)")


if __name__ == "__main__":
    main()
