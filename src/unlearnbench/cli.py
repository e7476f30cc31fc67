"""``unlearnbench``: the command line.

    unlearnbench run [--configfile F] [--cores N] [snakemake args…]   what `make run` does (from the repository)
    unlearnbench where [--configfile F]                               where a config's outputs are
    unlearnbench methods | metrics | attacks | datasets | scenario-kinds [NAME]
                                                                      what is registered, from the registries
    unlearnbench show OUT [--scenario S] [--format md|csv|html|tex]   an experiment's leaderboards
    unlearnbench compare OUT_A OUT_B [--scenario S] [--csv PATH]      two experiments' summaries, against noise

``OUT`` is an experiment's outputs folder, ``outputs/<experiment>`` (``unlearnbench where`` prints it).
``compare`` reads a difference as real only beyond the noise band of the difference,
:func:`unlearnbench.aggregate.difference_band` — the rule the verdicts use (with noise not estimated, e.g.
one seed of CKA, the band is 0 and the row says so). Errors (a missing folder, an unknown name) print one
line naming what is wrong and exit with status 1; usage errors exit with 2. Every subcommand imports what
it needs when it runs, so ``unlearnbench --help`` is instant and nothing here imports torch.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from unlearnbench.plugins import PluginError

PROG = "unlearnbench"
DEFAULT_CONFIG = "config.yaml"
DEFAULT_PROFILE = "profiles/default"


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


# --- run / where --------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    """``make run`` without make: clear a stale lock and run Snakemake (:mod:`unlearnbench.resume`) with the
    workflow profile, then print where the outputs are (:mod:`unlearnbench.where`)."""
    cwd = Path.cwd()
    if not (cwd / "Snakefile").is_file():
        raise CLIError(f"no Snakefile in {cwd}: run `unlearnbench run` from the unlearnbench repository (the "
                       "workflow directory holding Snakefile, rules/ and config.yaml)")
    if not Path(args.configfile).is_file():
        raise CLIError(f"config file {args.configfile} does not exist (in {cwd})")
    if not Path(args.profile).is_dir():
        raise CLIError(f"workflow profile {args.profile} does not exist (in {cwd})")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # timm must never try to download (offline machines)
    from unlearnbench import resume, where

    cores = ["--cores", str(args.cores)] if args.cores is not None else []
    rc = resume.main(["--workflow-profile", args.profile, "--configfile", args.configfile, *cores, *extra])
    dry = any(a in ("-n", "--dry-run", "--dryrun") for a in extra)
    if rc == 0 and not dry:
        where.main(["--configfile", args.configfile])
    return rc


def cmd_where(args: argparse.Namespace) -> int:
    from unlearnbench import where

    return where.main(["--configfile", args.configfile, "--directory", args.directory])


# --- registries ---------------------------------------------------------------------------------------------
def _param_list(entry) -> str:
    return ", ".join(f"{p.name}={p.default!r}" + (f" {p.range()}" if p.range() else "") for p in entry.params) or "none"


def _render_entries(noun: str, entries: list, name: str | None, more: str) -> str:
    """The listing of one registry (``NAME`` given: that entry in full); ``noun`` is the singular name."""
    if name is not None:
        found = {e.name: e for e in entries}
        if name not in found:
            raise CLIError(f"unknown {noun} {name!r}; registered: {', '.join(found)}")
        e = found[name]
        lines = [f"{e.name}", "", e.doc or e.summary, ""]
        lines += [f"{label}: {text}" for label, text in e.facts.items()]
        lines.append("parameters:" if e.params else "parameters: none")
        for p in e.params:
            detail = "".join([f"  range {p.range()}" if p.range() else "", f"  — {p.help}" if p.help else ""])
            lines.append(f"  {p.name} = {p.default!r}{detail}")
        return "\n".join(lines)
    lines = [f"{len(entries)} registered {noun}s ({more}; `{PROG} {noun}s NAME` for one in full)", ""]
    for e in entries:
        lines.append(f"{e.name} — {e.summary}")
        lines += [f"    {label}: {text}" for label, text in e.facts.items() if label != "module"]
        lines.append(f"    parameters: {_param_list(e)}")
    return "\n".join(lines)


def cmd_registry(args: argparse.Namespace) -> int:
    """``unlearnbench <registry> [NAME]``: any registry of :data:`unlearnbench.describe.REGISTRIES`, alike."""
    from unlearnbench.describe import REGISTRIES, entries

    info = REGISTRIES[args.command]
    print(_render_entries(args.command[:-1], entries(args.command), args.name,
                          f"{info.module}.{info.attr}; {info.configured}"))
    return 0


# --- show ---------------------------------------------------------------------------------------------------
def _experiment(out: str) -> Path:
    from unlearnbench.api import NotAnExperimentError, check_experiment

    try:
        return check_experiment(out)
    except NotAnExperimentError as exc:
        raise CLIError(str(exc)) from None


def cmd_show(args: argparse.Namespace) -> int:
    from unlearnbench.report import layout

    out = _experiment(args.out)
    folder = layout.leaderboard_file(out, "x", args.format).parent
    files = {p.stem: p for p in sorted(folder.glob(f"*.{args.format}"))}
    if not files:
        raise CLIError(f"{out} has no leaderboards yet ({folder}/*.{args.format}): the report jobs have not run; "
                       f"`{PROG} run` (or `make run`) writes them")
    if args.scenario is not None:
        if args.scenario not in files:
            raise CLIError(f"{out} has no leaderboard for scenario {args.scenario!r}; scenarios: {', '.join(files)}")
        files = {args.scenario: files[args.scenario]}
    texts = []
    for scenario, path in files.items():
        text = path.read_text()
        texts.append(text if args.format == "md" else f"==> {path} <==\n{text}")
    print("\n".join(t.rstrip("\n") + "\n" for t in texts).rstrip("\n"))
    return 0


# --- compare ------------------------------------------------------------------------------------------------
COMPARE_COLUMNS = ["scenario", "method", "quantity", "mean_a", "mean_b", "diff", "band", "beyond_band", "note",
                   "ci95_a", "ci95_b", "n_seeds_a", "n_seeds_b", "verdict_a", "verdict_b", "recovery_a",
                   "recovery_b"]


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def compare_summaries(a, b, confidence: float = 0.95):
    """Per (scenario, method, quantity) in either summary: both means, ``diff`` = mean_b − mean_a, ``band`` the
    noise band of the difference (:func:`unlearnbench.aggregate.difference_band` at ``confidence``) and
    ``beyond_band`` = |diff| > band. As in the verdicts (:func:`unlearnbench.report.verdicts.band`) a band that
    cannot be estimated (no noise in either row) counts as 0, noted ``noise not estimated``; a row missing
    from one side is noted ``only in A`` / ``only in B`` and never beyond the band."""
    import pandas as pd

    from unlearnbench.aggregate import difference_band

    keys = ["scenario", "method", "quantity"]
    noise = ["mean", "ci95", "se_seeds", "se_eval", "n_seeds"]

    def part(frame):
        return frame[[*keys, *[c for c in noise if c in frame]]].drop_duplicates(keys)

    merged = part(a).merge(part(b), on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    rows = []
    for r in merged.to_dict("records"):
        ra = {c: r.get(f"{c}_a") for c in noise}
        rb = {c: r.get(f"{c}_b") for c in noise}
        side = r.pop("_merge")
        out = {**{k: r[k] for k in keys}, "mean_a": ra["mean"], "mean_b": rb["mean"], "ci95_a": ra["ci95"],
               "ci95_b": rb["ci95"], "n_seeds_a": ra["n_seeds"], "n_seeds_b": rb["n_seeds"]}
        if side != "both":
            out.update(diff=math.nan, band=math.nan, beyond_band=False,
                       note="only in A" if side == "left_only" else "only in B")
        elif not (_finite(ra["mean"]) and _finite(rb["mean"])):
            out.update(diff=math.nan, band=math.nan, beyond_band=False, note="missing value")
        else:
            diff = float(rb["mean"]) - float(ra["mean"])
            band = difference_band(ra, rb, confidence)
            note = ""
            if math.isnan(band):
                band, note = 0.0, "noise not estimated"
            out.update(diff=diff, band=band, beyond_band=bool(abs(diff) > band), note=note)
        rows.append(out)
    frame = pd.DataFrame(rows, columns=[c for c in COMPARE_COLUMNS if not c.startswith(("verdict", "recovery"))])
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def compare_verdicts(board_a, board_b):
    """Verdict and recovery verdict of every (scenario, method) of two combined leaderboards, with ``side``
    (``both`` / ``only in A`` / ``only in B``) and ``changed``: in both, and either verdict differs."""
    cols = ["scenario", "method", "verdict", "recovery"]

    def part(board):
        return board.reindex(columns=cols).drop_duplicates(["scenario", "method"])

    merged = part(board_a).merge(part(board_b), on=["scenario", "method"], how="outer", suffixes=("_a", "_b"),
                                 indicator="side")
    merged["side"] = merged["side"].astype(str).map({"both": "both", "left_only": "only in A",
                                                     "right_only": "only in B"})
    differs = [~((a == b) | (a.isna() & b.isna()))
               for a, b in ((merged[f"{c}_a"].astype(object), merged[f"{c}_b"].astype(object))
                            for c in ("verdict", "recovery"))]
    merged["changed"] = ((merged["side"] == "both") & (differs[0] | differs[1])).to_numpy()
    return merged.sort_values(["scenario", "method"]).reset_index(drop=True)


def _fmt(x: Any, sign: bool = False) -> str:
    if not _finite(x):
        return "—"
    return f"{float(x):+.3f}" if sign else f"{float(x):.3f}"


def _table(frame, columns: dict[str, Any]) -> str:
    """Plain fixed-width table: header → formatter of the rows' values."""
    cells = [[str(f(r)) for f in columns.values()] for r in frame.to_dict("records")]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(columns)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _read_summary(out: Path):
    import pandas as pd

    from unlearnbench.report import layout

    path = layout.summary_table(out)
    if not path.is_file():
        raise CLIError(f"{out} has no summary yet ({path}): the aggregate job has not run")
    return pd.read_parquet(path)


