"""Performance harness for the report layer (a script, not a test): leaderboards, exports and every figure
for an existing outputs folder, timed per stage. Target: ≤ 30 s in total on 2 cores.

    python benchmarks/bench_report.py outputs/quick [--dest DIR] [--extra-methods N] [--repeat R]

Writes into a temporary folder unless ``--dest`` is given (the outputs folder itself is only read).
``--extra-methods N`` clones the unlearning methods N times in memory (``ga~1``, ``ga~2``, …) to see how the
figures scale with a long method list. The load average is printed because the machine is shared: compare
timings only at similar load.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()


def clone_methods(data, n: int) -> None:
    """Add ``n`` copies of every non-reference method to each frame of ``data`` (in place)."""
    import pandas as pd

    from unlearnbench.report.sources import REFERENCES

    def grow(frame):
        extra = frame[~frame["method"].isin(REFERENCES)]
        copies = [extra.assign(method=extra["method"] + f"~{i}") for i in range(1, n + 1)]
        return pd.concat([frame, *copies], ignore_index=True)

    for name in ("summary", "runs", "curves", "layer_cka"):
        setattr(data, name, grow(getattr(data, name)))
    for info in data.scenarios.values():
        others = [m for m in info["methods"] if m not in REFERENCES]
        info["methods"] += [f"{m}~{i}" for i in range(1, n + 1) for m in others]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outputs", type=Path, help="an experiment's outputs folder, e.g. outputs/quick")
    parser.add_argument("--dest", type=Path, default=None, help="write here (default: a temporary folder)")
    parser.add_argument("--extra-methods", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    from unlearnbench.report.exports import write_exports
    from unlearnbench.report.leaderboard import write_leaderboards
    from unlearnbench.report.plots import write_overview_plots, write_scenario_plots
    from unlearnbench.report.sources import discover

    t_import = time.perf_counter() - T0
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; imports {t_import:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        dest = args.dest or Path(tmp)
        for rep in range(args.repeat):
            times, t = {}, time.perf_counter()
            data = discover(args.outputs)
            if args.extra_methods:
                clone_methods(data, args.extra_methods)
            times["load"] = time.perf_counter() - t
            stages = [("leaderboards", lambda: write_leaderboards(data, dest)),
                      ("exports", lambda: write_exports(data, dest)),
                      ("overview figures", lambda: write_overview_plots(data, dest))]
            stages += [(f"figures {sc}", lambda sc=sc: write_scenario_plots(data, dest, sc)) for sc in data.scenarios]
            n_files = 0
            for name, stage in stages:
                t = time.perf_counter()
                n_files += len(stage())
                times[name] = time.perf_counter() - t
            total = sum(times.values())
            print(f"run {rep + 1}: {len(data.scenarios)} scenarios, {len(data.methods())} methods, {n_files} files")
            for name, seconds in times.items():
                print(f"  {name:<24} {seconds:7.2f} s")
            print(f"  {'total (without imports)':<24} {total:7.2f} s")
            if rep == 0:
                first = time.perf_counter() - T0
    print(f"wall time of imports + first run {first:.2f} s (target ≤ 30 s): {'OK' if first <= 30 else 'SLOW'}; "
          f"whole script {time.perf_counter() - T0:.2f} s")


if __name__ == "__main__":
    main()
