"""The glossary of the report's landing page, derived from the definitions themselves — never a second list.

Sections and their sources:

* verdicts — :data:`~unlearnbench.report.verdicts.VERDICTS` with ``VERDICT_HELP``; recovery verdicts —
  :data:`~unlearnbench.report.recovery.RECOVERY_VERDICTS` with ``RECOVERY_HELP``;
* summary quantities — every :data:`unlearnbench.aggregate.HEADLINES` name and
  :data:`~unlearnbench.aggregate.DERIVED` with ``QUANTITY_HELP`` (and the leaderboard header where the
  leaderboard shows it: ``leaderboard.QUANTITIES``);
* leaderboard columns — ``leaderboard.COLUMN_HELP``; summary columns — ``aggregate.SUMMARY_COLUMN_HELP``;
* metrics and recovery attacks — the registries (:mod:`unlearnbench.describe`: name, parameters, the
  docstring's first sentence).

A definition without its line raises :class:`KeyError` here, so a new quantity, verdict or column that
nobody explained fails the report tests (tests/test_paper_output.py) rather than shipping unexplained.
"""
from __future__ import annotations

import re

from unlearnbench.aggregate import DERIVED, HEADLINES, QUANTITY_HELP, SUMMARY_COLUMN_HELP
from unlearnbench.report.leaderboard import COLUMN_HELP, QUANTITIES
from unlearnbench.report.recovery import RECOVERY_HELP, RECOVERY_VERDICTS
from unlearnbench.report.verdicts import VERDICT_HELP, VERDICTS

CI_SUFFIX = "_ci95"


def quantity_names() -> list[str]:
    """Every summary quantity name pattern (``{ds}`` = a downstream set), in definition order."""
    return [*(name for name, _, _ in HEADLINES), *DERIVED]


def _pattern(name: str) -> re.Pattern:
    return re.compile("^" + re.escape(name).replace(re.escape("{ds}"), "(?P<ds>.+)") + "$")


def quantity_help(quantity: str) -> str:
    """The glossary line of a summary quantity (a pattern's, with its downstream set filled in)."""
    for name in quantity_names():
        match = _pattern(name).match(quantity)
        if match:
            text = QUANTITY_HELP[name]  # KeyError: a quantity without its line
            return text.format(ds=match.group("ds")) if "ds" in match.groupdict() else text
    raise KeyError(f"summary quantity {quantity!r} is not defined (aggregate.HEADLINES / DERIVED)")


def column_help(column: str) -> str:
    """The glossary line of a leaderboard CSV column (an info column, a quantity or its ``_ci95``)."""
    if column in COLUMN_HELP:
        return COLUMN_HELP[column][1]
    if column.endswith(CI_SUFFIX):
        return f"95 % CI half-width of {column.removesuffix(CI_SUFFIX)}"
    return quantity_help(column)


def header_of(quantity: str) -> str | None:
    """The leaderboard header of a quantity (pattern), or None when the leaderboard does not show it."""
    return dict(QUANTITIES).get(quantity)


def glossary() -> dict[str, list[tuple[str, str]]]:
    """Section title → [(term, one-line explanation)], every entry derived as the module docstring says."""
    from unlearnbench.describe import attack_entries, metric_entries

    def params(entry) -> str:
        return ", ".join(f"{p.name}={p.default!r}" for p in entry.params)

    quantities = []
    for name in quantity_names():
        header = header_of(name)
        term = name.replace("{ds}", "<set>") + (f" (leaderboard: {header.replace('{ds}', '<set>')})" if header else "")
        quantities.append((term, QUANTITY_HELP[name].replace("{ds}", "<set>")))
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
    }


__all__ = ["column_help", "glossary", "header_of", "quantity_help", "quantity_names"]
