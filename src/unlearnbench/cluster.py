"""Helpers of ``make test-cluster`` (``scripts/test_cluster.sh``): a single-node SLURM sized from the workflow
profile, and the check that a run through it equals a local run.

``python -m unlearnbench.cluster node-size PROFILE_CONFIG``   the largest cpus / mem_mb / gpus one job asks for
``python -m unlearnbench.cluster slurm-conf --node … --work …``   a ``slurm.conf`` for one node, printed
``python -m unlearnbench.cluster set-threads PROFILE_CONFIG``   the profile's ``set-threads`` as ``rule=N`` words,
for a local run that must compute with the threads the cluster jobs got (torch's thread count changes the last
bits of every result)
``python -m unlearnbench.cluster compare OUT_ROOT_A OUT_ROOT_B``  every experiment's results, summary and
leaderboard equal in both output roots (exit 1 naming the first difference)

The node is declared with a few times the profile's largest request (``SlurmdParameters=config_overrides``:
slurmd accepts a declared size above the hardware), so the profile runs unchanged on any machine and jobs
overlap their start-up; GPUs are a ``gres`` on placeholder device files, enough for ``--gpus=1`` to be
scheduled: the quick preset computes on CPU.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

#: per table, the columns that tell two otherwise identical runs apart by design: the leaderboard's
#: ``wall_time_s`` (how long the method's unlearning took; device, code version, package versions and every
#: hash are the same on one machine). Everything else must be equal, exactly.
RUN_SPECIFIC_COLUMNS: dict[str, tuple[str, ...]] = {"results": (), "summary": (), "leaderboard": ("wall_time_s",)}


def _gpus(resources: dict[str, Any]) -> int:
    if "gpu" in resources:
        return int(resources["gpu"])
    match = re.fullmatch(r"gpu(?::[^:]+)?:(\d+)", str(resources.get("gres", "")))
    return int(match.group(1)) if match else 0


def read_profile(profile_config: str | Path) -> dict[str, Any]:
    path = Path(profile_config)
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SystemExit(f"{path}: cannot read the profile ({exc})") from None


def partitions(profile_config: str | Path) -> list[str]:
    """The ``slurm_partition`` names a profile uses, the ``default-resources`` one first (the default
    partition); ``["cpu"]`` when it names none."""
    prof = read_profile(profile_config)
    default = (prof.get("default-resources") or {}).get("slurm_partition")
    named = {str(r["slurm_partition"]) for r in (prof.get("set-resources") or {}).values()
             if r and "slurm_partition" in r}
    first = [str(default)] if default else []
    return first + sorted(named - set(first)) or ["cpu"]


def set_threads(profile_config: str | Path) -> list[str]:
    """``rule=N`` for every rule the profile's ``set-threads`` names (Snakemake's ``--set-threads`` syntax)."""
    return [f"{rule}={int(n)}" for rule, n in sorted((read_profile(profile_config).get("set-threads") or {}).items())]


def node_size(profile_config: str | Path, slots: int = 1) -> tuple[int, int, int]:
    """(cpus, mem_mb, gpus) of a node that runs ``slots`` of the largest job at once: the most any one rule
    asks for in a Snakemake profile's ``default-resources`` and ``set-resources`` (a rule's ``set-threads``
    counts as CPUs when it sets no ``cpus_per_task``), times ``slots``."""
    if slots < 1:
        raise SystemExit(f"node-size: --slots must be >= 1, got {slots}")
    prof = read_profile(profile_config)
    default = dict(prof.get("default-resources") or {})
    threads = prof.get("set-threads") or {}
    rules = set(prof.get("set-resources") or {}) | set(threads)
    sizes = [(int(default.get("cpus_per_task", 1)), int(default.get("mem_mb", 1000)), _gpus(default))]
    for rule in rules:
        res = {**default, **((prof.get("set-resources") or {}).get(rule) or {})}
        cpus = int(res.get("cpus_per_task", threads.get(rule, 1)))
        sizes.append((cpus, int(res.get("mem_mb", 1000)), _gpus(res)))
    return (slots * max(s[0] for s in sizes), slots * max(s[1] for s in sizes),
            slots * max(1, max(s[2] for s in sizes)))


def slurm_conf(*, node: str, cpus: int, mem_mb: int, gpus: int, work: str, munge_socket: str, ctld_port: int,
               slurmd_port: int, partition_names: Sequence[str] = ("cpu",)) -> str:
    """One controller and one node on this host, in every partition the profile names (the first is the
    default); no accounting database (``squeue`` reports job states: jobs stay listed for an hour,
    ``MinJobAge``)."""
    lines = [
        "ClusterName=unlearnbench",
        f"SlurmctldHost={node}",
        "SlurmUser=root",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}",
        f"StateSaveLocation={work}/state",
        f"SlurmdSpoolDir={work}/spool",
        f"SlurmctldPidFile={work}/slurmctld.pid",
        f"SlurmdPidFile={work}/slurmd.pid",
        f"SlurmctldLogFile={work}/slurmctld.log",
        f"SlurmdLogFile={work}/slurmd.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU_Memory",
        "SlurmdParameters=config_overrides",
        "ReturnToService=2",
        "MinJobAge=3600",
        "GresTypes=gpu",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=30",
        f"NodeName={node} CPUs={cpus} RealMemory={mem_mb} Gres=gpu:{gpus} State=UNKNOWN",
    ]
    lines += [f"PartitionName={name} Nodes={node} Default={'YES' if i == 0 else 'NO'} MaxTime=INFINITE State=UP"
              for i, name in enumerate(partition_names)]
    return "\n".join(lines) + "\n"


def compare_roots(a: str | Path, b: str | Path) -> list[str]:
    """Differences between the experiments under two output roots (empty when equal): the same experiments,
    and in each the same results rows with the same values (sorted by the results key), the same summary and
    the same leaderboard."""
    from unlearnbench.api import load
    from unlearnbench.results import KEY

    roots = Path(a), Path(b)
    names = [sorted(p.name for p in r.iterdir() if p.is_dir()) if r.is_dir() else [] for r in roots]
    if names[0] != names[1] or not names[0]:
        return [f"experiments differ: {roots[0]}: {names[0]}; {roots[1]}: {names[1]}"]
    problems = []
    for name in names[0]:
        exps = [load(r / name) for r in roots]
        for part, key in (("results", KEY), ("summary", ["scenario", "method", "quantity"]),
                          ("leaderboard", ["scenario", "method"])):
            frames = [getattr(e, part).drop(columns=list(RUN_SPECIFIC_COLUMNS[part]), errors="ignore") for e in exps]
            frames = [f.sort_values([k for k in key if k in f]).reset_index(drop=True) for f in frames]
            if not len(frames[0]):
                problems.append(f"{name}: {part} is empty in {roots[0]}")
                continue
            if list(frames[0].columns) != list(frames[1].columns) or len(frames[0]) != len(frames[1]):
                problems.append(f"{name}: {part} differ in shape: {frames[0].shape} vs {frames[1].shape}")
                continue
            differing = [c for c in frames[0].columns if not frames[0][c].equals(frames[1][c])]
            if differing:
                problems.append(f"{name}: {part} differ in columns {differing}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unlearnbench.cluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("node-size")
    p.add_argument("profile_config")
    p.add_argument("--slots", type=int, default=1, help="how many of the largest job run at once")
    p = sub.add_parser("slurm-conf")
    p.add_argument("--profile-config", required=True, help="the partitions come from its slurm_partition values")
    for opt in ("node", "work", "munge-socket"):
        p.add_argument(f"--{opt}", required=True)
    for opt in ("cpus", "mem-mb", "gpus", "ctld-port", "slurmd-port"):
        p.add_argument(f"--{opt}", required=True, type=int)
    p = sub.add_parser("set-threads")
    p.add_argument("profile_config")
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    args = parser.parse_args(argv)
    if args.cmd == "node-size":
        print(*node_size(args.profile_config, args.slots))
    elif args.cmd == "set-threads":
        print(*set_threads(args.profile_config))
    elif args.cmd == "slurm-conf":
        sys.stdout.write(slurm_conf(node=args.node, cpus=args.cpus, mem_mb=args.mem_mb, gpus=args.gpus,
                                    work=args.work, munge_socket=args.munge_socket, ctld_port=args.ctld_port,
                                    slurmd_port=args.slurmd_port,
                                    partition_names=partitions(args.profile_config)))
    else:
        problems = compare_roots(args.a, args.b)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            return 1
        print(f"equal: {args.a} and {args.b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
