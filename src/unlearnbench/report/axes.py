"""Axis ranges no single method can squash, the CKA scale, and broken axes for the report figures.

**Outlier rule** (:func:`split`), applied per axis to the values as drawn (the figure's scale):

1. *core*: the non-reference values whose modified z-score |v − median| / (1.4826·MAD) is at most 3.5
   (Iglewicz & Hoaglin); with fewer than three values all are core.
2. *window*: [min, max] of the core, the references and the guides that must stay visible (e.g. the logit
   tolerance band), widened symmetrically to at least ``min_width`` (shifted to stay inside ``domain``).
3. *outlier*: a non-reference value more than ``overhang`` (⅓) × the window's width outside the window.

References are never outliers. Every other value lies inside the window extended by a third of its width
on each side, so the core, the references and the guides always keep at least 60 % of the main panel's
axis (:func:`limits` computes it from the window and the inliers ± CI only); outliers go into a strip of
their own beside it (:func:`broken`, a broken axis), where they are drawn and named on their own scale.

**CKA scale**: CKA axes show the distance from the original, 1 − CKA, on an inverted log axis whose ticks
read as CKA (0, 0.5, 0.9, 0.99, 0.999 …): 0.95–1 spans more than a decade instead of 5 % of a linear axis.
1 − CKA is clipped to [:data:`FLOOR`, :data:`CEIL`] (CKA ≥ 0.9999 is drawn at 0.9999; the debiased
estimator can dip below 0) and the axis always spans that whole domain, so no value can squash another.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

FLOOR = 1e-4
CEIL = 1.1
CKA_LIMITS = (1.3, FLOOR / 1.8)  # (bottom, top) in 1 − CKA: the axis is inverted, CKA grows upwards
CKA_TICKS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001, FLOOR)
FLOOR_NOTE = "CKA ≥ 0.9999 drawn at 0.9999"


@dataclass(frozen=True)
class Rule:
    """Outlier rule of one kind of axis, in its drawn units (see the module docstring)."""
    min_width: float
    domain: tuple[float, float] = (-math.inf, math.inf)
    k: float = 3.5
    overhang: float = 1 / 3
    pad: float = 0.04


#: forget accuracy − retrain, percentage points
GAP_RULE = Rule(min_width=20.0, domain=(-100.0, 100.0))
#: accuracies (k-NN, probe), fractions
ACC_RULE = Rule(min_width=0.2, domain=(0.0, 1.0))


@dataclass
class Split:
    window: tuple[float, float]
    inliers: list[str] = field(default_factory=list)
    low: list[str] = field(default_factory=list)
    high: list[str] = field(default_factory=list)

    @property
    def outliers(self) -> list[str]:
        return [*self.low, *self.high]

    def side(self, name: str) -> str:
        return "low" if name in self.low else "high" if name in self.high else "main"


def split(values: Mapping[str, float], references: Iterable[float] = (), guides: Iterable[float] = (),
          rule: Rule = ACC_RULE) -> Split:
    """Sort the non-reference ``values`` (name → drawn value; non-finite ones are ignored) into inliers and
    low / high outliers; ``references`` and ``guides`` are never outliers and always inside the window."""
    vals = {n: float(v) for n, v in values.items() if v is not None and math.isfinite(v)}
    arr = np.array(list(vals.values()), dtype=float)
    core = list(arr)
    if len(arr) >= 3:
        med = float(np.median(arr))
        mad = 1.4826 * float(np.median(np.abs(arr - med)))
        core = [v for v in arr if abs(v - med) <= rule.k * mad]
    anchors = [*core, *(float(v) for v in (*references, *guides) if v is not None and math.isfinite(v))]
    lo, hi = (min(anchors), max(anchors)) if anchors else (0.0, 0.0)
    if hi - lo < rule.min_width:
        mid, half = (lo + hi) / 2, rule.min_width / 2
        dlo, dhi = rule.domain
        mid = min(max(mid, dlo + half), dhi - half) if dhi - dlo >= rule.min_width else (dlo + dhi) / 2
        lo, hi = min(lo, mid - half), max(hi, mid + half)
    reach = rule.overhang * (hi - lo)
    out = Split(window=(lo, hi))
    for name, v in vals.items():
        (out.low if v < lo - reach else out.high if v > hi + reach else out.inliers).append(name)
    return out


def limits(sp: Split, spans: Iterable[tuple[float, float]], rule: Rule) -> tuple[float, float]:
    """Main-panel limits: the window ∪ the given (low, high) spans of inliers and references (value ± CI),
    each clipped to the window's allowed overhang and to the domain, padded by ``rule.pad``."""
    lo, hi = sp.window
    reach = rule.overhang * (hi - lo)
    a_lo, a_hi = max(lo - reach, rule.domain[0]), min(hi + reach, rule.domain[1])
    for a, b in spans:
        if math.isfinite(a):
            lo = min(lo, max(a, a_lo))
        if math.isfinite(b):
            hi = max(hi, min(b, a_hi))
    pad = rule.pad * (hi - lo)
    return lo - pad, hi + pad


