"""The glossary of the report's landing page, derived from the definitions themselves — never a second list.

Sections and their sources:

* verdicts — :data:`~unlearnbench.report.verdicts.VERDICTS` with ``VERDICT_HELP``; recovery verdicts —
  :data:`~unlearnbench.report.recovery.RECOVERY_VERDICTS` with ``RECOVERY_HELP``;
* summary quantities — every record of :data:`unlearnbench.headlines.HEADLINE_TABLE`: its glossary line and
  its leaderboard header where the leaderboard shows it;
* leaderboard columns — ``leaderboard.COLUMN_HELP``; summary columns — ``aggregate.SUMMARY_COLUMN_HELP``;
* metrics and recovery attacks — the registries (:mod:`unlearnbench.describe`: name, parameters, the
  docstring's first sentence); figures — :data:`unlearnbench.report.figures.FIGURES` (title, glossary line,
  files).

A verdict or column without its line raises :class:`KeyError` here, and a quantity or figure cannot be
declared without one, so nothing new ships unexplained (tests/test_paper_output.py, tests/test_registries.py).
"""
from __future__ import annotations

from unlearnbench.aggregate import SUMMARY_COLUMN_HELP
from unlearnbench.headlines import HEADLINE_TABLE, match_quantity
from unlearnbench.report.leaderboard import COLUMN_HELP
from unlearnbench.report.recovery import RECOVERY_HELP, RECOVERY_VERDICTS
from unlearnbench.report.verdicts import VERDICT_HELP, VERDICTS

CI_SUFFIX = "_ci95"


def quantity_names() -> list[str]:
    """Every summary quantity name pattern (``{ds}`` = a downstream set), in declaration order."""
    return [h.name for h in HEADLINE_TABLE]


def quantity_help(quantity: str) -> str:
    """The glossary line of a summary quantity (a pattern's, with its downstream set filled in); KeyError
    when no record of :data:`~unlearnbench.headlines.HEADLINE_TABLE` declares it."""
    return match_quantity(quantity).help_for(quantity)


def column_help(column: str) -> str:
    """The glossary line of a leaderboard CSV column (an info column, a quantity or its ``_ci95``)."""
    if column in COLUMN_HELP:
        return COLUMN_HELP[column][1]
    if column.endswith(CI_SUFFIX):
        return f"95 % CI half-width of {column.removesuffix(CI_SUFFIX)}"
    return quantity_help(column)


def header_of(quantity: str) -> str | None:
    """The leaderboard header of a quantity (pattern), or None when the leaderboard does not show it."""
    return next((h.header for h in HEADLINE_TABLE if h.name == quantity), None)


def figure_entries() -> list[tuple[str, str]]:
    """(figure, title: glossary line + its files) of every registered report figure, in landing-page order."""
    from unlearnbench.report.figures import ordered

    return [(spec.name, f"{spec.title}: {spec.glossary}. Files: {spec.describe_facts()['files']}.")
            for spec in ordered()]


def glossary() -> dict[str, list[tuple[str, str]]]:
    """Section title → [(term, one-line explanation)], every entry derived as the module docstring says."""
    from unlearnbench.describe import attack_entries, metric_entries

    def params(entry) -> str:
        return ", ".join(f"{p.name}={p.default!r}" for p in entry.params)

    quantities = []
    for h in HEADLINE_TABLE:
        term = h.name.replace("{ds}", "<set>") + (f" (leaderboard: {h.header.replace('{ds}', '<set>')})"
                                                  if h.header else "")
        quantities.append((term, h.help.replace("{ds}", "<set>")))
    columns = [(col + (f" (shown as “{header}”)" if header else ""), text)
               for col, (header, text) in COLUMN_HELP.items()]
    columns.append((f"<quantity>{CI_SUFFIX}", "95 % CI half-width of the quantity (shown after “±”)"))
    return {
        "Verdicts": [(v, VERDICT_HELP[v]) for v in VERDICTS],
        "Recovery verdicts": [(v, RECOVERY_HELP[v]) for v in RECOVERY_VERDICTS],
        "Summary quantities": quantities,
        "Leaderboard columns": columns,
        "Summary columns (summary/summary.parquet)": list(SUMMARY_COLUMN_HELP.items()),
        "Metrics (registered)": [(e.name, f"{e.summary} Parameters: {params(e) or 'none'}.") for e in metric_entries()],
        "Recovery attacks (registered)": [(e.name, f"{e.summary} Kind: {e.facts['kind']}; forgetting: "
                                                   f"{e.facts['forgetting']}.") for e in attack_entries()],
        "Figures (registered)": figure_entries(),
    }


__all__ = ["column_help", "figure_entries", "glossary", "header_of", "quantity_help", "quantity_names"]