def _read_board(out: Path):
    import pandas as pd

    from unlearnbench.report import layout

    path = layout.combined_leaderboard(out)
    return pd.read_csv(path) if path.is_file() else None


def cmd_compare(args: argparse.Namespace) -> int:
    out_a, out_b = _experiment(args.out_a), _experiment(args.out_b)
    sum_a, sum_b = _read_summary(out_a), _read_summary(out_b)
    if args.scenario is not None:
        known = sorted(set(sum_a["scenario"]) | set(sum_b["scenario"]))
        if args.scenario not in known:
            raise CLIError(f"scenario {args.scenario!r} is in neither summary; scenarios: {', '.join(known)}")
        sum_a, sum_b = (s[s["scenario"] == args.scenario] for s in (sum_a, sum_b))
    table = compare_summaries(sum_a, sum_b, args.confidence)
    boards = _read_board(out_a), _read_board(out_b)
    verdicts = None
    if all(b is not None for b in boards):
        if args.scenario is not None:
            boards = tuple(b[b["scenario"] == args.scenario] for b in boards)
        verdicts = compare_verdicts(*boards)
        table = table.merge(verdicts.drop(columns=["changed", "side"]), on=["scenario", "method"], how="left")
    table = table.reindex(columns=COMPARE_COLUMNS)
    both = table[~table["note"].isin(["only in A", "only in B"])]
    beyond = table[table["beyond_band"].astype(bool)]
    conf = f"{100 * args.confidence:g} %"
    print(f"A = {out_a}\nB = {out_b}")
    print(f"{len(both)} (scenario, method, quantity) in both; {len(beyond)} differ beyond the {conf} noise band of "
          f"their difference (aggregate.difference_band, as the verdicts); "
          f"{int((table['note'] == 'only in A').sum())} only in A, {int((table['note'] == 'only in B').sum())} only in B.")
    shown = table if args.all else beyond
    if len(shown):
        print()
        print(_table(shown, {"scenario": lambda r: r["scenario"], "method": lambda r: r["method"],
                             "quantity": lambda r: r["quantity"], "A": lambda r: _fmt(r["mean_a"]),
                             "B": lambda r: _fmt(r["mean_b"]), "B − A": lambda r: _fmt(r["diff"], sign=True),
                             "band": lambda r: _fmt(r["band"]),
                             "beyond": lambda r: "yes" if r["beyond_band"] else "no",
                             "note": lambda r: r["note"] or ""}))
    if verdicts is None:
        missing = [str(o) for o, b in zip((out_a, out_b), boards) if b is None]
        print(f"\nverdicts not compared: no report/leaderboard.csv in {', '.join(missing)}")
    else:
        changed = verdicts[verdicts["changed"]]
        sides = verdicts["side"].value_counts()
        print(f"\n{len(changed)} verdict change(s) among {sides.get('both', 0)} (scenario, method) in both "
              f"leaderboards ({sides.get('only in A', 0)} only in A, {sides.get('only in B', 0)} only in B)"
              + (":" if len(changed) else "."))
        if len(changed):
            print(_table(changed, {"scenario": lambda r: r["scenario"], "method": lambda r: r["method"],
                                   "verdict A": lambda r: _text(r["verdict_a"]),
                                   "verdict B": lambda r: _text(r["verdict_b"]),
                                   "recovery A": lambda r: _text(r["recovery_a"]),
                                   "recovery B": lambda r: _text(r["recovery_b"])}))
    if args.csv:
        from unlearnbench.atomic import atomic_path

        path = Path(args.csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".tmp.csv") as tmp:
            table.to_csv(tmp, index=False)
        print(f"\nwrote {path} ({len(table)} rows)")
    return 0


