"""Legible figures: an outlier never moves the other methods' axes, labels never overlap, CKA near 1 is
resolved, figures are byte-for-byte deterministic, and the plot tables carry the error bars they draw.

The figures are fed constructed plot tables (the schema of :mod:`unlearnbench.report.plotdata`): six ordinary
methods, the three reference rows, and optionally ``wrecker``, a deliberately damaging instance."""
from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from unlearnbench.report import axes as ax_
from unlearnbench.report import plotdata, plots
from unlearnbench.report.figbase import REF_SHORT
from unlearnbench.report.labels import LABEL_TAG

NAN = math.nan
# method: (forget gap in pp, CKA to original, k-NN far, k-NN near, probe recovery); sample forgetting in "s1",
# class forgetting in "c1" (there the original's gap is +80 pp)
ROWS = {"retrain": (0.0, 0.86, 0.70, 0.60, 0.93), "original": (4.0, 1.0, 0.72, 0.62, 0.99),
        "original_prime": (5.0, 0.96, 0.71, 0.61, 0.985),
        "alpha": (2.0, 0.97, 0.69, 0.61, 0.95), "beta": (-3.0, 0.90, 0.70, 0.58, 0.94),
        "gamma": (5.0, 0.995, 0.71, 0.62, 0.97), "delta": (4.0, 0.99995, 0.72, 0.62, 0.99),
        "epsilon": (-6.0, 0.80, 0.67, 0.57, 0.92), "zeta": (8.0, 0.93, 0.70, 0.59, 0.96)}
WRECKER = (-50.0, 0.05, 0.10, 0.08, 0.02)
METHODS = ["original", "original_prime", "retrain", "alpha", "beta", "delta", "epsilon", "gamma", "zeta", "wrecker"]


def rows(with_outlier: bool) -> dict:
    return {**ROWS, **({"wrecker": WRECKER} if with_outlier else {})}


def lvr_table(with_outlier=False, scenarios=("s1", "c1")) -> pd.DataFrame:
    out = []
    for sc in scenarios:
        for m, (gap, cka, *_) in rows(with_outlier).items():
            gap = gap + 76.0 if sc == "c1" and m in ("original", "original_prime") else gap
            out.append({"scenario": sc, "method": m, "role": plotdata.role(m), "forget_quantity":
                        "forget_train_acc" if sc == "s1" else "forget_test_acc", "forget_acc": 0.5 + gap / 100,
                        "retrain_forget_acc": 0.5, "forget_gap": gap / 100, "forget_gap_ci95": 0.02,
                        "cka_to_original": cka, "cka_to_original_ci95": 0.0 if m == "original" else 0.01,
                        "forget_tol": 0.05, "cka_threshold": 0.93, "verdict": ""})
    return pd.DataFrame(out)


def knn_table(with_outlier=False) -> pd.DataFrame:
    return pd.DataFrame([{"scenario": sc, "method": m, "role": plotdata.role(m), "downstream": ds,
                          "knn_acc": v[2 + i], "ci95": 0.01} for sc in ("s1", "c1")
                         for m, v in rows(with_outlier).items() for i, ds in enumerate(("far", "near"))])


def probe_table(with_outlier=False) -> pd.DataFrame:
    return pd.DataFrame([{"scenario": sc, "method": m, "role": plotdata.role(m), "probe_acc": v[4], "ci95": 0.02}
                         for sc in ("s1", "c1") for m, v in rows(with_outlier).items()])


def layers_table(with_outlier=False) -> pd.DataFrame:
    out = []
    for m, (_, cka, *_) in rows(with_outlier).items():
        for ref in ("original", "retrain"):
            top = cka if ref == "original" else (1.0 if m == "retrain" else 0.9 * cka)
            for i, layer in enumerate(["stage0", "stage1", "pre_logits"]):
                value = 1 - (1 - top) * (i + 1) / 3
                out.append({"scenario": "s1", "method": m, "role": plotdata.role(m), "reference": ref,
                            "layer": layer, "layer_index": i, "cka": value, "ci95": 0.004, "n_seeds": 3})
    return pd.DataFrame(out)


def by_label(fig, label):
    found = [ax for ax in fig.axes if ax.get_label() == label]
    assert len(found) == 1, [ax.get_label() for ax in fig.axes]
    return found[0]


def labels_of(fig):
    return [t for ax in fig.axes for t in ax.texts if t.get_label() == LABEL_TAG]


