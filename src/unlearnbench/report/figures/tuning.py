"""(h) The tune stage's selection on logits: every searched point, the chosen one, the retrained target."""
from __future__ import annotations

from unlearnbench.report.figures.base import FigureInputs, register_figure


@register_figure("tuning", scope="scenario", order=5, title="Tuning on logits",
                 glossary="validation forget accuracy against retain accuracy of every point the tune stage "
                          "searched per method (open: grid, small: edge / refinement), the chosen point large, and "
                          "the retrained model's ★ the selection's L1 criterion measures to (dotted contours)")
def draw(inputs: FigureInputs, scenario: str):
    """Searched and chosen tuning points of one scenario (:func:`unlearnbench.report.plot_tuning.figure_tuning`)."""
    from unlearnbench.report import plotdata
    from unlearnbench.report.plot_tuning import figure_tuning

    return figure_tuning(plotdata.tuning(inputs.data), scenario, inputs.methods)
