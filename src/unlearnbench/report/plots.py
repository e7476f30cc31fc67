"""Report figures (matplotlib, Agg canvas, no pyplot state). Every ``figure_*`` function returns the
:class:`~matplotlib.figure.Figure` so tests can inspect its artists; :func:`save_figure` writes PNG (for
the report) and SVG atomically. Colours and markers are fixed per method across all figures; the original
model is a grey ✕ / dashed line, the retrained model a black ★ / solid line.

(a) :func:`figure_logit_vs_repr` — x: forget accuracy − retrain (percentage points), y: CKA to original;
    one marker per method, one panel per scenario; shaded: the verdicts' ``tau_logit`` band; dotted: the
    "superficial" CKA threshold.
(b) :func:`figure_cka_layers` — per-layer CKA to the original and to the retrained model (one scenario).
(c) :func:`figure_knn` — downstream k-NN bars per method, reference lines for original and retrain.
(d) :func:`figure_probe` — linear-probe recovery bars per scenario, reference lines.
(e) :func:`figure_curves` — training (references) and unlearning (methods) curves per epoch (one scenario).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from unlearnbench.atomic import atomic_path
from unlearnbench.report import layout, plotdata
from unlearnbench.report.layout import REFERENCE_ROWS
from unlearnbench.report.sources import REFERENCES, ReportData
from unlearnbench.report.verdicts import DEFAULT_THRESHOLDS, Thresholds

DPI = 110
REF_STYLE = {"original": {"color": "0.45", "marker": "X", "linestyle": "--", "markersize": 9},
             "original_prime": {"color": "0.65", "marker": "P", "linestyle": ":", "markersize": 9},
             "retrain": {"color": "black", "marker": "*", "linestyle": "-", "markersize": 12}}
MARKERS = "osD^vP<>ph"
#: accuracy curve keys → (label, line style)
CURVE_KEYS = {"train_acc": ("train acc", "-"), "forget_acc": ("forget-train acc", (0, (6, 2, 1, 2, 1, 2))),
              "retain_test_acc": ("retain-test acc", "--"), "test_acc": ("test acc", "-."),
              "forget_test_acc": ("forget-test acc", ":")}


def palette(methods: Iterable[str]) -> dict[str, dict]:
    """Style per method: references fixed, other methods tab10 (tab20 beyond 9) colours, greys skipped."""
    others = [m for m in dict.fromkeys(methods) if m not in REF_STYLE]
    cmap, greys = ("tab10", {7}) if len(others) <= 9 else ("tab20", {14, 15})
    colors = [c for i, c in enumerate(matplotlib.colormaps[cmap].colors) if i not in greys]
    styles = {m: {"color": colors[i % len(colors)], "marker": MARKERS[i % len(MARKERS)], "linestyle": "-",
                  "markersize": 7} for i, m in enumerate(others)}
    return {**REF_STYLE, **styles}


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained", dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def panels(fig: Figure, n: int, ncols: int = 3, **kw) -> list:
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _legend(fig: Figure, axes: list, methods: list[str]) -> None:
    """One legend for all panels, right of them: guides first, then methods in palette order."""
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    rank = {m: i for i, m in enumerate(methods)}
    labels = sorted(handles, key=lambda lab: rank.get(lab.split(" (")[0], -1))
    if labels:
        fig.legend([handles[lab] for lab in labels], labels, loc="outside right center", frameon=False)


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def figure_logit_vs_repr(table: pd.DataFrame, methods: list[str], th: Thresholds = DEFAULT_THRESHOLDS) -> Figure:
    scenarios = list(dict.fromkeys(table["scenario"]))
    ncols = min(3, max(1, len(scenarios)))
    fig = new_figure(4.3 * ncols + 1.8, 4.0 * math.ceil(max(1, len(scenarios)) / ncols) + 0.4)
    styles = palette(methods)
    axes = panels(fig, max(1, len(scenarios)))
    for ax, sc in zip(axes, scenarios):
        rows = table[table["scenario"] == sc]
        tol = rows.loc[rows["method"] == "retrain", "forget_tol"].max() if "forget_tol" in rows else float("nan")
        tol = rows["forget_tol"].median() if not _finite(tol) and "forget_tol" in rows else tol
        if _finite(tol):
            ax.axvspan(-100 * tol, 100 * tol, color="tab:green", alpha=0.1, label="|gap| within noise")
        ax.axvline(0, color="0.7", linewidth=0.8)
        thr = rows["cka_threshold"].iloc[0]
        if _finite(thr):
            ax.axhline(thr, color="tab:red", linestyle=":", linewidth=1.2, label="superficial above (CKA)")
        missing, placed = [], []
        for r in rows.itertuples():
            if not (_finite(r.forget_gap) and _finite(r.cka_to_original)):
                missing.append(r.method)
                continue
            st = styles[r.method]
            ax.plot([100 * r.forget_gap], [r.cka_to_original], linestyle="none", marker=st["marker"],
                    color=st["color"], markersize=st["markersize"] + 1, markeredgecolor="white",
                    markeredgewidth=0.6, label=r.method, zorder=3)
            placed.append((100 * r.forget_gap, r.cka_to_original, r.method, st["color"]))
        _annotate(ax, placed)
        if missing:
            ax.text(0.02, 0.02, "not shown (missing): " + ", ".join(missing), transform=ax.transAxes,
                    fontsize=8, color="0.35")
        fq = rows["forget_quantity"].iloc[0].replace("_acc", "").replace("_", "-")
        ax.set_title(f"{sc}  ({fq} accuracy)")
        ax.set_xlabel(f"{fq} accuracy − retrain (percentage points)")
        ax.set_ylabel("linear CKA to original\n(pre-logits, forget-train)")
        ax.grid(alpha=0.3)
    if not scenarios:
        _no_data(axes[0])
    fig.suptitle("Logit forgetting vs. representation change (retrain: x = 0, original: y = 1)")
    _legend(fig, axes, methods)
    return fig


def _annotate(ax, points: list[tuple[float, float, str, str]]) -> None:
    """Name each marker; markers that (nearly) coincide get their names stacked instead of overprinted."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    tol_x = 0.04 * (max(xs, default=0) - min(xs, default=0) or 1.0)
    tol_y = 0.04 * (max(ys, default=0) - min(ys, default=0) or 1.0)
    done: list[tuple[float, float]] = []
    for x, y, name, color in points:
        stack = sum(abs(x - px) <= tol_x and abs(y - py) <= tol_y for px, py in done)
        ax.annotate(name, (x, y), xytext=(6, 3 - 10 * stack), textcoords="offset points", fontsize=8, color=color)
        done.append((x, y))


