"""The two representation maps of the report (see :mod:`unlearnbench.report.plots` for the others).

(a) :func:`figure_logit_vs_repr` — one panel per scenario. x: forget accuracy − retrain (percentage points,
    ± the method's 95 % CI), with the logit tolerance band (the methods' median noise band, :func:`_tolerance`);
    y: CKA to the original on the 1 − CKA log scale of :mod:`~unlearnbench.report.axes` (± CI, asymmetric
    there), with the verdicts' "superficial" CKA threshold and the seed-noise floor (original′'s CKA to the
    original ± CI) as a band. Every method and reference is a named marker (labels placed apart by
    :mod:`~unlearnbench.report.labels`); a method that is an outlier on x
    (:func:`~unlearnbench.report.axes.split`) goes into a strip beside the panel (broken x axis), so it
    never squashes the others. The CKA axis always spans its whole domain.
(b) :func:`figure_cka_layers` — per-layer CKA to the original and to the retrained model (one scenario), on
    the same CKA scale, ± CI over seeds when several ran; the seed-noise floor is its own reference line.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from unlearnbench.report import axes as ax_
from unlearnbench.report.figbase import (REF_SHORT, REF_STYLE, finite, grid, legend, legend_label, new_figure,
                                         no_data, palette, style_for)
from unlearnbench.report.labels import Item, place_labels
from unlearnbench.report.layout import REFERENCE_ROWS
from unlearnbench.report.sources import REFERENCES
from unlearnbench.report.verdicts import DEFAULT_RULE, Rule

FLOOR_BAND = {"color": "0.55", "alpha": 0.16, "linewidth": 0}
CKA_YLABEL = "1 − CKA, log scale; " + ax_.FLOOR_NOTE


def _first(rows: pd.DataFrame, col: str, default: float) -> float:
    vals = [float(v) for v in rows[col] if finite(v)] if col in rows else []
    return vals[0] if vals else default


def _col(rows: pd.DataFrame, col: str) -> np.ndarray:
    return rows[col].to_numpy(dtype=float) if col in rows else np.full(len(rows), math.nan)


def _tolerance(rows: pd.DataFrame, th: Rule) -> float:
    """The panel's logit tolerance band: the median over the methods of their ``forget_tol`` (each method's
    noise band of its gap to retrain: the verdicts' rule); NaN when none is known. Each method's own band
    is its x error bar."""
    tol = _col(rows, "forget_tol")
    methods = ~rows["method"].isin(REFERENCE_ROWS).to_numpy() & np.isfinite(tol)
    if methods.any():
        return float(np.median(tol[methods]))
    return math.nan


def figure_logit_vs_repr(table: pd.DataFrame, methods: list[str], th: Rule = DEFAULT_RULE) -> Figure:
    scenarios = list(dict.fromkeys(table["scenario"]))
    n = max(1, len(scenarios))
    ncols = min(3, n)
    fig = new_figure(4.8 * ncols + 2.6, 4.4 * math.ceil(n / ncols) + 0.5)
    styles = palette(methods)
    specs = grid(fig, n, ncols)
    items, drawn = [], []
    for spec, sc in zip(specs, scenarios):
        axs, its = _logit_panel(fig, spec, sc, table[table["scenario"] == sc].reset_index(drop=True), styles, th)
        drawn += axs.values()
        items += its
    if not scenarios:
        no_data(fig.add_subplot(specs[0]))
    fig.suptitle("Logit forgetting vs. representation change (retrain: x = 0; original: CKA = 1)")
    legend(fig, drawn, methods)
    place_labels(fig, items)
    return fig


def _logit_panel(fig: Figure, spec, sc: str, rows: pd.DataFrame, styles: dict, th: Rule):
    fq = str(rows["forget_quantity"].iloc[0])
    tol = 100 * _tolerance(rows, th)
    gap, gci = 100 * _col(rows, "forget_gap"), 100 * _col(rows, "forget_gap_ci95")
    cka, cci = _col(rows, "cka_to_original"), _col(rows, "cka_to_original_ci95")
    names = rows["method"].astype(str).tolist()
    ok = np.isfinite(gap) & np.isfinite(cka)
    is_ref = np.array([m in REFERENCE_ROWS for m in names], dtype=bool)
    sp = ax_.split({m: g for m, g, o, r in zip(names, gap, ok, is_ref) if o and not r},
                   references=gap[ok & is_ref], guides=(-tol, tol, 0.0) if finite(tol) else (0.0,), rule=ax_.GAP_RULE)
    axs = ax_.broken(fig, spec, axis="x", low=bool(sp.low), high=bool(sp.high), label=sc)
    main = axs["main"]
    for ax in axs.values():
        ax_.set_cka_axis(ax)
        ax.grid(alpha=0.3)
        ax.grid(alpha=0.12, which="minor", axis="y")
    if finite(tol) and tol > 0:
        main.axvspan(-tol, tol, color="tab:green", alpha=0.1, label="|gap| within the noise band (τ)")
    main.axvline(0, color="0.7", linewidth=0.8)
    _cka_guides(axs, rows, names, cka, cci)
    items, spans = [], {"main": [], "low": [], "high": []}
    for i, m in enumerate(names):
        if not ok[i]:
            continue
        part = "main" if is_ref[i] else sp.side(m)
        ax, st = axs[part], style_for(styles, m)
        xe = gci[i] if finite(gci[i]) else 0.0
        ax.errorbar([gap[i]], ax_.cka_distance([cka[i]]), xerr=[[xe], [xe]], yerr=ax_.cka_errors(cka[i], cci[i]),
                    fmt=st["marker"], color=st["color"], markersize=st["markersize"] + 1, markeredgecolor="white",
                    markeredgewidth=0.6, elinewidth=1.0, capsize=2, label=legend_label(m), zorder=3)
        spans[part].append((gap[i] - xe, gap[i] + xe))
        items.append(Item(ax, float(gap[i]), float(ax_.cka_distance(cka[i])), REF_SHORT.get(m, m), st["color"]))
    main.set_xlim(*ax_.limits(sp, spans["main"], ax_.GAP_RULE))
    for part in ("low", "high"):
        if part in axs:
            axs[part].set_xlim(*ax_.strip_limits(spans[part], ax_.GAP_RULE))
            axs[part].set_title("off scale", fontsize=8, color="0.3")
            axs[part].xaxis.set_major_locator(MaxNLocator(nbins=2, integer=True))
            axs[part].tick_params(axis="x", labelsize=8)
    missing = [m for m, o in zip(names, ok) if not o]
    note = ("\nnot shown (no data): " + ", ".join(missing)) if missing else ""
    band = f"; median noise band τ = ±{tol:.3g} pp" if finite(tol) else ""
    main.set_title(f"{sc}\n{fq.replace('_acc', '').replace('_', '-')} accuracy{band}{note}", fontsize=9.5)
    main.set_xlabel(f"{fq.replace('_acc', '').replace('_', '-')} accuracy − retrain (percentage points)")
    axs.get("low", main).set_ylabel("CKA to original (pre-logits, forget-train)\n" + CKA_YLABEL, fontsize=9)
    return axs, items


def _cka_guides(axs: dict, rows: pd.DataFrame, names: list[str], cka: np.ndarray, cci: np.ndarray) -> None:
    """Horizontal guides across the panel and its strips: the superficial threshold and the seed-noise floor."""
    thr = _first(rows, "cka_threshold", math.nan)
    floor = names.index("original_prime") if "original_prime" in names else None
    for part, ax in axs.items():
        main = part == "main"
        if finite(thr):
            ax.axhline(float(ax_.cka_distance(thr)), color="tab:red", linestyle=(0, (1, 1.5)), linewidth=1.3,
                       label="superficial: CKA to original above" if main else "_thr")
        if floor is not None and finite(cka[floor]):
            c, ci = cka[floor], cci[floor] if finite(cci[floor]) else 0.0
            if ci > 0:
                ax.axhspan(float(ax_.cka_distance(c + ci)), float(ax_.cka_distance(c - ci)), **FLOOR_BAND,
                           label="seed-noise floor ± CI (original′ vs original)" if main else "_band")
            ax.axhline(float(ax_.cka_distance(c)), color=REF_STYLE["original_prime"]["color"], linestyle=":",
                       linewidth=1.2, label="_floor")


def _dodge(n: int) -> list[float]:
    step = min(0.05, 0.5 / max(1, n))
    return [(j - (n - 1) / 2) * step for j in range(n)]


def figure_cka_layers(table: pd.DataFrame, scenario: str, methods: list[str]) -> Figure:
    fig = new_figure(11.5, 4.6)
    axes = fig.subplots(1, 2, sharey=True).tolist()
    rows = table[table["scenario"] == scenario]
    layers = rows.drop_duplicates("layer").sort_values("layer_index")
    styles = palette(methods)
    present = [m for m in methods if m in set(rows["method"])]
    present += sorted(set(rows["method"]) - set(present))
    offsets = dict(zip(present, _dodge(len(present))))
    for ax, ref in zip(axes, REFERENCES):
        ax_.set_cka_axis(ax)
        for method in present:
            line = rows[(rows["reference"] == ref) & (rows["method"] == method)].sort_values("layer_index")
            if not np.isfinite(_col(line, "cka")).any():
                continue
            st = style_for(styles, method)
            ci = _col(line, "ci95")
            ci = np.where(_col(line, "n_seeds") > 1, ci, math.nan)
            yerr = ax_.cka_errors(line["cka"], ci) if np.isfinite(ci).any() else None
            x = line["layer_index"].to_numpy(dtype=float) + offsets[method]
            bars = ax.errorbar(x, ax_.cka_distance(line["cka"]),
                        yerr=yerr, color=st["color"], marker=st["marker"], linestyle=st["linestyle"],
                        markersize=min(st["markersize"], 9), linewidth=2.4 if method == "original_prime" else 1.6,
                        elinewidth=0.9, capsize=2, label=legend_label(method),
                        zorder=2.5 if method in REFERENCE_ROWS else 2)
            for part in (*bars.lines[1], *bars.lines[2]):  # CIs behind the means: many overlap near CKA 1
                part.set_alpha(0.45)
        ax.set_title(f"CKA to the {'original' if ref == 'original' else 'retrained'} model")
        ax.set_xticks(layers["layer_index"].tolist(), layers["layer"].tolist(),
                      rotation=30 if len(layers) > 6 else 0, ha="right" if len(layers) > 6 else "center")
        if len(layers):
            ax.set_xlim(float(layers["layer_index"].min()) - 0.5, float(layers["layer_index"].max()) + 0.5)
        ax.set_xlabel("layer (input → output)")
        ax.grid(alpha=0.3)
        ax.grid(alpha=0.12, which="minor", axis="y")
        if not ax.containers:
            no_data(ax)
    axes[0].set_ylabel("linear CKA (forget-train images)\n" + CKA_YLABEL, fontsize=9)
    fig.suptitle(f"Per-layer representation similarity — scenario {scenario} "
                 "(± 95 % CI over seeds; dotted grey: seed-noise floor)")
    legend(fig, axes, methods)
    return fig
