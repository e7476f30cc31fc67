"""Deterministic, non-overlapping name labels next to scatter markers (:func:`place_labels`).

Once every other artist of the figure is in place (limits fixed, legend drawn), the figure's layout is
run once without rendering; the labels are then placed in display pixels, one figure for all its axes:

* points are taken top to bottom (then left to right, then by name);
* each label tries the slots right, then left, of its marker, at its height and then shifted by one, two,
  … label heights (nearest first, upwards before downwards), and takes the first slot that stays inside its
  axes and touches no placed label and no other marker; failing that, the first inside its axes touching
  no label; failing that, the first anywhere in the figure touching no label (else the natural slot);
* a label shifted off its marker's height gets a thin leader line to it.

Labels and leader lines are excluded from the layout, so drawing the figure again does not move the axes
and the placement stays valid in every format (positions are stored as axes fractions). Each label is a
plain :class:`~matplotlib.text.Text` labelled :data:`LABEL_TAG` (tests check their extents never intersect).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from matplotlib.lines import Line2D
from matplotlib.patheffects import withStroke
from matplotlib.transforms import Bbox

from unlearnbench.report.figbase import LABEL_SIZE

GAP_PX = 2.0  # free pixels kept between labels
#: ``Text.get_label()`` of every point label (an artist label, not an SVG id: ids must stay unique)
LABEL_TAG = "_point_label"


@dataclass
class Item:
    ax: object
    x: float  # data coordinates
    y: float
    text: str
    color: object = "0.2"


def _slots(n: int) -> list[int]:
    return [0, *[s * k for k in range(1, n + 1) for s in (1, -1)]]


def place_labels(fig, items: list[Item], marker_px: float = 6.0) -> list:
    """Add one label per item (see module docstring); returns the label Text artists in placement order."""
    if not items:
        return []
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    pts = []
    for it in items:
        px, py = it.ax.transData.transform((it.x, it.y))
        if math.isfinite(px) and math.isfinite(py):
            pts.append((it, float(px), float(py)))
    pts.sort(key=lambda p: (-round(p[2], 3), round(p[1], 3), p[0].text))
    markers = [Bbox.from_extents(px - marker_px, py - marker_px, px + marker_px, py + marker_px)
               for _, px, py in pts]
    placed: list[Bbox] = []
    texts = []
    for i, (it, px, py) in enumerate(pts):
        ax_box = it.ax.get_window_extent(renderer)
        text = it.ax.text(0, 0, it.text, transform=it.ax.transAxes, ha="left", va="bottom", fontsize=LABEL_SIZE,
                          color=it.color, label=LABEL_TAG, zorder=5)
        text.set_path_effects([withStroke(linewidth=2.5, foreground="white", alpha=0.85)])
        text.set_in_layout(False)
        ext = text.get_window_extent(renderer)
        off_x, off_y = ext.x0 - ax_box.x0, ext.y0 - ax_box.y0  # the text box's corner relative to its anchor
        w, h = ext.width, ext.height
        step = h + GAP_PX
        others = markers[:i] + markers[i + 1:]

        def box(side: int, k: int) -> Bbox:
            x0 = px + marker_px + 2 if side == 0 else px - marker_px - 2 - w
            y0 = py - h / 2 + k * step
            return Bbox.from_bounds(x0, y0, w, h)

        def free(b: Bbox, bounds: Bbox | None, avoid_markers: bool) -> bool:
            if bounds is not None and not (b.x0 >= bounds.x0 + 1 and b.x1 <= bounds.x1 - 1
                                           and b.y0 >= bounds.y0 + 1 and b.y1 <= bounds.y1 - 1):
                return False
            grown = Bbox.from_extents(b.x0 - GAP_PX, b.y0 - GAP_PX, b.x1 + GAP_PX, b.y1 + GAP_PX)
            if any(grown.overlaps(p) for p in placed):
                return False
            return not (avoid_markers and any(b.overlaps(m) for m in others))

        near = _slots(int(ax_box.height // step) + 1)
        far = _slots(int(fig_box.height // step) + 1)
        tries = ([(s, k, ax_box, True) for k in near for s in (0, 1)]
                 + [(s, k, ax_box, False) for k in near for s in (0, 1)]
                 + [(s, k, fig_box, False) for k in far for s in (0, 1)])
        side, k = next(((s, k) for s, k, bounds, avoid in tries if free(box(s, k), bounds, avoid)), (0, 0))
        b = box(side, k)
        placed.append(b)
        fx = (b.x0 - off_x - ax_box.x0) / ax_box.width
        fy = (b.y0 - off_y - ax_box.y0) / ax_box.height
        text.set_position((fx, fy))
        texts.append(text)
        if k != 0:
            _leader(it, px, py, b, ax_box, side)
    return texts


def _leader(it: Item, px: float, py: float, b: Bbox, ax_box: Bbox, side: int) -> None:
    """Thin line from the marker to the near edge of its shifted label (axes fractions, outside the layout)."""
    ex = b.x0 - 1 if side == 0 else b.x1 + 1
    ey = min(max(py, b.y0), b.y1)
    frac = [((x - ax_box.x0) / ax_box.width, (y - ax_box.y0) / ax_box.height) for x, y in ((px, py), (ex, ey))]
    line = Line2D([frac[0][0], frac[1][0]], [frac[0][1], frac[1][1]], transform=it.ax.transAxes, color=it.color,
                  linewidth=0.6, alpha=0.7, clip_on=False, label="_leader", zorder=2.5)
    line.set_in_layout(False)
    it.ax.add_line(line)
