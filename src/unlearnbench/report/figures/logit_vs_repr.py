"""(a) The logit-vs-representation map: does a method forget in the logits only, or in the representation too?"""
from __future__ import annotations

from unlearnbench.report.figures.base import FigureInputs, register_figure


@register_figure("logit_vs_repr", scope="experiment", order=1, title="Logit vs. representation map",
                 glossary="one panel per scenario: forget accuracy − retrain (x, ± CI, the logit noise band "
                          "shaded) against CKA to the original (y, 1 − CKA log scale), with the verdicts' "
                          "superficial threshold and the seed-noise floor; retrain sits at x = 0, the original "
                          "at CKA = 1")
def draw(inputs: FigureInputs, scenario: None = None):
    """Forget-accuracy gap to retrain against pre-logit CKA to the original, one panel per scenario
    (:func:`unlearnbench.report.plot_maps.figure_logit_vs_repr`)."""
    from unlearnbench.report import plotdata
    from unlearnbench.report.plot_maps import figure_logit_vs_repr

    table = plotdata.logit_vs_repr(inputs.data, inputs.board, inputs.rule)
    return figure_logit_vs_repr(table, inputs.methods, inputs.rule)
