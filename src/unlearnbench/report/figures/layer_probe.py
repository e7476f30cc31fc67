"""(g) Probe recovery per layer: where in the network is the forgotten class still decodable?"""
from __future__ import annotations

from unlearnbench.report.figures.base import FigureInputs, register_figure


@register_figure("layer_probe", scope="scenario", order=4, title="Probe recovery per layer",
                 glossary="linear-probe accuracy on the forgotten classes' test images at every extracted layer, "
                          "in network order, a line with error bars per model (class forgetting only)")
def draw(inputs: FigureInputs, scenario: str):
    """Per-layer linear-probe recovery of one scenario (:func:`unlearnbench.report.plot_recovery.figure_layer_probe`)."""
    from unlearnbench.report import plotdata
    from unlearnbench.report.plot_recovery import figure_layer_probe

    return figure_layer_probe(plotdata.layer_probe(inputs.data), scenario, inputs.methods)
