"""The report side of the recovery attacks: the recovery verdict against the retrained control (hand-made
estimates), the Anamnesis Index, the second-opinion note, and the relearning-curve table."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from unlearnbench.aggregate import _anamnesis
from unlearnbench.report import plotdata
from unlearnbench.report.leaderboard import similarity_note
from unlearnbench.report.recovery import NOT_RECOVERABLE, RECOVERABLE, recovery_verdict
from unlearnbench.report.sources import ReportData, read_relearn
from unlearnbench.report.verdicts import NOT_FORGOTTEN, REFERENCE, SUPERFICIAL, UNDETERMINED


def est(**means):
    """Estimates with a known noise: se_eval 0.01 for every quantity, one seed."""
    return {q: {"mean": v, "se_seeds": math.nan, "se_eval": 0.01, "n_seeds": 1} for q, v in means.items()}


REFS = {"retrain": est(proto_forget_test=0.20, fewshot_auc=0.10, retain_relearn_auc=0.0)}
BAND = 1.959964 * math.sqrt(2) * 0.01  # 95 % band of a difference of two values with se 0.01 each


def test_recoverable_when_an_attack_recovers_more_than_from_the_control_beyond_the_band():
    v, why = recovery_verdict("m", est(proto_forget_test=0.20 + BAND + 0.002, fewshot_auc=0.1, retain_relearn_auc=0.0),
                              "ok", SUPERFICIAL, refs=REFS)
    assert v == RECOVERABLE and "prototype attack" in why
    v, why = recovery_verdict("m", est(proto_forget_test=0.20 + BAND - 0.002, fewshot_auc=0.1, retain_relearn_auc=0.0),
                              "ok", SUPERFICIAL, refs=REFS)
    assert v == NOT_RECOVERABLE
    # recovering *less* than the control is never "recoverable"
    assert recovery_verdict("m", est(proto_forget_test=0.0, fewshot_auc=0.0), "ok", SUPERFICIAL,
                            refs=REFS)[0] == NOT_RECOVERABLE


def test_recovery_verdict_is_undetermined_without_forgetting_results_or_a_good_status():
    good = est(proto_forget_test=0.9)
    assert recovery_verdict("m", good, "ok", NOT_FORGOTTEN, refs=REFS) == (UNDETERMINED, "did not forget: nothing to recover")
    assert recovery_verdict("m", good, "diverged (1/3 runs)", SUPERFICIAL, refs=REFS)[0] == UNDETERMINED
    assert recovery_verdict("m", est(cka_to_original=0.9), "ok", SUPERFICIAL, refs=REFS)[0] == UNDETERMINED
    assert recovery_verdict("retrain", REFS["retrain"], "ok", REFERENCE, refs=REFS) == (REFERENCE, "control")


def test_anamnesis_is_relearn_time_over_the_retrained_models_in_the_same_seed():
    values = pd.DataFrame({"scenario": ["a"] * 5, "seed": [0, 0, 1, 1, 0], "method": ["retrain", "m", "retrain", "m", "x"],
                           "quantity": ["fewshot_steps"] * 4 + ["fewshot_auc"], "value": [8.0, 2.0, 4.0, 4.0, 0.5]})
    ain = _anamnesis(values)
    assert ain[("a", 0, "m")] == 0.25 and ain[("a", 1, "m")] == 1.0 and ain[("a", 0, "retrain")] == 1.0
    assert ("a", 0, "x") not in ain.index
    zero = values.assign(value=[0.0, 2.0, 4.0, 4.0, 0.5])
    assert math.isnan(_anamnesis(zero)[("a", 0, "m")])  # retrain needs no step: the ratio is undefined


def test_similarity_note_flags_a_second_opinion_that_reorders_the_methods():
    table = pd.DataFrame({"method": ["retrain", "original_prime", "a", "b", "c", "d"],
                          "cka_to_original": [0.5, 0.99, 0.6, 0.7, 0.8, 0.9],
                          "procrustes_to_original": [0.4, 0.95, 0.9, 0.8, 0.7, 0.6],
                          "mknn_to_original": [0.3, 0.9, 0.31, 0.4, 0.5, 0.6]})
    note = similarity_note(table)
    assert note.startswith("⚠ Procrustes→original order") and "ρ = -1.00" in note and "mutual k-NN→original ρ = 1.00" in note
    agree = similarity_note(table.assign(procrustes_to_original=table["cka_to_original"] / 2))
    assert agree.startswith("Second opinions agree") and "⚠" not in agree
    assert similarity_note(table.iloc[:4]) is None  # two methods: no ranking to compare


def test_relearn_curve_table_averages_seeds_with_their_confidence_interval():
    rows = []
    for seed, vals in ((0, [0.0, 0.4]), (1, [0.2, 0.8])):
        for step, v in zip((0, 2), vals):
            rows.append({"scenario": "s", "seed": seed, "method": "m", "metric": "relearn", "variant": "fewshot_relearn",
                         "split": "forget_test", "layer": "", "step": step, "value": v})
    rows.append({"scenario": "s", "seed": 0, "method": "m", "metric": "relearn", "variant": "layer_probe",
                 "split": "forget_test", "layer": "stage0", "step": None, "value": 0.5})
    rows.append({"scenario": "s", "seed": 0, "method": "m", "metric": "cka", "variant": "biased",
                 "split": "forget_train", "layer": "pre_logits", "step": None, "value": 0.9})
    data = ReportData(summary=pd.DataFrame(), scenarios={}, relearn=read_relearn(pd.DataFrame(rows)))
    curves = plotdata.relearn_curves(data)
    assert curves["step"].tolist() == [0, 2] and curves["value"].tolist() == pytest.approx([0.1, 0.6])
    t = 12.706204736  # t_{0.975, 1}
    assert curves["ci95"].tolist() == pytest.approx([t * np.std([0.0, 0.2], ddof=1) / np.sqrt(2),
                                                     t * np.std([0.4, 0.8], ddof=1) / np.sqrt(2)])
    probes = plotdata.layer_probe(data)
    assert probes[["layer", "value"]].values.tolist() == [["stage0", 0.5]]


def test_relearn_figure_draws_each_model_with_control_and_ceiling_labels():
    from unlearnbench.report.plot_recovery import figure_layer_probe, figure_relearn

    rows = [{"scenario": "s", "method": m, "role": "", "attack": a, "split": "forget_test", "step": k,
             "value": v, "ci95": 0.05, "n_seeds": 3}
            for a in ("fewshot_relearn", "retain_relearn") for m, v in (("retrain", 0.0), ("original", 0.9), ("rl", 0.5))
            for k in (0, 2, 4)]
    fig = figure_relearn(pd.DataFrame(rows), "s", ["original", "retrain", "rl"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 and all(len(ax.lines) == 3 for ax in axes)
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert labels == {"retrain (control)", "original (ceiling)", "rl"}
    probes = pd.DataFrame([{"scenario": "s", "method": m, "role": "", "layer": layer, "layer_index": i, "value": 0.5,
                            "ci95": 0.1, "n_seeds": 3} for m in ("retrain", "rl")
                           for i, layer in enumerate(("stage0", "pre_logits"))])
    ax = figure_layer_probe(probes, "s", ["retrain", "rl"]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["stage0", "pre_logits"] and len(ax.lines) >= 2
