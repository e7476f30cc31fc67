"""Report figures (matplotlib, Agg canvas, no pyplot state): the drawing of the registered figures
(:mod:`unlearnbench.report.figures`, one module each, which call these). Every ``figure_*`` function returns the
:class:`~matplotlib.figure.Figure` so tests can inspect its artists; :func:`save_figure` writes PNG (for
the report), SVG and PDF (for papers) atomically, byte for byte the same for the same input. Styles are fixed per method
across all figures (:mod:`~unlearnbench.report.figbase`).

(a) :func:`figure_logit_vs_repr` and (b) :func:`figure_cka_layers` — the representation maps, in
    :mod:`~unlearnbench.report.plot_maps`.
(c) :func:`figure_knn` — downstream k-NN accuracy: one panel per downstream set (its own scale), one group
    per scenario, a dot ± 95 % CI per method; references as lines over each group.
(d) :func:`figure_probe` — linear-probe recovery of the forgotten classes, one group per scenario, likewise.
(e) :func:`figure_curves` — training (references) and unlearning (methods) curves per epoch (one scenario).
(f) :func:`figure_relearn` and (g) :func:`figure_layer_probe` — recovery attacks, in
    :mod:`~unlearnbench.report.plot_recovery`.
(h) :func:`~unlearnbench.report.plot_tuning.figure_tuning` — the tune stage's searched and chosen points on
    validation logits (one scenario).

Scales: accuracy axes of (c) and (d) zoom on the methods and references; a method far outside the others
(:func:`unlearnbench.report.axes.split`) is drawn and named in a strip above or below the panel (broken
axis), so it never squashes the others. CKA axes use the 1 − CKA log scale of
:mod:`~unlearnbench.report.axes`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from unlearnbench.atomic import atomic_path
from unlearnbench.report import axes as ax_
from unlearnbench.report import layout
from unlearnbench.report.figbase import (DPI, MARKERS, REF_LABEL, REF_STYLE, finite, fnum, grid, legend,
                                         new_figure, no_data, palette, panels, style_for)
from unlearnbench.report.labels import Item, place_labels
from unlearnbench.report.layout import REFERENCE_ROWS
from unlearnbench.report.plot_maps import figure_cka_layers, figure_logit_vs_repr
from unlearnbench.report.plot_recovery import figure_layer_probe, figure_relearn
from unlearnbench.report.sources import ReportData
from unlearnbench.report.verdicts import DEFAULT_RULE, Rule

#: accuracy curve keys → (label, line style)
CURVE_KEYS = {"train_acc": ("train acc", "-"), "forget_acc": ("forget-train acc", (0, (6, 2, 1, 2, 1, 2))),
              "retain_test_acc": ("retain-test acc", "--"), "test_acc": ("test acc", "-."),
              "forget_test_acc": ("forget-test acc", ":")}


def _dots(fig: Figure, spec, groups: list[str], values: pd.DataFrame, key: str, methods: list[str],
          styles: dict, label: str, na_text: str = "n/a") -> tuple[dict, list[Item]]:
    """Grouped dot plot (method dots ± ci95, references as lines over each group) in one grid cell, with
    outlier strips below / above when a method lies far outside the others of its group."""
    present = set(values.loc[values[key].map(finite), "method"])
    dot_methods = [m for m in methods if m not in REFERENCE_ROWS and m in present]
    dot_methods += sorted(present - set(dot_methods) - set(REFERENCE_ROWS))
    width = 0.8 / max(1, len(dot_methods))
    subs = {g: values[values["group"] == g].drop_duplicates("method").set_index("method") for g in groups}
    splits = {}
    for g, sub in subs.items():
        refs = [fnum(sub[key].get(r)) for r in REFERENCE_ROWS]
        splits[g] = ax_.split({m: fnum(sub[key].get(m)) for m in dot_methods}, references=refs, rule=ax_.ACC_RULE)
    low = any(sp.low for sp in splits.values())
    high = any(sp.high for sp in splits.values())
    axs = ax_.broken(fig, spec, axis="y", low=low, high=high, label=label)
    main = axs["main"]
    spans, items, lims = {"low": [], "high": []}, [], []
    for g, (group, sub) in enumerate(subs.items()):
        sp, main_spans = splits[group], []
        for i, method in enumerate(dot_methods):
            v, ci = fnum(sub[key].get(method)), fnum(sub["ci95"].get(method), 0.0)
            if not finite(v):
                continue
            part, st, x = sp.side(method), style_for(styles, method), g - 0.4 + width * (i + 0.5)
            axs[part].errorbar([x], [v], yerr=[[ci], [ci]], fmt=st["marker"], color=st["color"], markersize=6,
                               markeredgecolor="white", markeredgewidth=0.5, elinewidth=1.0, capsize=2.5,
                               label=method, zorder=3)
            (main_spans if part == "main" else spans[part]).append((v - ci, v + ci))
            if part != "main":
                items.append(Item(axs[part], x, v, method, st["color"]))
        for ref in reversed(REFERENCE_ROWS):  # dashed original drawn over solid retrain: both stay visible
            v = fnum(sub[key].get(ref))
            if finite(v):
                st = styles[ref]
                main.plot([g - 0.45, g + 0.45], [v, v], color=st["color"], linestyle=st["linestyle"], linewidth=2,
                          label=REF_LABEL[ref], zorder=2)
                ci = fnum(sub["ci95"].get(ref), 0.0)
                main_spans.append((v - ci, v + ci))
        if not sub[key].map(finite).any():
            main.text(g, 0.5, na_text, ha="center", va="center", color="0.4", fontsize=9,
                      transform=blended_transform_factory(main.transData, main.transAxes))
        lims.append(ax_.limits(sp, main_spans, ax_.ACC_RULE) if main_spans else None)
    found = [lim for lim in lims if lim]
    main.set_ylim(min(lo for lo, _ in found), max(hi for _, hi in found)) if found else main.set_ylim(0, 1)
    for part in ("low", "high"):
        if part in axs:
            axs[part].set_ylim(*ax_.strip_limits(spans[part], ax_.ACC_RULE))
            axs[part].yaxis.set_major_locator(MaxNLocator(3))
            axs[part].tick_params(axis="y", labelsize=8)
    bottom = axs.get("low", main)
    bottom.set_xticks(range(len(groups)), groups)
    main.set_xlim(-0.6, len(groups) - 0.4)
    for ax in axs.values():
        ax.grid(axis="y", alpha=0.3)
    return axs, items


def figure_knn(table: pd.DataFrame, methods: list[str]) -> Figure:
    """One panel per downstream set (own accuracy scale), one dot group per scenario."""
    sets = list(dict.fromkeys(table["downstream"]))
    scenarios = list(dict.fromkeys(table["scenario"]))
    n = max(1, len(sets))
    ncols = min(3, n)
    fig = new_figure(max(4.2, 0.9 * len(scenarios) + 2.4) * ncols + 2.4, 4.0 * math.ceil(n / ncols) + 0.4)
    styles, drawn, items = palette(methods), [], []
    specs = grid(fig, n, ncols)
    for spec, ds in zip(specs, sets):
        rows = table[table["downstream"] == ds].rename(columns={"scenario": "group"})
        axs, its = _dots(fig, spec, scenarios, rows, "knn_acc", methods, styles, label=ds)
        axs["main"].set_title(f"downstream set: {ds}")
        axs["main"].set_ylabel("k-NN accuracy (fraction)")
        axs.get("low", axs["main"]).set_xlabel("scenario")
        drawn += axs.values()
        items += its
    if not sets:
        no_data(fig.add_subplot(specs[0]))
    fig.suptitle("Downstream k-NN transfer (k = 5, cosine, pre-logit features; ± 95 % CI)")
    legend(fig, drawn, methods)
    place_labels(fig, items)
    return fig


def figure_probe(table: pd.DataFrame, methods: list[str]) -> Figure:
    scenarios = list(dict.fromkeys(table["scenario"]))
    fig = new_figure(max(7.6, 1.6 * len(scenarios) + 4.0), 4.2)
    axs, items = _dots(fig, grid(fig, 1)[0], scenarios, table.rename(columns={"scenario": "group"}), "probe_acc",
                       methods, palette(methods), label="probe", na_text="n/a\n(no forgotten\nclasses)")
    axs.get("low", axs["main"]).set_xlabel("scenario")
    axs["main"].set_ylabel("probe accuracy on forget-test\nclasses (fraction)")
    fig.suptitle("Linear-probe recovery of the forgotten classes (lower = less recoverable; ± 95 % CI)")
    legend(fig, list(axs.values()), methods)
    place_labels(fig, items)
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
                no_data(ax, "no curve recorded")
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


#: per format, the metadata keys left out of the file (timestamps, versions) so that saves are reproducible
SAVE_METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
#: fixed SVG ids; TrueType (Type 42) fonts in PDFs — publishers reject Type 3 fonts
SAVE_RC = {"svg.hashsalt": "unlearnbench", "pdf.fonttype": 42}


def save_figure(fig: Figure, base: str | Path, formats: Iterable[str] = layout.IMAGE_FORMATS) -> list[Path]:
    """Write ``base.{fmt}`` for every format (:data:`layout.IMAGE_FORMATS`: PNG, SVG, PDF) atomically, byte for
    byte the same for the same figure (deterministic SVG ids, no timestamps: PDF without CreationDate)."""
    written = []
    for fmt in formats:
        path = Path(base).with_suffix(f".{fmt}")
        meta = SAVE_METADATA.get(fmt, {})
        with matplotlib.rc_context(SAVE_RC), atomic_path(path, suffix=f".tmp.{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta)
        written.append(path)
    return written


def write_plots(data: ReportData, out: str | Path, th: Rule = DEFAULT_RULE) -> list[Path]:
    """Every figure of the report: each registered figure (:data:`unlearnbench.report.figures.FIGURES`), drawn
    once for the experiment or once per scenario as it declares."""
    from unlearnbench.report.figures import write_figures

    return write_figures(data, out, th)


__all__ = ["figure_logit_vs_repr", "figure_cka_layers", "figure_relearn", "figure_layer_probe", "figure_knn", "figure_probe", "figure_curves",
           "save_figure", "write_plots", "palette", "panels",
           "new_figure", "REF_STYLE", "MARKERS", "DPI", "CURVE_KEYS"]
