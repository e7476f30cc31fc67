"""The results/report layer: leaderboards with verdicts, figures, DVC exports, from an experiment's outputs.

Submodules (imported on demand, so ``import unlearnbench.report`` stays light — no matplotlib):
:mod:`.layout` (file names), :mod:`.sources` (loading summary, raw CKA rows, checkpoint sidecars),
:mod:`.verdicts` (verdict rules read against noise bands), :mod:`.leaderboard` (Markdown/CSV/HTML tables,
the scenario separation line), :mod:`.plotdata` (tidy plot tables), :mod:`.figures` (the registry of report
figures, one module each: name, files, glossary line, draw function), drawn by :mod:`.plots`, :mod:`.plot_maps`
and :mod:`.plot_recovery` (matplotlib) on :mod:`.figbase` (styles), :mod:`.axes` (CKA scale, outlier strips) and
:mod:`.labels` (non-overlapping labels), :mod:`.exports` (metrics.json, plot CSVs), :mod:`.latex` (the paper-width
LaTeX leaderboard), :mod:`.index` and :mod:`.glossary` (the landing page ``report/index.html``).
:func:`build_report` runs all of them on an outputs folder (used by the benchmark); every registered figure
is drawn (:func:`.figures.write_figures`).
"""
from __future__ import annotations

from pathlib import Path


def build_report(out: str | Path, dest: str | Path | None = None) -> list[Path]:
    """Leaderboards, figures and exports for the outputs folder ``out`` (written under ``dest``, default
    ``out``), discovering scenarios and sidecars from the files themselves."""
    from unlearnbench.report.exports import write_exports
    from unlearnbench.report.figures import write_figures
    from unlearnbench.report.index import write_index
    from unlearnbench.report.leaderboard import write_leaderboards
    from unlearnbench.report.sources import discover

    dest = out if dest is None else dest
    data = discover(out)
    return (write_leaderboards(data, dest) + [write_index(data, dest)] + write_exports(data, dest)
            + write_figures(data, dest))
