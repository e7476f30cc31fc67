"""Small machine-readable exports for DVC under ``{out}/report``.

* ``metrics.json`` (``dvc metrics show``): ``{scenario: {method: {quantity: mean}}}`` with the
  leaderboard's headline quantities, ``gap_logit``, ``gap_repr``, ``harmonic``, ``wall_time_s`` and
  ``n_seeds``; missing values are left out (JSON has no NaN).
* ``plots/{logit_vs_repr,cka_layers,knn,probe,curves,relearn,layer_probe,tuning}.csv`` (``dvc plots show``): the tidy tables of
  :mod:`~unlearnbench.report.plotdata`, exactly what the figures draw.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from unlearnbench.atomic import atomic_path, write_json
from unlearnbench.report import layout, plotdata
from unlearnbench.report.leaderboard import quantities
from unlearnbench.report.sources import ReportData
from unlearnbench.report.verdicts import DEFAULT_RULE, Rule


def metrics(data: ReportData, board: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    keys = [q for q, _ in quantities(data.downstream())] + ["wall_time_s", "n_seeds"]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in board.to_dict("records"):
        values = {k: (int(row[k]) if k == "n_seeds" else float(row[k])) for k in keys
                  if k in row and row[k] is not None and math.isfinite(float(row[k]))}
        out.setdefault(row["scenario"], {})[row["method"]] = values
    return out


def plot_tables(data: ReportData, board: pd.DataFrame, th: Rule = DEFAULT_RULE) -> dict[str, pd.DataFrame]:
    return {"logit_vs_repr": plotdata.logit_vs_repr(data, board, th), "cka_layers": plotdata.cka_layers(data),
            "knn": plotdata.knn(data, board), "probe": plotdata.probe(board), "curves": plotdata.curves(data),
            "relearn": plotdata.relearn_curves(data), "layer_probe": plotdata.layer_probe(data),
            "tuning": plotdata.tuning(data)}


def write_exports(data: ReportData, out: str | Path, th: Rule = DEFAULT_RULE) -> list[Path]:
    board = plotdata.board(data, th)
    write_json(layout.metrics_json(out), metrics(data, board))
    written = [layout.metrics_json(out)]
    for name, table in plot_tables(data, board, th).items():
        path = layout.plot_table(out, name)
        with atomic_path(path, suffix=".tmp.csv") as tmp:
            table.to_csv(tmp, index=False)
        written.append(path)
    return written
