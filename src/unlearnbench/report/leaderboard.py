"""Per-scenario leaderboards: one row per method (references included), from ``summary.parquet``.

Columns: forget-train / forget-test / retain-test accuracy, MIA (SVC), pre-logit CKA to the original and to
the retrained model (forget-train), downstream k-NN per downstream set, linear-probe recovery (forget-test),
``gap_logit``, ``gap_repr``, ``harmonic`` (see :mod:`unlearnbench.aggregate`), the recovery group
(prototype-attack forget accuracy, few-shot and retain-only relearn AUC, Anamnesis Index AIN), the verdict
(:mod:`unlearnbench.report.verdicts`) and the recovery verdict (:mod:`unlearnbench.report.recovery`), status, wall time (mean over seeds of the checkpoint sidecars'
``wall_time_s``: the method alone, per-epoch monitoring excluded; the original model's is its one training
run) and the budget: images of the forget / retain set the method forwarded (mean over seeds of the
sidecars' ``forget_images_seen`` / ``retain_images_seen``; "—" for the references). A no-op status (the
method changed no weight) carries the sidecar's reason, e.g. SSD selecting no parameter.

Rows: ``retrain`` first (the reference), then by harmonic score, best first; methods without a score last.
Every method the config expects in a scenario gets a row even when it has no results (status ``missing``);
missing numbers render as "—". Outputs per scenario: Markdown and HTML (formatted, "0.912 ± 0.013" when
several seeds ran), CSV (numeric: ``q`` and ``q_ci95`` columns) and a paper-width LaTeX table
(:mod:`unlearnbench.report.latex`); plus one combined CSV. The quantity columns, their order and headers come from
:data:`unlearnbench.headlines.HEADLINE_TABLE`. Every column is explained by :data:`COLUMN_HELP`
or the quantity's glossary line (the glossary of ``report/index.html``, :mod:`unlearnbench.report.index`).
"""
from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from unlearnbench.aggregate import summarise_status
from unlearnbench.atomic import atomic_path, write_text
from unlearnbench.headlines import HEADLINE_TABLE
from unlearnbench.report import layout
from unlearnbench.report.recovery import recovery_verdict
from unlearnbench.report.sources import REFERENCES, ReportData
from unlearnbench.report.verdicts import (DEFAULT_RULE, Rule, cka_threshold, estimates, scenario_verdicts,
                                          separation)

MISSING = "—"
#: (summary quantity, column header) in column order, from the quantities' one declaration
#: (:data:`unlearnbench.headlines.HEADLINE_TABLE`: those with a ``header``); ``{ds}`` expands to every downstream set
QUANTITIES = [(h.name, h.header) for h in HEADLINE_TABLE if h.header]
#: the score the rows are sorted by (best first)
SCORE = "harmonic"
INFO = ["method", "algorithm", "verdict", "verdict_reason", "recovery", "recovery_reason", "status", "n_seeds", "wall_time_s", "forget_images_seen",
        "retain_images_seen", "forget_tol", "cka_threshold"]
#: every leaderboard column besides the quantities (numeric CSV name → (its header in the Markdown/HTML table,
#: or None when only the CSV has it; one line for the glossary of the report's landing page)); a quantity
#: ``q`` is explained by ``aggregate.QUANTITY_HELP`` and its ``q_ci95`` is its 95 % CI half-width
COLUMN_HELP: dict[str, tuple[str | None, str]] = {
    "scenario": (None, "forget scenario (the combined leaderboard.csv)"),
    "rank": ("#", "retrain first (the reference), then by harmonic score, best first; methods without one last"),
    "method": ("method", "method instance, with its algorithm in brackets where the names differ"),
    "algorithm": (None, "the registered algorithm of the instance"),
    "verdict": ("verdict", "one word per method and scenario, read against the noise bands (see verdicts)"),
    "verdict_reason": ("why", "the numbers behind the verdict"),
    "recovery": ("recovery", "can the forgotten come back under the recovery attacks? (see recovery verdicts)"),
    "recovery_reason": ("recovery: why", "the numbers behind the recovery verdict"),
    "status": ("status", "ok, missing (no results), or the runs that diverged or changed no weight"),
    "n_seeds": ("seeds", "number of replicate seeds summarised"),
    "wall_time_s": ("wall time", "mean over seeds of the method's own wall time (checkpoint sidecars; the "
                                 "references': their training)"),
    "forget_images_seen": ("images seen (forget / retain)", "mean over seeds of the forget-set images the "
                                                             "method forwarded"),
    "retain_images_seen": ("images seen (forget / retain)", "mean over seeds of the retain-set images the "
                                                             "method forwarded"),
    "forget_tol": (None, "noise band of the forget accuracy's difference to retrain: the tolerance of "
                         "`did not forget`"),
    "cka_threshold": (None, "CKA→original half-way between retrain's and the kept reference's: "
                            "“nearer the original” above it"),
}