def figure_cka_layers(table: pd.DataFrame, scenario: str, methods: list[str]) -> Figure:
    fig = new_figure(11, 4.2)
    axes = fig.subplots(1, 2, sharey=True).tolist()
    rows = table[table["scenario"] == scenario]
    layers = rows.drop_duplicates("layer").sort_values("layer_index")
    styles = palette(methods)
    for ax, ref in zip(axes, REFERENCES):
        for method in methods:
            line = rows[(rows["reference"] == ref) & (rows["method"] == method)].sort_values("layer_index")
            if line.empty:
                continue
            ax.plot(line["layer_index"], line["cka"], label=method, linewidth=1.6, **styles[method])
        ax.set_title(f"CKA to the {'original' if ref == 'original' else 'retrained'} model")
        ax.set_xticks(layers["layer_index"].tolist(), layers["layer"].tolist(), rotation=30 if len(layers) > 6 else 0)
        ax.set_xlabel("layer (input → output)")
        ax.grid(alpha=0.3)
        if not ax.lines:
            _no_data(ax)
    axes[0].set_ylabel("linear CKA (forget-train images)")
    fig.suptitle(f"Per-layer representation similarity — scenario {scenario}")
    _legend(fig, axes, methods)
    return fig


def _bars(ax, groups: list[str], values: pd.DataFrame, key: str, methods: list[str], styles: dict,
          na_text: str = "n/a") -> None:
    """Grouped bars of non-reference methods; references as horizontal lines over each group."""
    present = set(values.loc[values[key].map(_finite), "method"])
    bar_methods = [m for m in methods if m not in REF_STYLE and m in present]
    width = 0.8 / max(1, len(bar_methods))
    for g, group in enumerate(groups):
        sub = values[values["group"] == group].set_index("method")
        for i, method in enumerate(bar_methods):
            v = sub[key].get(method, math.nan)
            if not _finite(v):
                continue
            ci = sub["ci95"].get(method, math.nan)
            ax.bar(g - 0.4 + width * (i + 0.5), v, width * 0.92, color=styles[method]["color"], label=method,
                   yerr=ci if _finite(ci) else None, capsize=3)
        for ref in reversed(REFERENCE_ROWS):  # dashed original drawn over solid retrain: both stay visible
            v = sub[key].get(ref, math.nan)
            if _finite(v):
                st = styles[ref]
                ax.plot([g - 0.45, g + 0.45], [v, v], color=st["color"], linestyle=st["linestyle"], linewidth=2,
                        label=f"{ref} ({'seed-noise floor' if ref == 'original_prime' else 'reference'})")
        if not sub[key].map(_finite).any():
            ax.text(g, 0.5, na_text, ha="center", color="0.4")
    ax.set_xticks(range(len(groups)), groups)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)


