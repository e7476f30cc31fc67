"""(f) Relearning attacks: can the forgotten come back under a little fine-tuning?"""
from __future__ import annotations

from unlearnbench.report.figures.base import FigureInputs, register_figure


@register_figure("relearn", scope="scenario", order=3, title="Relearning attacks",
                 glossary="accuracy on the forgotten data against fine-tuning steps of each relearning attack "
                          "(few-shot, retain-only), a line ± 95 % band per model; a curve well above the retrained "
                          "control's only hid what it was asked to forget")
def draw(inputs: FigureInputs, scenario: str):
    """Relearning curves of one scenario, a panel per attack (:func:`unlearnbench.report.plot_recovery.figure_relearn`)."""
    from unlearnbench.report import plotdata
    from unlearnbench.report.plot_recovery import figure_relearn

    return figure_relearn(plotdata.relearn_curves(inputs.data), scenario, inputs.methods)
