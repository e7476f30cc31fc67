"""The report's landing page ``report/index.html``: links to every leaderboard (each format), the combined
CSV, ``metrics.json``, every registered figure (:mod:`unlearnbench.report.figures`: its title and files, each
of :data:`layout.IMAGE_FORMATS`, plus its plot data) and the glossary (:mod:`unlearnbench.report.glossary`)
of every verdict, summary quantity, leaderboard column, metric, recovery attack and figure.

Written by the leaderboard job; links are relative to ``report/`` and built from
:mod:`~unlearnbench.report.layout`, so they name exactly the files the workflow writes. One static page,
no script, deterministic for the same input.
"""
from __future__ import annotations

import html
from pathlib import Path

from unlearnbench.atomic import write_text
from unlearnbench.report import layout
from unlearnbench.report.figures import FigureSpec, figure_files, ordered
from unlearnbench.report.sources import ReportData
from unlearnbench.report.verdicts import DEFAULT_RULE, Rule

STYLE = ("body{font-family:sans-serif;font-size:14px;margin:1.5em;max-width:70em}h2{margin-top:1.6em}"
         "table{border-collapse:collapse}th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;"
         "vertical-align:top}th{background:#f3f3f3}dt{font-weight:bold;margin-top:.5em}dd{margin-left:1.5em}"
         "code{background:#f6f6f6}")


def _rel(out: str | Path, path: Path) -> str:
    return path.relative_to(layout.report_dir(out)).as_posix()


def _link(out: str | Path, path: Path, text: str) -> str:
    return f"<a href='{html.escape(_rel(out, path), quote=True)}'>{html.escape(text)}</a>"


def links(data: ReportData, out: str | Path) -> list[Path]:
    """Every file the page links to (absolute under ``out``)."""
    paths = [layout.combined_leaderboard(out), layout.metrics_json(out)]
    paths += [layout.leaderboard_file(out, sc, fmt) for sc in data.scenarios for fmt in layout.LEADERBOARD_FORMATS]
    paths += figure_files(out, data.scenarios)
    return paths + [layout.plot_table(out, name) for name in layout.PLOT_TABLES]


def _figure_row(out, spec: FigureSpec, scenario: str | None) -> str:
    title = spec.title + (f" — {scenario}" if scenario else "")
    files = " · ".join(_link(out, layout.plot_file(out, spec.name, fmt, scenario), fmt.upper())
                       for fmt in layout.IMAGE_FORMATS)
    table = (f" · {_link(out, layout.plot_table(out, spec.name), 'data (CSV)')}"
             if spec.name in layout.PLOT_TABLES and scenario is None else "")
    return f"<tr><td>{html.escape(title)}</td><td>{files}{table}</td></tr>"


def render_index(data: ReportData, out: str | Path, rule: Rule = DEFAULT_RULE) -> str:
    from unlearnbench.report.glossary import glossary
    from unlearnbench.report.leaderboard import separation_note

    name = Path(out).resolve().name
    parts = [f"<h1>unlearnbench report — experiment {html.escape(name)}</h1>",
             "<p>Does machine unlearning remove the forgotten data from the representations, or only hide it "
             "in the logits? One leaderboard per forget scenario, figures across scenarios, and a glossary of "
             f"every term below. Verdicts: {html.escape(rule.describe())}.</p>", "<h2>Leaderboards</h2>",
             "<table><tr><th>scenario</th><th>kind</th><th>files</th><th>separation of the references</th></tr>"]
    for sc, info in data.scenarios.items():
        files = " · ".join(_link(out, layout.leaderboard_file(out, sc, fmt), fmt.upper() if fmt != "tex" else "LaTeX")
                           for fmt in layout.LEADERBOARD_FORMATS)
        note = separation_note(data, sc, rule).split(" — ")[0]
        parts.append(f"<tr><td>{_link(out, layout.leaderboard_file(out, sc, 'html'), sc)}</td>"
                     f"<td>{html.escape(str(info.get('kind') or '?'))}</td><td>{files}</td>"
                     f"<td>{html.escape(note)}</td></tr>")
    parts.append("</table>")
    parts.append(f"<p>All scenarios: {_link(out, layout.combined_leaderboard(out), 'leaderboard.csv')} (numeric) · "
                 f"{_link(out, layout.metrics_json(out), 'metrics.json')} (dvc metrics)</p>")
    parts += ["<h2>Figures</h2>", "<table><tr><th>figure</th><th>files</th></tr>"]
    parts += [_figure_row(out, spec, None) for spec in ordered("experiment")]
    parts += [_figure_row(out, spec, sc) for sc in data.scenarios for spec in ordered("scenario")]
    parts.append("</table>")
    experiment_figures = {spec.name for spec in ordered("experiment")}
    scenario_tables = [n for n in layout.PLOT_TABLES if n not in experiment_figures]
    if scenario_tables:
        parts.append("<p>Plot data of the per-scenario figures (every scenario in one file): "
                     + " · ".join(_link(out, layout.plot_table(out, n), f"{n}.csv") for n in scenario_tables) + "</p>")
    parts.append("<h2 id='glossary'>Glossary</h2>")
    for section, entries in glossary().items():
        anchor = section.split(" (")[0].lower().replace(" ", "-")
        parts.append(f"<h3 id='{anchor}'>{html.escape(section)}</h3><dl>")
        parts += [f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in entries]
        parts.append("</dl>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>unlearnbench report — {html.escape(name)}"
            f"</title><style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>\n")


def write_index(data: ReportData, out: str | Path, rule: Rule = DEFAULT_RULE) -> Path:
    """Write ``{out}/report/index.html``; returns its path."""
    path = layout.report_index(out)
    write_text(path, render_index(data, out, rule))
    return path


__all__ = ["links", "render_index", "write_index"]