def assert_same_limits(before, after, rel=0.01):
    for (lo0, hi0), (lo1, hi1) in zip(before, after):
        width = abs(hi0 - lo0)
        assert abs(lo1 - lo0) <= rel * width and abs(hi1 - hi0) <= rel * width, (before, after)


def drawn_methods(ax):
    return {c.get_label() for c in ax.containers}


# --- outliers -----------------------------------------------------------------------------------------------
def test_outlier_does_not_change_logit_vs_repr_axes():
    figs = [plots.figure_logit_vs_repr(lvr_table(w), METHODS) for w in (False, True)]
    for sc in ("s1", "c1"):
        mains = [by_label(f, f"main:{sc}") for f in figs]
        assert_same_limits([mains[0].get_xlim(), mains[0].get_ylim()], [mains[1].get_xlim(), mains[1].get_ylim()])
        assert "wrecker" not in drawn_methods(mains[1]) and "alpha" in drawn_methods(mains[1])
    strip = by_label(figs[1], "low:s1")  # −50 pp: far left of the others, drawn and named in the left strip
    assert drawn_methods(strip) == {"wrecker"}
    assert any(t.get_text() == "wrecker" for t in strip.texts)
    lo, hi = strip.get_xlim()
    assert lo < -50 < hi
    assert not [ax for ax in figs[0].axes if ax.get_label().startswith(("low:", "high:"))]


@pytest.mark.parametrize("name", ["knn", "probe"])
def test_outlier_does_not_change_accuracy_axes(name):
    make, panel = {"knn": (lambda w: plots.figure_knn(knn_table(w), METHODS), "far"),
                   "probe": (lambda w: plots.figure_probe(probe_table(w), METHODS), "probe")}[name]
    figs = [make(w) for w in (False, True)]
    mains = [by_label(f, f"main:{panel}") for f in figs]
    assert_same_limits([mains[0].get_ylim()], [mains[1].get_ylim()])
    lo, hi = mains[1].get_ylim()
    assert hi - lo < 0.5  # zoomed on the methods, not 0..1
    strip = by_label(figs[1], f"low:{panel}")
    assert drawn_methods(strip) == {"wrecker"} and "wrecker" not in drawn_methods(mains[1])
    assert [t.get_text() for t in strip.texts if t.get_label() == LABEL_TAG] == ["wrecker", "wrecker"]


def test_outlier_does_not_change_cka_layer_axes():
    figs = [plots.figure_cka_layers(layers_table(w), "s1", METHODS) for w in (False, True)]
    for i in range(2):
        assert_same_limits([figs[0].axes[i].get_ylim(), figs[0].axes[i].get_xlim()],
                           [figs[1].axes[i].get_ylim(), figs[1].axes[i].get_xlim()])
    assert "wrecker" in drawn_methods(figs[1].axes[0])  # on the same (full-domain) CKA scale
    floor = [c for c in figs[1].axes[0].containers if c.get_label().startswith("original′")]
    assert len(floor) == 1 and floor[0].lines[0].get_linestyle() == ":"


def test_outlier_rule():
    refs = [0.0, 4.0, 5.0]
    core = {"a": 2.0, "b": -3.0, "c": 5.0, "d": 4.0, "e": -6.0, "f": 8.0}
    sp = ax_.split({**core, "far": -50.0}, references=refs, guides=(-5, 5), rule=ax_.GAP_RULE)
    assert sp.low == ["far"] and not sp.high and sorted(sp.inliers) == sorted(core)
    # within a third of the window beyond it: an inlier (extends the axis by at most that much)
    assert not ax_.split({**core, "near": -14.0}, references=refs, rule=ax_.GAP_RULE).outliers
    # references are never outliers, however far; they widen the window instead
    assert not ax_.split(core, references=[*refs, 90.0], rule=ax_.GAP_RULE).outliers
    assert ax_.split({**core, "x": 60.0}, references=[*refs, 90.0], rule=ax_.GAP_RULE).outliers == []
    # two values: nothing to compare with, never outliers; identical values: a minimum window, no division by 0
    assert not ax_.split({"a": 0.1, "b": 0.9}, rule=ax_.ACC_RULE).outliers
    same = ax_.split({k: 0.5 for k in "abcd"} | {"e": 0.52}, rule=ax_.ACC_RULE)
    assert not same.outliers and same.window == pytest.approx((0.4, 0.6))
    lo, hi = ax_.limits(sp, [(v - 1, v + 1) for v in [*core.values(), *refs]], ax_.GAP_RULE)
    assert lo > -20 and hi < 20


