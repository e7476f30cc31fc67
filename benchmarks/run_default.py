"""Cold run of a config in a temporary copy of the workflow; prints the cost model of the run.

Per rule: jobs, and the seconds its jobs spent in start-up (job start → first phase: imports, set-up),
load, compute, write and other, from the ``[timing]`` line each job writes at the end of its log
(:mod:`unlearnbench.workflow`); peak RSS from Snakemake's ``benchmark:`` files. For the whole run: wall
time, Snakemake's own start-up (process start → first job), and the **non-compute share**: the fraction
of wall time during which no job was in a compute phase (model training/unlearning/inference, metric
computation). Training and unlearning throughput come from the checkpoint sidecars, the forward-pass count
from the feature sidecars (one per model and eval set).

``--compare REF`` runs a git revision of this repository the same way first (its package put first on
``PYTHONPATH``), so the two wall times form a ratio measured in one sitting.

    .venv/bin/python benchmarks/run_default.py [--configfile configs/quick.yaml] [--compare dea44e4] [--noop]
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

from unlearnbench.layout import Layout

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "rules", "workflow_scripts", "configs", "config.yaml", "profiles", "report", "envs", "src")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", default="config.yaml")
    ap.add_argument("--cores", default="2")
    ap.add_argument("--compare", metavar="REF", help="also run this git revision first (e.g. the last release)")
    ap.add_argument("--noop", action="store_true", help="time a second (no-op) invocation after the cold run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work directories")
    ap.add_argument("--report-only", metavar="OUT", type=Path,
                    help="only print the cost model of an existing experiment folder (e.g. outputs/cifar10); "
                         "wall time = first job start to last job end")
    args = ap.parse_args()
    if args.report_only:
        jobs = [j for js in timings(args.report_only).values() for j in js]
        if not jobs:
            sys.exit(f"no [timing] lines under {args.report_only}/logs: not an experiment folder?")
        t0 = min(j["start"] for j in jobs)
        report(args.report_only, t0, max(j["start"] + j["wall"] for j in jobs) - t0)
        return
    walls = {}
    if args.compare:
        walls[args.compare] = run_tree(export_revision(args.compare), args, label=args.compare)
    walls["working tree"] = run_tree(copy_tree(REPO), args, label="working tree")
    if len(walls) > 1:
        (ref, old), (_, new) = walls.items()
        print(f"\ncold wall time: {ref} {old:.1f} s, working tree {new:.1f} s → ratio {old / new:.2f}×")


def copy_tree(src: Path) -> Path:
    work = Path(tempfile.mkdtemp(prefix="unlearnbench-bench-"))
    for name in WORKFLOW:
        if (src / name).exists():
            (shutil.copytree if (src / name).is_dir() else shutil.copy2)(src / name, work / name)
    return work


def export_revision(ref: str) -> Path:
    work = Path(tempfile.mkdtemp(prefix="unlearnbench-ref-"))
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    return work


def snakemake_cmd(args, *extra: str) -> list[str]:
    return [str(Path(sys.executable).with_name("snakemake")), "--workflow-profile", "profiles/default",
            "--configfile", args.configfile, "--cores", args.cores, *extra]


def run_tree(work: Path, args, *, label: str) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(work / "src")}
    t0 = time.time()
    proc = subprocess.run(snakemake_cmd(args, "--quiet", "all"), cwd=work, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode:
        sys.exit(f"snakemake failed ({label}):\n{proc.stderr[-5000:]}")
    print(f"\n=== {label}: cold run of {args.configfile}, {args.cores} cores ===")
    report(next((work / "outputs").iterdir()), t0, wall)
    if args.noop:
        t1 = time.time()
        proc = subprocess.run(snakemake_cmd(args), cwd=work, env=env, capture_output=True, text=True)
        print(f"no-op invocation: {time.time() - t1:.1f} s "
              f"({'nothing to be done' if 'Nothing to be done' in proc.stdout + proc.stderr else 'JOBS PLANNED'})")
    if args.keep:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work)
    return wall


def timings(out: Path) -> dict[str, list[dict]]:
    per_rule: dict[str, list[dict]] = defaultdict(list)
    for log in (out / "logs").rglob("*.log"):
        lines = [ln for ln in log.read_text().splitlines() if ln.startswith("[timing] ")]
        if lines:
            per_rule[log.relative_to(out / "logs").parts[0].removesuffix(".log")].append(json.loads(lines[-1][9:]))
    return per_rule


def peak_rss(out: Path) -> dict[str, float]:
    peaks: dict[str, float] = defaultdict(float)
    for tsv in (out / "benchmarks").rglob("*.tsv"):
        with open(tsv) as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        rule = tsv.relative_to(out / "benchmarks").parts[0].removesuffix(".tsv")
        peaks[rule] = max(peaks[rule], float(row["max_rss"]) if row["max_rss"] != "NA" else 0.0)
    return peaks


def covered(spans: list[list[float]]) -> float:
    """Length of the union of intervals."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def report(out: Path, t0: float, wall: float) -> None:
    per_rule, rss = timings(out), peak_rss(out)
    cols = ("startup", "load", "compute", "write", "other", "wall")
    print(f"{'rule':<20}{'jobs':>5}" + "".join(f"{c + ' s':>10}" for c in cols) + f"{'peak RSS MiB':>14}")
    totals = defaultdict(float)
    for rule, jobs in sorted(per_rule.items(), key=lambda kv: -sum(j["wall"] for j in kv[1])):
        sums = {c: sum(j[c] for j in jobs) for c in cols}
        for c in cols:
            totals[c] += sums[c]
        print(f"{rule:<20}{len(jobs):>5}" + "".join(f"{sums[c]:>10.1f}" for c in cols) + f"{rss.get(rule, 0):>14.0f}")
    print(f"{'all jobs':<20}{sum(len(j) for j in per_rule.values()):>5}" + "".join(f"{totals[c]:>10.1f}" for c in cols))
    jobs = [j for js in per_rule.values() for j in js]
    first = min((j["start"] for j in jobs), default=t0)
    compute = covered([s for j in jobs for s in j.get("compute_spans", [])])
    print(f"\nwhole run: wall {wall:.1f} s; Snakemake start-up (process start → first job) {first - t0:.1f} s; "
          f"compute-covered {compute:.1f} s → non-compute share {1 - compute / wall:.0%}")
    print("\nthroughput (img/s) from checkpoint sidecars:")
    paths = Layout(out)
    for side in sorted(paths.models_dir().rglob("*.safetensors.json")):
        meta = json.loads(side.read_text())
        rel = side.relative_to(paths.models_dir()).as_posix().removesuffix(".safetensors.json")
        rate = meta.get("img_per_s") or _method_rate(meta)
        print(f"  {rel:<45} {rate:>8.0f} img/s  wall {meta.get('wall_time_s', float('nan')):6.1f} s  "
              f"status {meta.get('status')}")
    passes = defaultdict(int)
    for side in paths.features_dir().rglob("*.safetensors.json"):
        meta = json.loads(side.read_text())
        passes[(meta["checkpoint"], meta["evalset"])] += meta["forward_passes"]
    print(f"\nforward passes: {sum(passes.values())} over {len(passes)} (model, eval set) pairs; "
          f"max per pair = {max(passes.values(), default=0)}")


def _method_rate(meta: dict) -> float:
    images = meta.get("images") or 0
    return images / meta["wall_time_s"] if meta.get("wall_time_s") else float("nan")


if __name__ == "__main__":
    main()
