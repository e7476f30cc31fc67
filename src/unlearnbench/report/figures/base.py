"""The contract of a report figure: one module, one decorated draw function (:func:`register_figure`).

A :class:`FigureSpec` declares a figure once — its name, title, glossary line, scope (``experiment``: one
file set for the whole experiment; ``scenario``: one per scenario, named ``{name}_{scenario}``), its
position on the landing page and its draw function — and everything else is derived from it: the files it
writes (:meth:`FigureSpec.files`, each of :data:`layout.IMAGE_FORMATS`), the plots job's outputs and code
hash (``rules/report.smk``), the landing page's figure list and glossary (:mod:`unlearnbench.report.index`,
:mod:`~unlearnbench.report.glossary`) and the generic tests (tests/test_registries.py).

A draw function takes the :class:`FigureInputs` (what every figure draws from, computed once per report) and
the scenario (None for an experiment figure) and returns a matplotlib ``Figure``. It imports its drawing code
(matplotlib, pandas) inside its body, so listing the figures — at DAG parse time, in the leaderboard job
that writes the landing page — stays light. For the same reason the spec names neither the inputs nor the
drawing (:func:`write_figure` draws it): the leaderboard job's code hash (:mod:`unlearnbench.codegraph`)
reaches the declarations, not the drawing code.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from unlearnbench.registry import Registry
from unlearnbench.report import layout

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from unlearnbench.report.sources import ReportData
    from unlearnbench.report.verdicts import Rule

__all__ = ["FIGURES", "SCOPES", "FigureInputs", "FigureSpec", "register_figure", "write_figure"]

#: ``experiment``: one figure for the whole experiment (a panel or dot group per scenario); ``scenario``: one
#: figure per scenario
SCOPES = ("experiment", "scenario")


class FigureInputs:
    """What every figure draws from: the report data, the verdict rule (default: the verdicts' default), the
    methods in their fixed style order and the stacked numeric leaderboard (computed on first use, once).
    (A plain class, not a dataclass: a decorated definition is always in its module's code-hash closure, and
    this one's lazy imports are the drawing side's.)"""

    def __init__(self, data: ReportData, rule: Rule | None = None) -> None:
        if rule is None:
            from unlearnbench.report.verdicts import DEFAULT_RULE

            rule = DEFAULT_RULE
        self.data, self.rule = data, rule

    @property
    def methods(self) -> list[str]:
        return self.data.methods()

    @functools.cached_property
    def board(self):
        from unlearnbench.report import plotdata

        return plotdata.board(self.data, self.rule)


@dataclass(frozen=True)
class FigureSpec:
    """One registered figure (see the module docstring); ``order``: its position among the figures of its
    scope on the landing page (then by name)."""

    name: str
    title: str
    glossary: str
    scope: str
    # (a string: the import graph then does not tie the spec, read by the leaderboard job, to the drawing inputs)
    draw: "Callable[[FigureInputs, str | None], Figure]" = field(repr=False)
    order: int = 100

    @property
    def __wrapped__(self) -> Callable:
        """The draw function: the registry describes a figure by its docstring and module."""
        return self.draw

    def keys(self, scenarios: Iterable[str]) -> list[str | None]:
        """The scenario of each figure it draws (None: the experiment's one figure)."""
        return [None] if self.scope == "experiment" else list(scenarios)

    def files(self, out: str | Path, scenarios: Iterable[str],
              formats: Iterable[str] = layout.IMAGE_FORMATS) -> list[Path]:
        """Every file it writes under ``out``: per figure, one per format."""
        return [layout.plot_file(out, self.name, fmt, sc) for sc in self.keys(scenarios) for fmt in formats]

    def declaration(self) -> dict[str, Any]:
        """What other jobs read of it (the landing page): a rule param, so changing it reruns them."""
        return {"title": self.title, "glossary": self.glossary, "scope": self.scope, "order": self.order}

    def describe_facts(self) -> dict[str, str]:
        stem = self.name if self.scope == "experiment" else f"{self.name}_<scenario>"
        return {"scope": self.scope, "files": f"plots/{stem}.{{{','.join(layout.IMAGE_FORMATS)}}}",
                "title": self.title}


def write_figure(spec: FigureSpec, inputs: FigureInputs, out: str | Path,
                 formats: Iterable[str] = layout.IMAGE_FORMATS) -> list[Path]:
    """Draw and save every figure of ``spec`` (:func:`unlearnbench.report.plots.save_figure`: atomic, byte for
    byte reproducible); returns the files written — exactly ``spec.files(out, scenarios)``."""
    from unlearnbench.report.plots import save_figure

    formats = tuple(formats)
    written = []
    for scenario in spec.keys(inputs.data.scenarios):
        fig = spec.draw(inputs, scenario)
        written += save_figure(fig, layout.plot_file(out, spec.name, "png", scenario), formats)
    return written


def _check(name: str, spec: Any) -> None:
    if not isinstance(spec, FigureSpec):
        raise TypeError(f"report figure {name!r}: register it with @register_figure, got {spec!r}")
    if spec.scope not in SCOPES:
        raise ValueError(f"report figure {name!r}: scope must be one of {SCOPES}, got {spec.scope!r}")
    if not spec.title.strip() or not spec.glossary.strip():
        raise ValueError(f"report figure {name!r} needs a title and a glossary line")


#: every report figure, by name (:mod:`unlearnbench.report.figures` imports the figure modules)
FIGURES = Registry("report figure", check=_check)


def register_figure(name: str, *, title: str, glossary: str, scope: str, order: int = 100):
    """Decorator of a draw function ``(inputs, scenario) -> Figure``: register it as figure ``name``."""

    def deco(draw: Callable) -> Callable:
        FIGURES.add(name, FigureSpec(name, title, glossary, scope, draw, order))
        return draw

    return deco
