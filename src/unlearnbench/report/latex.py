"""Paper-ready LaTeX leaderboard of one scenario: ``report/leaderboard/{scenario}.tex``.

A ``table`` float with a ``booktabs`` tabular (``\\toprule`` / ``\\midrule`` / ``\\bottomrule``; the preamble
needs ``\\usepackage{booktabs}``), one row per method in the leaderboard's order (retrain first, then by
harmonic score) and a paper-width subset of its columns (:data:`TEX_COLUMNS`): verdict, recovery verdict,
forget accuracy (forget-test for class forgetting, forget-train for sample forgetting — the accuracy the
verdict reads), the quantities declared ``paper=True`` in :data:`unlearnbench.headlines.HEADLINE_TABLE`
(retain-test accuracy, CKA→original, probe recovery, prototype attack, few-shot relearn AUC; headers from the
same records) and the harmonic score. A column with no value in the scenario (e.g. probe recovery under sample
forgetting, the attacks when switched off) is left out. Numbers are ``$0.912 \\pm 0.013$`` (mean over seeds ±
95 % CI half-width; ``$0.912$`` when the CI is unknown), ``---`` where missing. The caption names the
scenario and the noise rule the verdicts use; the label is ``tab:unlearnbench-{scenario}``. Text is escaped
(``_`` → ``\\_`` …), so method names print as written.
"""
from __future__ import annotations

import math

from unlearnbench.headlines import HEADLINE_TABLE
from unlearnbench.report.leaderboard import QUANTITIES, SCORE, scenario_kind, separation_note
from unlearnbench.report.sources import ReportData
from unlearnbench.report.verdicts import DEFAULT_RULE, UNDETERMINED, Rule, forget_mode_of, forget_quantity

TEXT_COLUMNS = ("verdict", "recovery")
#: stands for the scenario's forget accuracy (the one its verdict reads)
FORGET = "forget"
#: leaderboard columns of the LaTeX table, in order: the verdicts, the forget accuracy, the quantities declared
#: ``paper=True`` (:data:`unlearnbench.headlines.HEADLINE_TABLE`) and, last, the score the rows are sorted by
TEX_COLUMNS = (*TEXT_COLUMNS, FORGET, *(h.name for h in HEADLINE_TABLE if h.paper and h.name != SCORE), SCORE)
MISSING_TEX = "---"
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "→": r"$\to$", "—": "---",
            "–": "--", "′": "$'$", "±": r"$\pm$", "≤": r"$\le$", "≥": r"$\ge$", "−": "$-$", "·": r"$\cdot$",
            "|": r"$|$", "<": r"$<$", ">": r"$>$", "⚠": "", "“": "``", "”": "''"}


def tex_escape(text: object) -> str:
    """``text`` as LaTeX text: special characters escaped, the report's few Unicode symbols as math."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def tex_value(mean: float, ci: float = math.nan, digits: int = 3) -> str:
    """``$0.912 \\pm 0.013$``; ``$0.912$`` without a finite CI; ``---`` when missing."""
    try:
        mean, ci = float(mean), float(ci)
    except (TypeError, ValueError):
        return MISSING_TEX
    if not math.isfinite(mean):
        return MISSING_TEX
    if math.isfinite(ci):
        return f"${mean:.{digits}f} \\pm {ci:.{digits}f}$"
    return f"${mean:.{digits}f}$"


def _headers() -> dict[str, str]:
    return {q: h for q, h in QUANTITIES if "{ds}" not in q} | {"verdict": "verdict", "recovery": "recovery"}


def latex_columns(table, kind: str) -> list[tuple[str, str]]:
    """(leaderboard column, header) of the LaTeX table for a scenario of ``kind``: :data:`TEX_COLUMNS` with
    ``forget`` resolved, columns without any value left out."""
    headers = _headers()
    out = []
    for col in TEX_COLUMNS:
        col = forget_quantity(kind) if col == FORGET else col
        if col not in table:
            continue
        if col not in TEXT_COLUMNS and not any(_finite(v) for v in table[col]):
            continue
        out.append((col, headers.get(col, col)))
    return out


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def caption(data: ReportData, scenario: str, rule: Rule = DEFAULT_RULE) -> str:
    kind = scenario_kind(data, scenario)
    what = f"{forget_mode_of(kind)} forgetting"
    head = separation_note(data, scenario, rule).split(" — ")[0]
    warn = f" {tex_escape(head.lstrip('⚠ ').capitalize())}." if head.startswith("⚠") else ""
    return (f"Unlearning leaderboard, scenario \\texttt{{{tex_escape(scenario)}}} ({tex_escape(kind)}: {what}). "
            f"Mean over seeds $\\pm$ 95\\,\\% CI half-width (seed variance and bootstrap over the evaluated "
            f"samples); {MISSING_TEX} = not available. Retrain is the reference; sorted by the harmonic score "
            f"(higher = closer to retrain on both logits and representations). Verdicts: "
            f"{tex_escape(rule.describe())}.{warn}")


def render_latex(data: ReportData, scenario: str, table, rule: Rule = DEFAULT_RULE) -> str:
    """The ``.tex`` file of one scenario from its numeric leaderboard (``leaderboard.scenario_table``)."""
    cols = latex_columns(table, scenario_kind(data, scenario))
    spec = "l" * (1 + sum(c in TEXT_COLUMNS for c, _ in cols)) + "r" * sum(c not in TEXT_COLUMNS for c, _ in cols)
    lines = [f"% unlearnbench leaderboard, scenario {scenario}: needs \\usepackage{{booktabs}}",
             "\\begin{table}[t]", "\\centering", "\\small", "\\setlength{\\tabcolsep}{4pt}",
             f"\\caption{{{caption(data, scenario, rule)}}}", f"\\label{{tab:unlearnbench-{scenario}}}",
             f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(["method", *(tex_escape(h) for _, h in cols)]) + " \\\\", "\\midrule"]
    for row in table.to_dict("records"):
        cells = [tex_escape(row["method"])]
        for col, _ in cols:
            if col in TEXT_COLUMNS:
                value = row.get(col)
                cells.append(MISSING_TEX if value in (None, "", UNDETERMINED) or value != value else tex_escape(value))
            else:
                cells.append(tex_value(row.get(col), row.get(f"{col}_ci95", math.nan)))
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


__all__ = ["TEX_COLUMNS", "caption", "latex_columns", "render_latex", "tex_escape", "tex_value"]