def figure_knn(table: pd.DataFrame, methods: list[str]) -> Figure:
    scenarios = list(dict.fromkeys(table["scenario"]))
    ncols = min(3, max(1, len(scenarios)))
    fig = new_figure(4.0 * ncols + 2.0, 3.6 * math.ceil(max(1, len(scenarios)) / ncols) + 0.4)
    axes = panels(fig, max(1, len(scenarios)), sharey=True)
    styles = palette(methods)
    for ax, sc in zip(axes, scenarios):
        rows = table[table["scenario"] == sc].rename(columns={"downstream": "group"})
        _bars(ax, list(dict.fromkeys(rows["group"])), rows, "knn_acc", methods, styles)
        ax.set_title(sc)
        ax.set_xlabel("downstream dataset")
        ax.set_ylabel("k-NN accuracy (fraction)")
    if not scenarios:
        _no_data(axes[0])
    fig.suptitle("Downstream k-NN transfer (k = 5, cosine, pre-logit features)")
    _legend(fig, axes, methods)
    return fig


def figure_probe(table: pd.DataFrame, methods: list[str]) -> Figure:
    scenarios = list(dict.fromkeys(table["scenario"]))
    fig = new_figure(max(6.0, 1.6 * len(scenarios) + 3.5), 4.0)
    ax = fig.subplots()
    _bars(ax, scenarios, table.rename(columns={"scenario": "group"}), "probe_acc", methods, palette(methods),
          na_text="n/a\n(no forgotten\nclasses)")
    ax.set_xlabel("scenario")
    ax.set_ylabel("probe accuracy on forget-test\nclasses (fraction)")
    fig.suptitle("Linear-probe recovery of the forgotten classes (lower = less recoverable)")
    _legend(fig, [ax], methods)
    return fig


