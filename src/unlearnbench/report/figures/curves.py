"""(e) Training and unlearning curves: how the references trained and the methods unlearned, per epoch."""
from __future__ import annotations

from unlearnbench.report.figures.base import FigureInputs, register_figure


@register_figure("curves", scope="scenario", order=2, title="Training and unlearning curves",
                 glossary="loss and accuracies (train, forget, retain-test, test, forget-test) per epoch: the "
                          "references' training and the methods' unlearning, from the checkpoint sidecars")
def draw(inputs: FigureInputs, scenario: str):
    """Per-epoch loss and accuracy curves of one scenario (:func:`unlearnbench.report.plots.figure_curves`)."""
    from unlearnbench.report import plotdata
    from unlearnbench.report.plots import figure_curves

    return figure_curves(plotdata.curves(inputs.data), scenario, inputs.methods)
