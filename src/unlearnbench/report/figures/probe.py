"""(d) Linear-probe recovery: are the forgotten classes still linearly decodable from the features?"""
from __future__ import annotations

from unlearnbench.report.figures.base import FigureInputs, register_figure


@register_figure("probe", scope="experiment", order=3, title="Linear-probe recovery",
                 glossary="accuracy of a fresh linear probe on frozen pre-logit features, scored on the forgotten "
                          "classes' test images: a dot ± 95 % CI per method and scenario, the references as lines "
                          "(lower = less recoverable)")
def draw(inputs: FigureInputs, scenario: None = None):
    """Linear-probe recovery of the forgotten classes, one dot group per scenario
    (:func:`unlearnbench.report.plots.figure_probe`)."""
    from unlearnbench.report import plotdata
    from unlearnbench.report.plots import figure_probe

    return figure_probe(plotdata.probe(inputs.board), inputs.methods)
