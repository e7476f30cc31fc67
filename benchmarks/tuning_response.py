"""A method's response beyond its tuning grid, scored exactly as the tune stage scores a point (not a test).

Runs the given points of one method on a finished experiment's original model and scenario (seed 0, as the
tune stage) and prints each point's validation forget / retain accuracy and its score against the retrained
reference (:data:`unlearnbench.tuning.TUNING_CRITERION`). Reads only the validation split, like the tune
stage; writes nothing. ``--restore-bn-stats`` also scores each run with the original's BatchNorm running
statistics put back: it separates what a forget-only train-mode method (GA) does through the statistics'
drift from what its weight updates do.

    .venv/bin/python benchmarks/tuning_response.py outputs/default random4 gradient_ascent \
        lr=1e-7,epochs=5 lr=2e-4,epochs=5 --restore-bn-stats
"""
from __future__ import annotations

import argparse
import copy
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from unlearnbench.config import load_yaml, validate_config  # noqa: E402
from unlearnbench.layout import Layout, model_id  # noqa: E402


def parse_point(text: str) -> dict:
    point = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        try:
            point[key] = int(value)
        except ValueError:
            point[key] = float(value) if value.lower() not in ("true", "false") else value.lower() == "true"
    return point


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="experiment folder, e.g. outputs/default")
    ap.add_argument("scenario")
    ap.add_argument("method", help="method instance of the experiment's config")
    ap.add_argument("points", nargs="+", help="key=value,key=value (overrides of the instance's block)")
    ap.add_argument("--configfile", default="config.yaml")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--restore-bn-stats", action="store_true")
    args = ap.parse_args()

    import torch

    from unlearnbench.checkpoints import load_checkpoint
    from unlearnbench.methods import create_method
    from unlearnbench.training import accuracy
    from unlearnbench.tuning import criterion_score, tuning_sets
    from unlearnbench.unlearning import _unlearning_task

    cfg = validate_config(load_yaml(args.configfile))
    spec = cfg["methods"][args.method]
    paths = Layout(args.out)
    seed = cfg["seeds"][0]
    load = dict(seed=seed, threads=args.threads, device="cpu", monitor_test=False,
                monitor_images=cfg.get("monitor_images"), surrogate_npz=None)
    task_args = (paths.checkpoint("original"), paths.data_files("upstream")["npz"], paths.forget_set(args.scenario))
    dev, original, _, ds, fs, task = _unlearning_task(*task_args, **load)
    sets = tuning_sets(ds, fs, task.forget)
    retrain, _ = load_checkpoint(paths.checkpoint(model_id(args.scenario, seed, "retrain")), dev)
    target = {k: accuracy(retrain, v, dev) for k, v in sets.items()}
    fmt = lambda acc: "  ".join(f"{k} {v:.3f}" for k, v in acc.items())  # noqa: E731
    print(f"original  {fmt({k: accuracy(original, v, dev) for k, v in sets.items()})}")
    print(f"retrain   {fmt(target)}  (the criterion's target)")
    for text in args.points:
        point = parse_point(text)
        _, model, _, _, _, task = _unlearning_task(*task_args, **load)
        stats = {n: b.clone() for n, b in model.named_buffers()}
        t0 = time.perf_counter()
        outcome = create_method(args.method, {**spec, **point}).run(model, task)
        runs = [("", outcome.model)]
        if args.restore_bn_stats:
            restored = copy.deepcopy(outcome.model)
            with torch.no_grad():
                for n, b in restored.named_buffers():
                    b.copy_(stats[n])
            runs.append((" (BN stats restored)", restored))
        for label, m in runs:
            acc = {k: accuracy(m, v, dev) for k, v in sets.items()}
            score = criterion_score(acc, target)
            print(f"{text}{label}: {outcome.status}  {fmt(acc)}  score {score:.4f}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