def figure_curves(table: pd.DataFrame, scenario: str, methods: list[str]) -> Figure:
    fig = new_figure(12, 7)
    axes = fig.subplots(2, 2)
    styles = palette(methods)
    rows = table[table["scenario"] == scenario]
    last = max(1, int(rows["epoch"].max())) if len(rows) else 1
    for r, phase in enumerate(("training", "unlearning")):
        part = rows[rows["phase"] == phase]
        ax_loss, ax_acc = axes[r]
        for method in [m for m in methods if m in set(part["method"])]:
            st = styles[method]
            mine = part[part["method"] == method]
            loss = mine[mine["key"] == "loss"].sort_values("epoch")
            if len(loss):
                ax_loss.plot(loss["epoch"], loss["value"], color=st["color"], marker=st["marker"], label=method)
            for key, (label, ls) in CURVE_KEYS.items():
                acc = mine[mine["key"] == key].sort_values("epoch")
                if len(acc):
                    ax_acc.plot(acc["epoch"], acc["value"], color=st["color"], linestyle=ls, marker=st["marker"],
                                markersize=4, linewidth=1.5)
        what = "references (original, retrain)" if phase == "training" else "unlearning methods"
        ax_loss.set_title(f"{phase.capitalize()} loss — {what}")
        ax_acc.set_title(f"{phase.capitalize()} accuracy — {what}")
        ax_loss.set_ylabel("loss (method objective, nats)")
        ax_acc.set_ylabel("accuracy (fraction)")
        ax_acc.set_ylim(-0.02, 1.02)
        for ax in (ax_loss, ax_acc):
            ax.set_xlabel("epoch (0 = before unlearning)" if phase == "unlearning" else "epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlim(-0.3 if phase == "unlearning" else 0.7, last + 0.3)
            ax.grid(alpha=0.3)
            if not ax.lines:
                _no_data(ax, "no curve recorded")
        _curve_legend(ax_acc, part, methods, styles)
    fig.suptitle(f"Training and unlearning curves — scenario {scenario}")
    return fig


def _curve_legend(ax, part: pd.DataFrame, methods: list[str], styles: dict) -> None:
    """Colours name the models, line styles the accuracies: grows with methods + keys, not their product."""
    handles = [Line2D([], [], color=styles[m]["color"], marker=styles[m]["marker"], label=m)
               for m in methods if m in set(part["method"])]
    handles += [Line2D([], [], color="0.3", linestyle=ls, label=label) for key, (label, ls) in CURVE_KEYS.items()
                if key in set(part["key"])]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)


def save_figure(fig: Figure, base: str | Path, formats: Iterable[str] = layout.IMAGE_FORMATS) -> list[Path]:
    """Write ``base.png`` / ``base.svg`` atomically (deterministic SVG ids, no timestamps)."""
    written = []
    for fmt in formats:
        path = Path(base).with_suffix(f".{fmt}")
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        with matplotlib.rc_context({"svg.hashsalt": "unlearnbench"}), atomic_path(path, suffix=f".tmp.{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta)
        written.append(path)
    return written


def write_overview_plots(data: ReportData, out: str | Path, th: Thresholds = DEFAULT_THRESHOLDS) -> list[Path]:
    """(a), (c), (d) for the whole experiment under ``{out}/report/plots``."""
    board = plotdata.board(data, th)
    methods = data.methods()
    figures = {"logit_vs_repr": figure_logit_vs_repr(plotdata.logit_vs_repr(data, board, th), methods, th),
               "knn": figure_knn(plotdata.knn(data, board), methods),
               "probe": figure_probe(plotdata.probe(board), methods)}
    return [p for name, fig in figures.items() for p in save_figure(fig, layout.plot_file(out, name, "png"))]


def write_scenario_plots(data: ReportData, out: str | Path, scenario: str) -> list[Path]:
    """(b) and (e) of one scenario."""
    methods = data.methods()
    figures = {"cka_layers": figure_cka_layers(plotdata.cka_layers(data), scenario, methods),
               "curves": figure_curves(plotdata.curves(data), scenario, methods)}
    return [p for name, fig in figures.items()
            for p in save_figure(fig, layout.plot_file(out, name, "png", scenario))]


def write_plots(data: ReportData, out: str | Path, th: Thresholds = DEFAULT_THRESHOLDS) -> list[Path]:
    """Every figure of the report: the overview figures and each scenario's."""
    written = write_overview_plots(data, out, th)
    for scenario in data.scenarios:
        written += write_scenario_plots(data, out, scenario)
    return written