def strip_limits(spans: Iterable[tuple[float, float]], rule: Rule) -> tuple[float, float]:
    """Limits of an outlier strip: its points ± CI, at least a quarter of ``min_width`` wide, padded."""
    pts = [x for span in spans for x in span if math.isfinite(x)]
    lo, hi = (min(pts), max(pts)) if pts else (0.0, 1.0)
    if hi - lo < rule.min_width / 4:
        mid = (lo + hi) / 2
        lo, hi = mid - rule.min_width / 8, mid + rule.min_width / 8
    pad = 0.15 * (hi - lo)
    return lo - pad, hi + pad


# --- the CKA scale ------------------------------------------------------------------------------------------
def cka_distance(cka) -> np.ndarray:
    """1 − CKA clipped to [FLOOR, CEIL]; NaN stays NaN."""
    return np.clip(1.0 - np.asarray(cka, dtype=float), FLOOR, CEIL)


def cka_errors(cka, ci) -> np.ndarray:
    """Asymmetric error bars (2 × n: below, above) in 1 − CKA of CKA ± ci, clipped like the values; 0 where
    ci is not finite."""
    cka, ci = np.atleast_1d(np.asarray(cka, dtype=float)), np.atleast_1d(np.asarray(ci, dtype=float))
    ci = np.where(np.isfinite(ci), np.abs(ci), 0.0)
    d = cka_distance(cka)
    lower, upper = cka_distance(cka + ci), cka_distance(cka - ci)  # d of CKA + ci is the smaller distance
    return np.nan_to_num(np.vstack([d - lower, upper - d]))


def cka_label(d: float, _pos=None) -> str:
    if d <= FLOOR * 1.0001:
        return "≥0.9999"
    return f"{1.0 - d:.4f}".rstrip("0").rstrip(".") or "0"


def set_cka_axis(ax, axis: str = "y") -> None:
    """Inverted log axis of 1 − CKA over the whole clipped domain, ticks labelled as CKA."""
    which = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    (ax.set_ylim if axis == "y" else ax.set_xlim)(*CKA_LIMITS)
    which.set_major_locator(FixedLocator(CKA_TICKS))
    which.set_major_formatter(FuncFormatter(cka_label))
    which.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    which.set_minor_formatter(NullFormatter())


# --- broken axes --------------------------------------------------------------------------------------------
def broken(fig, spec, *, axis: str, low: bool, high: bool, ratio: float = 0.32, label: str = "") -> dict:
    """Split one grid cell into the main axes and outlier strips ``low`` / ``high`` on the ``axis`` that is
    broken (``"y"``: strips below / above, sharing x; ``"x"``: strips left / right, sharing y). Each axes is
    labelled ``{part}:{label}`` (``ax.get_label()``), and the joints carry diagonal break marks."""
    parts = [p for p, on in (("low", low), ("main", True), ("high", high)) if on]
    if axis == "y":
        parts = parts[::-1]  # top to bottom
    sizes = [1.0 if p == "main" else ratio for p in parts]
    gs = (spec.subgridspec(len(parts), 1, height_ratios=sizes) if axis == "y"
          else spec.subgridspec(1, len(parts), width_ratios=sizes))
    main = fig.add_subplot(gs[parts.index("main")])
    share = {"sharex": main} if axis == "y" else {"sharey": main}
    out = {p: (main if p == "main" else fig.add_subplot(gs[i], **share)) for i, p in enumerate(parts)}
    for p, ax in out.items():
        ax.set_label(f"{p}:{label}")
    for first, second in zip(parts, parts[1:]):  # adjacent pair: top/left then bottom/right
        _joint(out[first], out[second], axis)
    return out


def _joint(a, b, axis: str) -> None:
    kw = dict(marker=[(-1, -0.5), (1, 0.5)], markersize=9, linestyle="none", color="0.2", mec="0.2", mew=1,
              clip_on=False, label="_break")
    if axis == "y":  # a above b
        a.spines["bottom"].set_visible(False)
        b.spines["top"].set_visible(False)
        a.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        a.plot([0, 1], [0, 0], transform=a.transAxes, **kw)
        b.plot([0, 1], [1, 1], transform=b.transAxes, **kw)
    else:  # a left of b
        a.spines["right"].set_visible(False)
        b.spines["left"].set_visible(False)
        b.tick_params(axis="y", which="both", left=False, labelleft=False)
        a.plot([1, 1], [0, 1], transform=a.transAxes, **kw)
        b.plot([0, 0], [0, 1], transform=b.transAxes, **kw)