def quantities(downstream: list[str]) -> list[tuple[str, str]]:
    """(quantity column, header) of every leaderboard quantity, a ``{ds}`` one per downstream set."""
    return [pair for h in HEADLINE_TABLE if h.header for pair in h.columns(downstream)]


def run_status(runs: pd.DataFrame) -> str:
    """A method's status from its sidecars, in the summary's wording (``aggregate.summarise_status``)."""
    return summarise_status(runs["status"])


def with_no_op_reason(status: str, runs: pd.DataFrame) -> str:
    """``no-op (k/n runs)`` + ``: <reason>`` from the sidecars (the first run's reason) when they give one."""
    if not status.startswith("no-op") or "no_op_reason" not in runs or ":" in status:
        return status
    reasons = [r for r in runs["no_op_reason"].fillna("") if r]
    return f"{status}: {reasons[0]}" if reasons else status


def run_means(runs: pd.DataFrame, column: str, methods: list[str]) -> list[float]:
    """Mean over seeds of a sidecar column per method (NaN where absent)."""
    if column not in runs:
        return [math.nan] * len(methods)
    return pd.to_numeric(runs[column], errors="coerce").groupby(runs["method"]).mean().reindex(methods).tolist()


def scenario_kind(data: ReportData, scenario: str) -> str:
    return data.scenarios.get(scenario, {}).get("kind", "class")