def _text(x: Any) -> str:
    return "(absent)" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


# --- parser -------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, allow_abbrev=False,
                                     description="unlearnbench: does machine unlearning remove the forgotten data "
                                                 "from representations, or only from logits?",
                                     epilog="OUT is an experiment's outputs folder, outputs/<experiment>.")
    from unlearnbench import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", allow_abbrev=False, help="run the workflow (what `make run` does)",
                       description="Run the Snakemake workflow from the repository directory: clear a stale lock "
                                   "of a killed run, run with the workflow profile, then print where the outputs "
                                   "are. Arguments it does not know go to snakemake (e.g. -n, --forcerun aggregate).")
    p.add_argument("--configfile", default=DEFAULT_CONFIG, help="the experiment config (default: %(default)s)")
    p.add_argument("--cores", help="cores for snakemake (default: the profile's)")
    p.add_argument("--profile", default=DEFAULT_PROFILE, help="workflow profile (default: %(default)s)")
    p.set_defaults(func=cmd_run, passthrough=True)

    p = sub.add_parser("where", help="where a config's results, leaderboards, figures and report are")
    p.add_argument("--configfile", default=DEFAULT_CONFIG, help="the experiment config (default: %(default)s)")
    p.add_argument("--directory", default=".", help="the workflow directory (default: current)")
    p.set_defaults(func=cmd_where)

    from unlearnbench.describe import REGISTRIES

    for name, info in REGISTRIES.items():
        p = sub.add_parser(name, help=f"list the registered {info.what} (NAME: one in full)",
                           description=f"The registered {info.what}, from the registry: parameters with their "
                                       "defaults (and constraints), the facts each states, and each docstring's "
                                       "first sentence.")
        p.add_argument("name", nargs="?", metavar="NAME", help="show this one in full")
        p.set_defaults(func=cmd_registry)

    p = sub.add_parser("show", help="print an experiment's leaderboard(s)")
    p.add_argument("out", metavar="OUT", help="experiment outputs folder (outputs/<experiment>)")
    p.add_argument("--scenario", help="only this scenario")
    p.add_argument("--format", default="md", choices=("md", "csv", "html", "tex"),
                   help="which leaderboard file (default: %(default)s)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("compare", help="diff two experiments' summaries against their noise",
                       description="Per (scenario, method, quantity): both means, B − A, and whether the "
                                   "difference exceeds its noise band (aggregate.difference_band, the verdicts' "
                                   "rule); then the verdicts that changed. Prints the differences beyond the band "
                                   "(all rows with --all).")
    p.add_argument("out_a", metavar="OUT_A", help="experiment outputs folder A")
    p.add_argument("out_b", metavar="OUT_B", help="experiment outputs folder B")
    p.add_argument("--scenario", help="only this scenario")
    p.add_argument("--csv", metavar="PATH", help="write every compared row (and the verdicts) to this CSV")
    p.add_argument("--all", action="store_true", help="print every row, not only those beyond the band")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence of the noise band (default: 0.95)")
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if extra and extra[0] == "--":
        extra = extra[1:]
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not 0 < getattr(args, "confidence", 0.5) < 1:
        parser.error("--confidence must be in (0, 1)")
    try:
        return args.func(args, extra) if getattr(args, "passthrough", False) else args.func(args)
    except CLIError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except PluginError as exc:  # an installed plugin package is broken: say which, not a traceback
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and cut off: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
