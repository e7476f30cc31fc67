"""``python -m unlearnbench.where --configfile config.yaml``: where a config's results, leaderboard, plots and
report are.

``make run`` calls it at the end. The config is read the way the workflow reads it — a ``--configfile``
is a complete experiment that replaces ``config.yaml`` (``rules/common.smk``) — and validated (defaults
filled in) to find
``{output_root}/{experiment}``; paths come from its :class:`unlearnbench.layout.Layout`, the one the
workflow's rules and :func:`unlearnbench.load` use. Paths are printed
relative to the working directory, each marked when it does not exist yet.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from unlearnbench.config import ConfigError, load_yaml, validate_config
from unlearnbench.layout import REPORT_HTML, Layout
from unlearnbench.report import layout
from unlearnbench.report.figures import ordered

DEFAULT_CONFIG = "config.yaml"


def read_config(configfile: str | Path, workdir: str | Path = ".") -> dict[str, Any]:
    """The experiment config; validated when possible (an invalid one still names its outputs folder)."""
    path = Path(configfile)
    cfg = load_yaml(path if path.is_absolute() or path.is_file() else Path(workdir) / path)
    try:
        return validate_config(cfg)
    except ConfigError as exc:
        print(f"unlearnbench.where: warning: {configfile}: {exc}", file=sys.stderr)
        return {"output_root": "outputs", "experiment": "default", "scenarios": [], **cfg}


def locations(cfg: dict[str, Any], workdir: str | Path = ".") -> list[tuple[str, Path, str]]:
    """(what, path, note) for the results dataset and summary, the leaderboards, figures, DVC metrics and the
    HTML report."""
    paths = Layout.for_config(cfg, workdir)
    scenarios = [s["name"] for s in cfg.get("scenarios", [])]
    n_figures = len(ordered("experiment")) + len(ordered("scenario")) * len(scenarios)
    rows = [("results", paths.results_dir(), "per-job Parquet files: pandas.read_parquet(<folder>) reads all rows"),
            ("summary", paths.summary_table(), f"per method over seeds; {paths.summary_csv().name} beside it"),
            ("leaderboard", paths.combined_leaderboard(), "all scenarios, numeric")]
    beside = "/".join(f".{fmt}" for fmt in layout.LEADERBOARD_FORMATS[1:])
    rows += [("", paths.leaderboard_file(sc, "md"), f"scenario {sc}; {beside} beside it") for sc in scenarios]
    rows += [("index", paths.report_index(), "report landing page: every leaderboard and figure, glossary"),
             ("plots", paths.plot_dir(), f"{n_figures} figures as "
                                         f"{' + '.join(f.upper() for f in layout.IMAGE_FORMATS)}, plot data as CSV"),
             ("", paths.plot_file("logit_vs_repr", "png"), "logit vs. representation map"),
             ("metrics", paths.metrics_json(), "dvc metrics"),
             ("report", Path(workdir) / REPORT_HTML, "make report")]
    return rows


def render(cfg: dict[str, Any], configfile: str, workdir: str | Path = ".") -> str:
    lines = [f"unlearnbench: experiment {cfg['experiment']!r} ({configfile}), "
             f"outputs in {Path(cfg['output_root']) / cfg['experiment']}/"]
    for what, path, note in locations(cfg, workdir):
        shown = f"{path.relative_to(workdir) if path.is_relative_to(workdir) else path}{'/' if path.is_dir() else ''}"
        status = "" if path.exists() else ", not built yet"
        lines.append(f"  {what:<12} {shown}  ({note}{status})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unlearnbench.where", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=DEFAULT_CONFIG, help="the config given to snakemake")
    parser.add_argument("--directory", default=".", help="the workflow directory (default: current)")
    args = parser.parse_args(argv)
    try:
        cfg = read_config(args.configfile, args.directory)
    except ConfigError as exc:
        print(f"unlearnbench.where: {exc}", file=sys.stderr)
        return 1
    print(render(cfg, args.configfile, args.directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
