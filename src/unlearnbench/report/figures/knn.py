"""(c) Downstream k-NN transfer: did unlearning damage the features beyond the forgotten classes?"""
from __future__ import annotations

from unlearnbench.report.figures.base import FigureInputs, register_figure


@register_figure("knn", scope="experiment", order=2, title="Downstream k-NN transfer",
                 glossary="k-NN accuracy (k = 5, cosine, pre-logit features) on each downstream set: one panel "
                          "per set, a dot ± 95 % CI per method and scenario, the references as lines; below both "
                          "lines = representation damaged")
def draw(inputs: FigureInputs, scenario: None = None):
    """Downstream k-NN accuracy per downstream set, one dot group per scenario
    (:func:`unlearnbench.report.plots.figure_knn`)."""
    from unlearnbench.report import plotdata
    from unlearnbench.report.plots import figure_knn

    return figure_knn(plotdata.knn(inputs.data, inputs.board), inputs.methods)
