"""The tune stage's selection, drawn on logits: where every searched point of every method landed.

:func:`figure_tuning` — one scenario. x: retain accuracy, y: forget accuracy, both on the validation split the
selection reads (:mod:`unlearnbench.tuning`); each method's searched points (grid: open, edge / refinement:
small filled) and its chosen point (large, black edge); the retrained reference's accuracies as the black ★
the criterion measures to, with dotted L1 contours around it (the criterion is the L1 distance to ★). A
method whose points all lie far from ★ has no setting that forgets without breaking the rest: the map shows
the trade-off the leaderboard's single chosen row hides.
"""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from unlearnbench.report.figbase import REF_STYLE, legend, new_figure, no_data, palette, style_for

#: L1 distances to the retrained model's point drawn as dotted contours
CONTOURS = (0.1, 0.25, 0.5)


def figure_tuning(table: pd.DataFrame, scenario: str, methods: list[str]) -> Figure:
    rows = table[table["scenario"] == scenario]
    fig = new_figure(8.0, 5.6)
    ax = fig.subplots()
    styles = palette(methods)
    for method in [m for m in methods if m in set(rows["method"])]:
        mine, st = rows[rows["method"] == method], style_for(styles, method)
        grid_pts, extra, chosen = (mine[mine["stage"] == "grid"], mine[mine["stage"] != "grid"],
                                   mine[mine["chosen"].astype(bool)])
        ax.scatter(grid_pts["retain_val"], grid_pts["forget"], marker=st["marker"], s=34, facecolors="none",
                   edgecolors=st["color"], linewidths=1.1, alpha=0.8)
        ax.scatter(extra["retain_val"], extra["forget"], marker=st["marker"], s=18, color=st["color"], alpha=0.6)
        ax.scatter(chosen["retain_val"], chosen["forget"], marker=st["marker"], s=110, color=st["color"],
                   edgecolors="black", linewidths=1.2, zorder=4, label=method)
    retrain = rows.dropna(subset=["retrain_forget", "retrain_retain_val"]).head(1)
    if len(retrain):
        x0, y0 = float(retrain["retrain_retain_val"].iloc[0]), float(retrain["retrain_forget"].iloc[0])
        for d in CONTOURS:
            ax.plot([x0 - d, x0, x0 + d, x0, x0 - d], [y0, y0 + d, y0, y0 - d, y0], color="0.6", linestyle=":",
                    linewidth=0.9, zorder=1)
            ax.annotate(f"{d:g}", (x0 - d, y0), textcoords="offset points", xytext=(-2, 3), fontsize=7, color="0.5",
                        ha="right")
        st = REF_STYLE["retrain"]
        ax.plot([x0], [y0], linestyle="none", marker=st["marker"], markersize=st["markersize"], color=st["color"],
                zorder=5, label="retrain (criterion target)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("retain accuracy (validation images of the retained classes)")
    ax.set_ylabel("forget accuracy (validation)")
    ax.grid(alpha=0.3)
    if rows.empty:
        no_data(ax, "no tuning record (tuning off, or no method tuned in this scenario)")
    legend(fig, [ax], methods, label=lambda m: "retrain (criterion target)" if m == "retrain" else m)
    fig.suptitle(f"Tuning on logits — scenario {scenario}: searched points (open: grid, small: edge / refinement), "
                 "chosen point (large)\nscore = L1 distance to retrain's ★ (dotted contours)", fontsize=10)
    return fig
