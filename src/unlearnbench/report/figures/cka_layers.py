"""(b) CKA per layer: where in the network does the representation change?"""
from __future__ import annotations

from unlearnbench.report.figures.base import FigureInputs, register_figure


@register_figure("cka_layers", scope="scenario", order=1, title="CKA per layer",
                 glossary="linear CKA on forget-train images at every extracted layer, to the original and to the "
                          "retrained model (1 − CKA log scale, ± 95 % CI over seeds), the seed-noise floor as its "
                          "own line")
def draw(inputs: FigureInputs, scenario: str):
    """Per-layer CKA to both references for one scenario (:func:`unlearnbench.report.plot_maps.figure_cka_layers`)."""
    from unlearnbench.report import plotdata
    from unlearnbench.report.plot_maps import figure_cka_layers

    return figure_cka_layers(plotdata.cka_layers(inputs.data), scenario, inputs.methods)
