"""Report figures: a self-registering set, one module per figure (:mod:`.base` for the contract).

Importing this package registers every figure module in it. The imports are by name, so the plots job's code
hash adds the figure modules explicitly (:func:`figure_modules`, as for attacks and scenario kinds); the
leaderboard job, which lists the figures on the landing page, reads their declarations through a rule param
instead (:func:`declarations`), so editing how a figure is drawn reruns the plots job only.

:func:`write_figures` draws every registered figure (the plots job, :func:`unlearnbench.report.build_report`);
the drawing inputs (:class:`.base.FigureInputs`) are imported inside it, so the landing page's import of this
package does not reach the drawing code.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Iterable

from unlearnbench.report import layout
from unlearnbench.report.figures.base import FIGURES, SCOPES, FigureSpec, register_figure  # noqa: F401

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod != "base":
        importlib.import_module(f"{__name__}.{_mod}")


def ordered(scope: str | None = None) -> list[FigureSpec]:
    """The figures (of ``scope``, or all: experiment figures first) in landing-page order."""
    specs = [FIGURES[n] for n in FIGURES.names()]
    specs = [s for s in specs if scope is None or s.scope == scope]
    return sorted(specs, key=lambda s: (SCOPES.index(s.scope), s.order, s.name))


def figure_modules() -> list[str]:
    """Modules of every registered figure, for the plots job's code hash (the import graph does not see the
    package's imports by name)."""
    return sorted({FIGURES[name].draw.__module__ for name in FIGURES})


def declarations() -> dict[str, dict]:
    """name → declaration (title, glossary line, scope, order) of every figure: the leaderboard rule's param."""
    return {spec.name: spec.declaration() for spec in ordered()}


def figure_files(out: str | Path, scenarios: Iterable[str], formats: Iterable[str] = layout.IMAGE_FORMATS) -> list[Path]:
    """Every figure file of the report (each figure's, in landing-page order)."""
    scenarios = list(scenarios)
    return [p for spec in ordered() for p in spec.files(out, scenarios, formats)]


def write_figures(data, out: str | Path, rule=None, formats: Iterable[str] = layout.IMAGE_FORMATS) -> list[Path]:
    """Draw every registered figure of ``data`` under ``{out}/report/plots`` (each format); returns the files."""
    from unlearnbench.report.figures.base import FigureInputs, write_figure

    inputs = FigureInputs(data, rule)
    return [p for spec in ordered() for p in write_figure(spec, inputs, out, formats)]


__all__ = ["FIGURES", "SCOPES", "FigureSpec", "declarations", "figure_files", "figure_modules",
           "ordered", "register_figure", "write_figures"]
