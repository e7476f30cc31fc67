"""Report layer: leaderboard numbers equal the summary, verdict rules on constructed rows, every figure
written with the expected artists, partial results rendered with gaps, and report.html on the quick run.

Everything but the last tests runs on small synthetic result tables pushed through the real
:mod:`unlearnbench.aggregate`, so the report reads exactly the schema the workflow writes."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from unlearnbench.aggregate import HEADLINES, per_seed_summary, summarise_seeds
from unlearnbench.report import layout
from unlearnbench.report.leaderboard import MISSING, display_table, fmt_value, scenario_table, write_leaderboards
from unlearnbench.report.sources import load_report_data
from unlearnbench.report.verdicts import (CLOSE, DAMAGING, DIVERGED, NOT_FORGOTTEN, REFERENCE, SUPERFICIAL,
                                          UNDETERMINED)

DOWNSTREAM = ["far", "near"]
LAYERS = ["stage0", "stage10", "stage2", "pre_logits"]  # natural order: stage0, stage2, stage10, pre_logits
NAN = math.nan
# class-forgetting scenario "cls": one method per verdict (see unlearnbench.report.verdicts)
REF = {"retrain": dict(forget_train_acc=0.0, forget_test_acc=0.0, retain_test_acc=0.8, cka_to_original=0.6,
                       cka_to_retrain=1.0, knn_far=0.7, knn_near=0.6, probe_forget_test=0.1),
       "original": dict(forget_train_acc=1.0, forget_test_acc=0.8, retain_test_acc=0.8, cka_to_original=1.0,
                        cka_to_retrain=0.6, knn_far=0.72, knn_near=0.62, probe_forget_test=0.8)}
METHODS = {
    "good": dict(forget_test_acc=0.05, cka_to_original=0.65, probe_forget_test=0.15, knn_far=0.69),  # close
    "nf": dict(forget_test_acc=0.5, cka_to_original=0.7),                                           # did not forget
    "sup": dict(forget_test_acc=0.02, cka_to_original=0.95),                                        # superficial (CKA)
    "probe": dict(forget_test_acc=0.02, cka_to_original=0.7, probe_forget_test=0.5),                # superficial (probe)
    "dmg": dict(forget_test_acc=0.0, cka_to_original=0.5, knn_near=0.3),                            # damaging
}
EXPECTED = {"retrain": REFERENCE, "original": REFERENCE, "good": CLOSE, "nf": NOT_FORGOTTEN, "sup": SUPERFICIAL,
            "probe": SUPERFICIAL, "dmg": DAMAGING, "div": DIVERGED}


EVAL_SE = 0.02  # bootstrap standard error of every accuracy-like raw row: a noise band of 1.96·√2·0.02 ≈ 0.055


def raw_rows(scenario, seed, method, values, status="ok"):
    """Raw long-format result rows that aggregate.HEADLINES select back into ``values``."""
    base = {"scenario": scenario, "seed": seed, "method": method, "algorithm": f"alg_{method}", "status": status,
            "evalset": "", "split": "", "metric": "", "variant": "", "layer": "", "reference": "", "se": EVAL_SE}
    rows = []
    for name, _, sel in HEADLINES:
        if name.startswith("cka"):
            continue
        for ds in (DOWNSTREAM if "{ds}" in name else [None]):
            q = name.format(ds=ds) if ds else name
            if q in values:
                rows.append({**base, **sel, **({"evalset": ds} if ds else {}), "value": values[q]})
    for ref in ("original", "retrain"):
        top = values.get(f"cka_to_{ref}", NAN)
        for i, layer in enumerate(LAYERS):  # CKA decays towards the output; pre_logits = the headline value
            value = top if layer == "pre_logits" else 1 - (1 - top) * (i + 1) / len(LAYERS)
            rows.append({**base, "metric": "cka", "variant": "biased", "split": "forget_train", "evalset": "train",
                         "layer": layer, "reference": ref, "value": value, "se": NAN})
    return rows


def method_values(method):
    base = dict(REF["retrain"], retain_test_acc=0.78, cka_to_retrain=0.8, forget_train_acc=0.05)
    return {**base, **METHODS[method]}


def make_results(seeds=(0,), scenarios=("cls", "smp")):
    rows = []
    for sc in scenarios:
        for seed in seeds:
            jitter = 0.01 * seed
            for m, vals in [*REF.items(), *((m, method_values(m)) for m in METHODS)]:
                vals = {k: v + (jitter if k != "cka_to_original" or v < 1 else 0) for k, v in vals.items()}
                if sc == "smp":  # sample forgetting: no forget-test / probe rows
                    vals = {k: v for k, v in vals.items() if k not in ("forget_test_acc", "probe_forget_test")}
                rows += raw_rows(sc, seed, m, vals)
            rows += raw_rows(sc, seed, "div", {k: NAN for k in method_values("good")}, status="diverged")
    return pd.DataFrame(rows)


def make_sidecars(tmp_path, results):
    paths = {}
    for (sc, seed, m), _ in results.groupby(["scenario", "seed", "method"]):
        path = layout.sidecar(tmp_path, sc, seed, m)
        path.parent.mkdir(parents=True, exist_ok=True)
        if m in ("original", "retrain"):
            curve = [{"epoch": e, "loss": 2.0 / e, "train_acc": 0.3 * e, "test_acc": 0.25 * e, "lr": 0.1} for e in (1, 2, 3)]
        else:
            curve = [{"epoch": 1, "loss": NAN if m == "div" else 0.5, "forget_acc": 0.1, "retain_test_acc": 0.7}]
        meta = {"status": "diverged" if m == "div" else "ok", "wall_time_s": 10.0 + seed, "curve": curve,
                "accuracy_before": {"forget": 0.9, "retain_test": 0.8}}
        path.write_text(json.dumps(meta))
        paths[(sc, seed, m)] = path
    return paths


def report_data(tmp_path, seeds=(0,), unevaluated=(), expected=None):
    """Synthetic ReportData; (scenario, method) pairs in ``unevaluated`` have a checkpoint but no results."""
    results = make_results(seeds)
    sidecars = make_sidecars(tmp_path, results)
    for sc, m in unevaluated:
        results = results[(results["scenario"] != sc) | (results["method"] != m)]
    summary = summarise_seeds(per_seed_summary(results))
    scenarios = {"cls": {"kind": "random", "methods": expected or []}, "smp": {"kind": "samples"}}
    return load_report_data(summary, results=results, sidecars=sidecars, scenarios=scenarios), summary


# --- leaderboard --------------------------------------------------------------------------------------------
def test_leaderboard_numbers_equal_summary(tmp_path):
    data, summary = report_data(tmp_path, seeds=(0, 1, 2))
    written = write_leaderboards(data, tmp_path)
    assert all(p.stat().st_size > 0 for p in written)
    csv = pd.read_csv(layout.leaderboard_file(tmp_path, "cls", "csv"))
    merged = summary[summary["scenario"] == "cls"].merge(csv.melt(id_vars=["method"], var_name="quantity",
                                                                  value_name="board"), on=["method", "quantity"])
    assert len(merged) > 50
    pd.testing.assert_series_equal(merged["board"].astype(float), merged["mean"], check_names=False)
    assert csv["method"].iloc[0] == "retrain"
    harmonic = csv["harmonic"].iloc[1:].dropna().tolist()
    assert harmonic == sorted(harmonic, reverse=True)
    assert csv.set_index("method").loc["good", "wall_time_s"] == pytest.approx(11.0)  # mean of 10, 11, 12
    shown = display_table(scenario_table(data, "cls"), DOWNSTREAM)
    row = summary[(summary["scenario"] == "cls") & (summary["method"] == "good")].set_index("quantity")
    md = layout.leaderboard_file(tmp_path, "cls", "md").read_text()
    expect = f"{row.loc['knn_far', 'mean']:.3f} ± {row.loc['knn_far', 'ci95']:.3f}"
    assert expect in md and expect in shown["k-NN far"].tolist()
    combined = pd.read_csv(layout.combined_leaderboard(tmp_path))
    assert set(combined["scenario"]) == {"cls", "smp"} and len(combined) == len(csv) + 8


def test_fmt_value():
    assert fmt_value(0.91234, 0.0131) == "0.912 ± 0.013"
    assert fmt_value(0.91234) == fmt_value(0.91234, NAN) == "0.912"
    assert fmt_value(NAN) == fmt_value(None) == MISSING


# --- verdicts -----------------------------------------------------------------------------------------------
def test_one_method_per_verdict(tmp_path):
    data, _ = report_data(tmp_path)
    table = scenario_table(data, "cls").set_index("method")
    assert table["verdict"].to_dict() == EXPECTED
    assert "probe recovery" in table.loc["probe", "verdict_reason"]


# --- partial results ----------------------------------------------------------------------------------------
def test_partial_results_render_with_gaps(tmp_path):
    data, _ = report_data(tmp_path, unevaluated={("cls", "sup"), ("smp", "retrain")},
                          expected=["original", "retrain", "sup", "ghost"])
    write_leaderboards(data, tmp_path)
    table = scenario_table(data, "cls").set_index("method")
    assert table.loc["ghost", "status"] == "missing" and table.loc["ghost", "verdict"] == UNDETERMINED
    assert table.loc["sup", "status"] == "ok" and math.isnan(table.loc["sup", "harmonic"])  # checkpoint only
    assert table.loc["div", "status"].startswith("diverged") and table.loc["div", "verdict"] == DIVERGED
    ok = table[table["status"] == "ok"]["harmonic"].dropna()
    assert math.isnan(table.loc["div", "harmonic"])  # an all-NaN run has no score (undetermined, not 0) …
    assert list(table.index).index("div") > max(list(table.index).index(m) for m in ok.index)  # … ranked after
    md = layout.leaderboard_file(tmp_path, "cls", "md").read_text()
    ghost = next(line for line in md.splitlines() if "| ghost |" in line)
    assert ghost.count(f"| {MISSING} ") >= 15 and "| missing |" in ghost
    div = next(line for line in md.splitlines() if "| div (alg_div) |" in line)
    assert div.count(f"| {MISSING} ") >= 10 and "diverged" in div
    smp = scenario_table(data, "smp").set_index("method")  # no retrain results: nothing can be judged
    assert set(smp.loc[["good", "nf", "dmg"], "verdict"]) == {UNDETERMINED}
    assert "of retrain missing" in smp.loc["good", "verdict_reason"]


# --- figures and exports ------------------------------------------------------------------------------------
def _drawn(fig, panel):
    """Methods drawn (one errorbar container each) in a panel, its outlier strips included."""
    return sorted(c.get_label() for ax in fig.axes if ax.get_label().endswith(f":{panel}") for c in ax.containers)


def test_figures_have_expected_artists(tmp_path):
    from unlearnbench.report import plotdata, plots

    data, _ = report_data(tmp_path, unevaluated={("smp", "sup")})
    board, methods = plotdata.board(data), data.methods()
    fig = plots.figure_logit_vs_repr(plotdata.logit_vs_repr(data, board), methods)
    refs = ["original (reference)", "retrain (reference)"]
    assert _drawn(fig, "cls") == sorted([*refs, "dmg", "good", "nf", "probe", "sup"])  # "div" has no coordinates
    assert _drawn(fig, "smp") == sorted([*refs, "dmg", "good", "nf", "probe"])
    assert "not shown (no data): div" in [ax for ax in fig.axes if ax.get_label() == "main:cls"][0].get_title()
    knn = plots.figure_knn(plotdata.knn(data, board), methods)  # one panel per downstream set
    assert len(_drawn(knn, "far")) == len(_drawn(knn, "near")) == 5 + 4
    low = [ax for ax in knn.axes if ax.get_label() == "low:near"][0]  # dmg's k-NN near (0.3): an outlier strip
    assert _drawn(knn, "near").count("dmg") == 2 and [c.get_label() for c in low.containers] == ["dmg", "dmg"]
    probe = plots.figure_probe(plotdata.probe(board), methods)
    assert len(_drawn(probe, "probe")) == 5  # sample forgetting has no probe: no dots, an n/a note
    assert any("n/a" in t.get_text() for ax in probe.axes for t in ax.texts)
    layers = plots.figure_cka_layers(plotdata.cka_layers(data), "cls", methods)
    assert [len(ax.containers) for ax in layers.axes] == [7, 7]  # all-NaN "div" drawn nowhere
    assert [t.get_text() for t in layers.axes[0].get_xticklabels()] == ["stage0", "stage2", "stage10", "pre_logits"]
    curves = plots.figure_curves(plotdata.curves(data), "cls", methods)
    assert len(curves.axes[0].lines) == 2 and len(curves.axes[3].lines) == 2 * 6  # 6 methods × 2 accuracies


def test_every_plot_and_export_is_written(tmp_path):
    from unlearnbench.report.exports import write_exports
    from unlearnbench.report.plots import write_plots

    data, summary = report_data(tmp_path)
    written = write_plots(data, tmp_path) + write_exports(data, tmp_path)
    from unlearnbench.report.figures import ordered

    experiment, per_scenario = ({s.name for s in ordered(scope)} for scope in ("experiment", "scenario"))
    assert {"logit_vs_repr", "knn", "probe"} <= experiment and {"cka_layers", "curves", "relearn"} <= per_scenario
    expected = {layout.plot_file(tmp_path, n, f) for n in experiment for f in layout.IMAGE_FORMATS}
    expected |= {layout.plot_file(tmp_path, n, f, sc) for n in per_scenario for sc in ("cls", "smp")
                 for f in layout.IMAGE_FORMATS}
    expected |= {layout.plot_table(tmp_path, n) for n in layout.PLOT_TABLES} | {layout.metrics_json(tmp_path)}
    assert set(written) == expected and all(p.stat().st_size > 0 for p in expected)
    assert layout.plot_file(tmp_path, "knn", "png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.rglob(".*.tmp*"))
    metrics = json.loads(layout.metrics_json(tmp_path).read_text())
    mean = summary.set_index(["scenario", "method", "quantity"])["mean"]
    assert metrics["cls"]["good"]["harmonic"] == mean[("cls", "good", "harmonic")]
    assert "forget_test_acc" not in metrics["cls"]["div"]  # NaN left out
    cka = pd.read_csv(layout.plot_table(tmp_path, "cka_layers"))
    assert len(cka) == 2 * 8 * 2 * len(LAYERS)


# --- the workflow -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_report_builds_on_quick_config(quick_run, quick_out, capsys):
    from conftest import snakemake
    from unlearnbench.where import main

    snakemake(quick_run, "--report", "report.html")
    html = (quick_run / "report.html").read_text()
    assert len(html) > 100_000
    for name in ["leaderboard/random1.html", "plots/logit_vs_repr.png", "plots/cka_layers_samples30.png",
                 "upstream_samples.png"]:
        assert name in html, name
    board = pd.read_csv(layout.combined_leaderboard(quick_out))
    summary = pd.read_parquet(layout.summary_table(quick_out))
    check = summary.merge(board.melt(id_vars=["scenario", "method"], var_name="quantity", value_name="board"),
                          on=["scenario", "method", "quantity"])
    assert len(check) > 100 and (check["board"].astype(float) - check["mean"]).abs().max() == 0
    assert set(board.loc[board["method"].isin(["original", "retrain"]), "verdict"]) == {REFERENCE}
    assert main(["--configfile", "configs/quick.yaml", "--directory", str(quick_run)]) == 0
    out = capsys.readouterr().out
    assert "outputs/quick/report/leaderboard.csv" in out and "not built yet" not in out
