"""What every report figure shares: the Agg figure factory, fixed per-method styles, the panel grid and the
figure-level legend (matplotlib, no pyplot state).

Colours and markers are fixed per method across all figures; the original model is a grey ✕ / dashed line,
the seed-noise floor (original′: the original's recipe from another seed) a light-grey ✚ / dotted line, the
retrained model a black ★ / solid line.
"""
from __future__ import annotations

import math
from typing import Iterable

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110
REF_STYLE = {"original": {"color": "0.45", "marker": "X", "linestyle": "--", "markersize": 9},
             "original_prime": {"color": "0.6", "marker": "P", "linestyle": ":", "markersize": 9},
             "retrain": {"color": "black", "marker": "*", "linestyle": "-", "markersize": 12}}
#: legend / label wording of the reference rows
REF_LABEL = {"original": "original (reference)", "original_prime": "original′ (seed-noise floor)",
             "retrain": "retrain (reference)"}
#: short names written next to the references' markers
REF_SHORT = {"original": "original", "original_prime": "original′ (floor)", "retrain": "retrain"}
MARKERS = "osD^vP<>ph"
LABEL_SIZE = 8


def palette(methods: Iterable[str]) -> dict[str, dict]:
    """Style per method: references fixed, other methods tab10 (tab20 beyond 9) colours, greys skipped."""
    others = [m for m in dict.fromkeys(methods) if m not in REF_STYLE]
    cmap, greys = ("tab10", {7}) if len(others) <= 9 else ("tab20", {14, 15})
    colors = [c for i, c in enumerate(matplotlib.colormaps[cmap].colors) if i not in greys]
    styles = {m: {"color": colors[i % len(colors)], "marker": MARKERS[i % len(MARKERS)], "linestyle": "-",
                  "markersize": 7} for i, m in enumerate(others)}
    return {**REF_STYLE, **styles}


def style_for(styles: dict, method: str) -> dict:
    """A method's style; one not in the palette (not in ``methods``) gets a neutral one instead of a KeyError."""
    return styles.get(method) or {"color": "tab:gray", "marker": "o", "linestyle": "-", "markersize": 7}


def legend_label(method: str) -> str:
    return REF_LABEL.get(method, method)


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained", dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def grid(fig: Figure, n: int, ncols: int = 3) -> list:
    """SubplotSpecs of ``n`` panels, ``ncols`` per row (each a cell a figure may split further)."""
    ncols = max(1, min(ncols, n))
    gs = fig.add_gridspec(max(1, math.ceil(n / ncols)), ncols)
    return [gs[i // ncols, i % ncols] for i in range(n)]


def panels(fig: Figure, n: int, ncols: int = 3, **kw) -> list:
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def finite(x) -> bool:
    try:
        return x is not None and not isinstance(x, bool) and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fnum(x, default: float = math.nan) -> float:
    return float(x) if finite(x) else default


def legend(fig: Figure, axes: list, methods: list[str], label=legend_label) -> None:
    """One legend for all panels, right of them: guides first, then methods in ``methods`` order (``label``:
    a method's legend text, as the artists were labelled)."""
    handles = {}
    for ax in axes:
        for h, text in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(text, h)
    rank = {label(m): i for i, m in enumerate(methods)}
    labels = sorted(handles, key=lambda lab: rank.get(lab, -1))
    if labels:
        rows = max(4, int(fig.get_figheight() * 72 / 18))  # legend entries of ~18 pt fit into the height
        fig.legend([handles[lab] for lab in labels], labels, loc="outside right center", frameon=False,
                   ncols=math.ceil(len(labels) / rows))


def no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