# --- scale and labels ---------------------------------------------------------------------------------------
def test_cka_scale_resolves_values_near_one():
    fig = plots.figure_logit_vs_repr(lvr_table(), METHODS)
    ax = by_label(fig, "main:s1")
    fig.canvas.draw()
    y = {c: ax.transData.transform((0, ax_.cka_distance(c)))[1] for c in (0.9, 0.95, 0.99, 0.999, 1.0)}
    height = ax.get_window_extent().height
    assert y[0.9] < y[0.95] < y[0.99] < y[0.999] < y[1.0]  # CKA grows upwards
    assert y[1.0] - y[0.95] > 0.4 * height and y[0.99] - y[0.95] > 0.08 * height
    assert [t.get_text() for t in ax.get_yticklabels()][-3:] == ["0.995", "0.999", "≥0.9999"]
    err = ax_.cka_errors([0.99, 1.0], [0.005, 0.01])  # asymmetric in log space, clipped at the floor
    assert err[0, 0] == pytest.approx(0.005) and err[1, 0] == pytest.approx(0.005)
    assert err[0, 1] == 0 and err[1, 1] == pytest.approx(0.01 - ax_.FLOOR)


def test_labels_never_overlap_and_name_every_point():
    crowd = lvr_table(True)
    extra = crowd[crowd["method"].isin(["alpha", "gamma", "delta"])].assign(
        method=lambda f: f["method"] + "_twin")  # coincide exactly with three others
    table = pd.concat([crowd, extra], ignore_index=True)
    methods = METHODS + sorted(extra["method"].unique())
    fig = plots.figure_logit_vs_repr(table, methods)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = labels_of(fig)
    names = [t.get_text() for t in texts]
    assert sorted(names) == sorted(REF_SHORT.get(m, m) for m in table["method"])
    boxes = [t.get_window_extent(renderer) for t in texts]
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        assert not a.overlaps(b), (names[i], names[j])
    assert all(fig.bbox.contains(b.x0, b.y0) and fig.bbox.contains(b.x1, b.y1) for b in boxes)


# --- determinism and data -----------------------------------------------------------------------------------
def test_figures_are_deterministic(tmp_path):
    def svg(make):
        paths = plots.save_figure(make(), tmp_path / "fig", formats=("svg",))
        return paths[0].read_bytes()

    for make in (lambda: plots.figure_logit_vs_repr(lvr_table(True), METHODS),
                 lambda: plots.figure_knn(knn_table(True), METHODS)):
        assert svg(make) == svg(make)


def test_plot_tables_carry_error_bars(tmp_path):
    from test_report import report_data

    data, summary = report_data(tmp_path, seeds=(0, 1, 2))
    board = plotdata.board(data)
    lvr = plotdata.logit_vs_repr(data, board)
    good = lvr[(lvr["scenario"] == "cls") & (lvr["method"] == "good")].iloc[0]
    ci = summary.set_index(["scenario", "method", "quantity"])["ci95"]
    assert good["forget_gap_ci95"] == ci[("cls", "good", "forget_test_acc")]
    assert good["cka_to_original_ci95"] == ci[("cls", "good", "cka_to_original")]
    assert math.isfinite(good["forget_tol"]) and math.isfinite(good["cka_threshold"])
    smp = lvr[(lvr["scenario"] == "smp") & (lvr["method"] == "good")].iloc[0]
    assert smp["forget_gap_ci95"] == ci[("smp", "good", "forget_train_acc")]
    layers = plotdata.cka_layers(data)
    row = layers[(layers["method"] == "good") & (layers["layer"] == "stage0")
                 & (layers["reference"] == "original")].iloc[0]
    raw = data.layer_cka[(data.layer_cka["method"] == "good") & (data.layer_cka["layer"] == "stage0")
                         & (data.layer_cka["reference"] == "original") & (data.layer_cka["scenario"] == "cls")]
    from scipy import stats
    assert row["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * raw["value"].std() / np.sqrt(3))
    buf = io.StringIO()
    lvr.to_csv(buf, index=False)  # the export writes these tables as CSV
    assert "forget_gap_ci95" in buf.getvalue().splitlines()[0]
