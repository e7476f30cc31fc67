"""Cold run of a config (default: config.yaml) in a temporary copy of the workflow; prints figures.

Per rule: job count, total and mean wall seconds and the peak RSS of its jobs (from Snakemake's
``benchmark:`` files); training and unlearning throughput from the checkpoint sidecars; the forward
passes recorded in the feature sidecars (one per model and eval set); the whole run's wall time.

    .venv/bin/python benchmarks/run_default.py [--configfile configs/quick.yaml] [--target prepare_data ...]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "rules", "workflow_scripts", "configs", "config.yaml", "profiles", "report", "envs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", default="config.yaml")
    ap.add_argument("--cores", default="2")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    ap.add_argument("targets", nargs="*", help="rule names or files (default: the default target)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="unlearnbench-bench-"))
    for name in WORKFLOW:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--workflow-profile", "profiles/default",
           "--configfile", args.configfile, "--cores", args.cores, "--quiet", "all", *args.targets]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"snakemake failed:\n{proc.stderr[-5000:]}")
    out = next((work / "outputs").iterdir())
    report(out, wall)
    if args.keep:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work)


def report(out: Path, wall: float) -> None:
    per_rule: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for tsv in (out / "benchmarks").rglob("*.tsv"):
        rule = tsv.relative_to(out / "benchmarks").parts[0].removesuffix(".tsv")
        with open(tsv) as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        per_rule[rule].append((float(row["s"]), float(row["max_rss"]) if row["max_rss"] != "NA" else 0.0))
    print(f"\n{'rule':<20}{'jobs':>6}{'total s':>10}{'mean s':>9}{'peak RSS MiB':>14}")
    for rule, runs in sorted(per_rule.items(), key=lambda kv: -sum(s for s, _ in kv[1])):
        total = sum(s for s, _ in runs)
        print(f"{rule:<20}{len(runs):>6}{total:>10.1f}{total / len(runs):>9.2f}{max(r for _, r in runs):>14.0f}")
    print(f"{'whole run (wall)':<20}{'':>6}{wall:>10.1f}")
    print("\nthroughput (img/s) from checkpoint sidecars:")
    for side in sorted((out / "models").rglob("*.safetensors.json")):
        meta = json.loads(side.read_text())
        rel = side.relative_to(out / "models").as_posix().removesuffix(".safetensors.json")
        rate = meta.get("img_per_s") or _method_rate(meta)
        print(f"  {rel:<45} {rate:>8.0f} img/s  wall {meta.get('wall_time_s', float('nan')):6.1f} s  "
              f"status {meta.get('status')}")
    passes = defaultdict(int)
    for side in (out / "features").rglob("*.safetensors.json"):
        meta = json.loads(side.read_text())
        passes[(meta["checkpoint"], meta["evalset"])] += meta["forward_passes"]
    print(f"\nforward passes: {sum(passes.values())} over {len(passes)} (model, eval set) pairs; "
          f"max per pair = {max(passes.values(), default=0)}")


def _method_rate(meta: dict) -> float:
    images = meta.get("images") or 0
    return images / meta["wall_time_s"] if meta.get("wall_time_s") else float("nan")


if __name__ == "__main__":
    main()