def scenario_table(data: ReportData, scenario: str, th: Rule = DEFAULT_RULE) -> pd.DataFrame:
    """Numeric leaderboard of one scenario, sorted (see module docstring)."""
    qs = [q for q, _ in quantities(data.downstream())]
    s = data.summary[data.summary["scenario"] == scenario]
    means = s.set_index(["method", "quantity"])["mean"].unstack("quantity").reindex(columns=qs)
    ci95 = s.set_index(["method", "quantity"])["ci95"].unstack("quantity").reindex(columns=qs)
    runs = data.runs[data.runs["scenario"] == scenario]
    expected = data.scenarios.get(scenario, {}).get("methods", [])
    methods = list(dict.fromkeys([*expected, *means.index, *runs["method"].unique()]))
    by_method = s.groupby("method")
    status = {m: str(g["status"].iloc[0]) for m, g in by_method}
    status.update({m: run_status(g) for m, g in runs.groupby("method") if m not in status})
    status.update({m: "missing" for m in methods if m not in status})
    status.update({m: with_no_op_reason(st, runs[runs["method"] == m]) for m, st in status.items()})
    means = means.reindex(methods)
    verdicts = scenario_verdicts(s, status, kind=scenario_kind(data, scenario), downstream=data.downstream(), rule=th)
    per_method = estimates(s)
    refs = {r: est for r, est in per_method.items() if r in layout.REFERENCE_ROWS}
    table = pd.DataFrame({
        "method": methods,
        "algorithm": [by_method.get_group(m)["algorithm"].iloc[0] if m in by_method.groups else MISSING
                      for m in methods],
        "verdict": verdicts.loc[methods, "verdict"].to_numpy(),
        "verdict_reason": verdicts.loc[methods, "verdict_reason"].to_numpy(),
        "status": [status[m] for m in methods],
        "n_seeds": [int(by_method.get_group(m)["n_seeds"].max()) if m in by_method.groups else 0 for m in methods],
        "wall_time_s": runs.groupby("method")["wall_time_s"].mean().reindex(methods).to_numpy(),
        "forget_images_seen": run_means(runs, "forget_images_seen", methods),
        "retain_images_seen": run_means(runs, "retain_images_seen", methods),
        "forget_tol": verdicts.loc[methods, "forget_tol"].to_numpy(),
        "cka_threshold": cka_threshold(refs),
    })
    recov = [recovery_verdict(m, per_method.get(m), status[m], v, refs=refs, rule=th)
             for m, v in zip(methods, table["verdict"])]
    table.insert(4, "recovery", [v for v, _ in recov])
    table.insert(5, "recovery_reason", [why for _, why in recov])
    for q in qs:
        table[q] = means[q].to_numpy()
        table[f"{q}_ci95"] = ci95[q].reindex(methods).to_numpy()
    order = sorted(range(len(table)), key=lambda i: (table["method"][i] != "retrain",
                                                     math.isnan(table[SCORE][i]), -_nan0(table[SCORE][i]),
                                                     table["method"][i]))
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def _nan0(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def fmt_value(mean: float, ci: float = math.nan, digits: int = 3) -> str:
    """``0.912 ± 0.013`` (CI shown only when finite, i.e. several seeds), ``—`` when missing."""
    if mean is None or not math.isfinite(mean):
        return MISSING
    if ci is not None and math.isfinite(ci):
        return f"{mean:.{digits}f} ± {ci:.{digits}f}"
    return f"{mean:.{digits}f}"


def fmt_count(n: float) -> str:
    """An image count: ``812``, ``36.0k``, ``1.28M``; ``—`` when missing."""
    if n is None or not math.isfinite(n):
        return MISSING
    return f"{n:.0f}" if n < 10_000 else f"{n / 1e3:.1f}k" if n < 1e6 else f"{n / 1e6:.2f}M"


def fmt_seconds(s: float) -> str:
    if s is None or not math.isfinite(s):
        return MISSING
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def display_table(table: pd.DataFrame, downstream: list[str]) -> pd.DataFrame:
    """The formatted (string) leaderboard shown in Markdown and HTML."""
    out = pd.DataFrame({"#": table["rank"].astype(str),
                        "method": [m if a in (m, MISSING) else f"{m} ({a})"
                                   for m, a in zip(table["method"], table["algorithm"])],
                        "verdict": table["verdict"], "recovery": table["recovery"]})
    for q, header in quantities(downstream):
        out[header] = [fmt_value(m, c) for m, c in zip(table[q], table[f"{q}_ci95"])]
    out["seeds"] = [str(n) if n else MISSING for n in table["n_seeds"]]
    out["status"] = table["status"]
    out["wall time"] = [fmt_seconds(s) for s in table["wall_time_s"]]
    out["images seen (forget / retain)"] = [
        MISSING if not (math.isfinite(f) or math.isfinite(r)) else f"{fmt_count(f)} / {fmt_count(r)}"
        for f, r in zip(table.get("forget_images_seen", [math.nan] * len(table)),
                        table.get("retain_images_seen", [math.nan] * len(table)))]
    out["why"] = table["verdict_reason"]
    out["recovery: why"] = table["recovery_reason"]
    return out


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def separation_note(data: ReportData, scenario: str, th: Rule = DEFAULT_RULE) -> str:
    """One line: can this scenario separate its references (kept vs retrained) on the verdicts' headlines?"""
    s = data.summary[data.summary["scenario"] == scenario]
    refs = {r: est for r, est in estimates(s).items() if r in layout.REFERENCE_ROWS}
    seps = separation(refs, scenario_kind(data, scenario), th)
    if not seps:
        return "Separation of the references: not computable (a reference is missing)."
    parts = [f"{x['quantity']} {x['kept_reference']} {x['kept']:.3f} vs retrain {x['retrain']:.3f} "
             f"(gap {x['gap']:.3f} {'>' if x['separates'] else '≤'} band {x['band']:.3f})" for x in seps]
    repr_ok = any(x["separates"] for x in seps if x["quantity"] in ("cka_to_original", "probe_forget_test"))
    logit_ok = any(x["separates"] for x in seps if x["quantity"].endswith("_acc"))
    head = ("this scenario separates its references" if repr_ok and logit_ok else
            "⚠ THIS SCENARIO CANNOT SEPARATE METHODS ON REPRESENTATIONS: its references are within noise"
            if logit_ok else "⚠ THIS SCENARIO CANNOT SEPARATE METHODS: its references are within noise")
    return f"{head} — " + "; ".join(parts) + "."


#: second opinions on CKA→original (the ``similarity`` group): (quantity, label)
SECOND_OPINIONS = tuple((h.name, h.words) for h in HEADLINE_TABLE if h.group == "similarity")
#: below this Spearman rank correlation with CKA over the methods, a second opinion "disagrees"
AGREEMENT = 0.5


def similarity_note(table: pd.DataFrame) -> str | None:
    """Where Procrustes or mutual k-NN order the unlearning methods differently from CKA→original (Spearman
    ρ < 0.5 over the methods with both values; at least 3 needed), one line saying so; else their agreement."""
    methods = table[~table["method"].isin(layout.REFERENCE_ROWS)]
    parts, disagree = [], []
    for q, label in SECOND_OPINIONS:
        if q not in methods:
            continue
        both = methods[["cka_to_original", q]].apply(pd.to_numeric, errors="coerce").dropna()
        if len(both) < 3 or both[q].nunique() < 2 or both["cka_to_original"].nunique() < 2:
            continue
        rho = float(both["cka_to_original"].rank().corr(both[q].rank()))
        parts.append(f"{label} ρ = {rho:.2f}")
        if rho < AGREEMENT:
            disagree.append(label)
    if not parts:
        return None
    if disagree:
        return (f"⚠ {' and '.join(disagree)} order the methods differently from CKA→original (Spearman "
                f"{'; '.join(parts)}): the representation similarity depends on the measure — read CKA-based "
                "verdicts with care.")
    return f"Second opinions agree with CKA→original on the order of methods (Spearman {'; '.join(parts)})."


def _intro(data: ReportData, scenario: str, th: Rule, table: pd.DataFrame | None = None) -> tuple[str, list[str]]:
    kind = data.scenarios.get(scenario, {}).get("kind", "?")
    title = f"Leaderboard — scenario {scenario} (kind: {kind})"
    second = similarity_note(table) if table is not None else None
    notes = [separation_note(data, scenario, th), *([second] if second else []),
             "Sorted by harmonic score (higher = closer to the retrained model on both logits and "
             "representations); retrain is the reference row, original′ the seed-noise floor.",
             "Means over seeds ± 95 % CI half-width (seed variance and bootstrap over eval samples). Accuracies, "
             "MIA, CKA, k-NN and probe recovery are fractions in [0, 1]; gaps are mean |metric − retrain|. "
             f"{MISSING} = not available (a missing metric leaves scores and verdicts undetermined).",
             f"Verdicts (unlearnbench.report.verdicts): {th.describe()}."]
    return title, notes


def render_markdown(data: ReportData, scenario: str, table: pd.DataFrame, th: Rule) -> str:
    title, notes = _intro(data, scenario, th, table)
    return (f"# {title}\n\n" + "\n".join(f"- {n}" for n in notes) + "\n\n" + markdown_table(display_table(table, data.downstream()))
            + "\n")


def render_html(data: ReportData, scenario: str, table: pd.DataFrame, th: Rule) -> str:
    title, notes = _intro(data, scenario, th, table)
    body = display_table(table, data.downstream()).to_html(index=False, escape=True, border=0, na_rep=MISSING)
    style = ("body{font-family:sans-serif;font-size:13px;margin:1em}table{border-collapse:collapse}"
             "th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
             "th{background:#f3f3f3}td:nth-child(2),td:nth-child(3),td:last-child{text-align:left}")
    paras = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h2>{html.escape(title)}</h2>{paras}{body}</body></html>\n")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path, suffix=".tmp.csv") as tmp:
        frame.to_csv(tmp, index=False)


def write_leaderboards(data: ReportData, out: str | Path, th: Rule = DEFAULT_RULE) -> list[Path]:
    """Write every scenario's Markdown/CSV/HTML/LaTeX (:data:`layout.LEADERBOARD_FORMATS`) and the combined CSV
    under ``{out}/report``."""
    from unlearnbench.report.latex import render_latex

    written, tables = [], []
    for scenario in data.scenarios:
        table = scenario_table(data, scenario, th)
        tables.append(table.assign(scenario=scenario))
        paths = {fmt: layout.leaderboard_file(out, scenario, fmt) for fmt in layout.LEADERBOARD_FORMATS}
        write_text(paths["md"], render_markdown(data, scenario, table, th))
        write_text(paths["html"], render_html(data, scenario, table, th))
        write_text(paths["tex"], render_latex(data, scenario, table, th))
        _write_csv(table, paths["csv"])
        written += paths.values()
    combined = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["scenario", *INFO])
    combined = combined[["scenario", *[c for c in combined.columns if c != "scenario"]]]
    _write_csv(combined, layout.combined_leaderboard(out))
    return [*written, layout.combined_leaderboard(out)]


__all__ = ["scenario_table", "display_table", "write_leaderboards", "fmt_value", "quantities", "REFERENCES"]
