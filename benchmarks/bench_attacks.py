"""What the recovery attacks cost, on an existing experiment folder (e.g. a kept ``run_default.py`` run).

1. The feature-cache attacks inside one evaluate job: ``evaluate_model`` of one unlearned model with the
   attacks off and on, alternated ``--repeats`` times in one sitting (ratio of medians).
2. The model attacks of one attack job: ``run_model_attacks`` wall time, images forwarded (training steps
   and scored images), img/s and peak RSS.
3. From the run's own ``[timing]`` lines: the attack rule's share of the whole run's compute.

    .venv/bin/python benchmarks/bench_attacks.py OUT [--scenario random4] [--method finetune] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="an experiment folder, e.g. /tmp/.../outputs/default")
    ap.add_argument("--scenario", default="random4")
    ap.add_argument("--method", default="finetune")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from unlearnbench.attacks import ATTACKS, attack_config
    from unlearnbench.attacks.stage import run_model_attacks
    from unlearnbench.evaluation import evaluate_model
    from unlearnbench.layout import Layout, model_id
    from unlearnbench.workflow import pin_blas_threads

    pin_blas_threads()  # as in every workflow job: BLAS on one thread per process

    out, sc, seed, method = args.out, args.scenario, args.seed, args.method
    paths = Layout(out)
    up = paths.data_files("upstream")
    data = json.loads(up["meta"].read_text())
    downstream = sorted(p.stem for p in paths.data_dir().glob("*.json") if p.stem != "upstream")
    evalsets = ["train", "test", *downstream]
    roles = {"model": model_id(sc, seed, method), "original": "original", "retrain": model_id(sc, seed, "retrain")}
    feats = {r: {ev: str(paths.features(m, ev)) for ev in evalsets} for r, m in roles.items()}
    common = dict(scenario=sc, seed=seed, method=method, algorithm=method,
                  model_ckpt=str(paths.checkpoint(roles["model"])), features=feats,
                  forget_json=str(paths.forget_set(sc)), data_npz=str(up["npz"]), data_json=str(up["meta"]),
                  downstream=downstream, layers="all", metrics={}, data_seed=0)
    tmp = Path(tempfile.mkdtemp())
    times = {"off": [], "on": []}
    for _ in range(args.repeats):
        for mode in ("off", "on"):
            t0 = time.perf_counter()
            evaluate_model(**common, out=tmp / f"{mode}.parquet", attacks={"enabled": mode == "on"})
            times[mode].append(time.perf_counter() - t0)
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print(f"evaluate {sc}/seed{seed}/{method} (n_classes {data['num_classes']}): attacks off {off:.2f} s, "
          f"on {on:.2f} s (median of {args.repeats}); feature attacks add {on - off:.2f} s = {on / off - 1:+.0%}")

    cfg = {"enabled": True}
    model_attacks = attack_config(cfg, kind="model")
    t0 = time.perf_counter()
    run_model_attacks(scenario=sc, seed=seed, method=method, algorithm=method,
                      model_ckpt=common["model_ckpt"], original_features=feats["original"]["test"],
                      data_npz=common["data_npz"], data_json=common["data_json"], forget_json=common["forget_json"],
                      attacks=cfg, data_seed=0, threads=2, device="cpu", out=tmp / "relearn.parquet")
    wall = time.perf_counter() - t0
    import pandas as pd

    rows = pd.read_parquet(tmp / "relearn.parquet")
    images = 0
    for name, attack in model_attacks.items():
        per_step = (attack.per_class * 2 + attack.retain_batch) if name == "fewshot_relearn" else attack.batch_size
        n_eval = int(rows.loc[(rows["variant"] == name) & rows["step"].notna(), "n"].sum())
        images += attack.steps * per_step + n_eval
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"attack job {sc}/seed{seed}/{method}: {wall:.2f} s for {', '.join(model_attacks)}; "
          f"≈{images} images trained or scored ({images / wall:.0f} img/s incl. load); peak RSS {rss:.0f} MiB")

    from run_default import timings

    per_rule = timings(out)
    compute = {rule: sum(j.get("compute", 0.0) for j in jobs) for rule, jobs in per_rule.items()}
    total = sum(compute.values())
    if total:
        share = compute.get("attack", 0.0) / total
        print(f"the run's attack rule: {compute.get('attack', 0.0):.1f} s compute of {total:.1f} s "
              f"({share:.1%}; {len(per_rule.get('attack', []))} jobs)")
    print(f"registered attacks: {ATTACKS.names()}")


if __name__ == "__main__":
    main()
