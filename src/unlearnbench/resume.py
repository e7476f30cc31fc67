"""``python -m unlearnbench.resume [snakemake args]``: run Snakemake, first clearing a lock a killed run left.

After ``kill -9`` (or a power cut) Snakemake leaves its lock in ``.snakemake/locks`` and the next run stops
with "Directory cannot be locked" until the user finds ``--unlock``. ``make run`` goes through this module:
when the working directory holds a lock but **no live Snakemake process** works in it (read from
``/proc/<pid>/cwd`` and ``cmdline``), the lock is stale — it is removed with ``snakemake --unlock`` (one
line says so) and the run resumes; the profile's ``rerun-incomplete`` redoes the jobs that were cut off
(every output is written atomically, so nothing half-written is ever taken for done). When another
Snakemake process is alive in the directory, nothing is touched and the message names its pid.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LOCKS = Path(".snakemake") / "locks"


def snakemake_exe() -> str:
    return str(Path(sys.executable).with_name("snakemake"))


def live_snakemake_pids(directory: Path) -> list[int]:
    """Pids of other processes whose command line runs Snakemake and whose working directory is ``directory``."""
    pids, me = [], os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = Path(os.readlink(entry / "cwd")).resolve()
        except OSError:
            continue  # gone, or not ours to read
        if "snakemake" in cmdline and "unlearnbench.resume" not in cmdline and cwd == directory:
            pids.append(int(entry.name))
    return pids


def clear_stale_lock(directory: Path, args: list[str]) -> bool:
    """Remove a stale lock (see module docstring); True when one was removed. Raises SystemExit when a live
    Snakemake process holds the directory."""
    locks = directory / LOCKS
    if not locks.is_dir() or not any(locks.iterdir()):
        return False
    pids = live_snakemake_pids(directory)
    if pids:
        raise SystemExit(f"unlearnbench: another Snakemake process (pid {', '.join(map(str, pids))}) is running in "
                         f"{directory}; wait for it or stop it first")
    subprocess.run([snakemake_exe(), *args, "--unlock"], cwd=directory, check=True, capture_output=True)
    print(f"unlearnbench: removed the stale lock of a killed run in {directory} (no Snakemake process holds "
          "it); resuming", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path.cwd().resolve()
    clear_stale_lock(directory, args)
    return subprocess.run([snakemake_exe(), *args], cwd=directory).returncode


if __name__ == "__main__":
    sys.exit(main())
