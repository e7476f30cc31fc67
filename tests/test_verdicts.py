"""Numbers read against their noise: the seed summary by hand, the CKA headline estimator rule, the
bootstrap, and the verdict rules on constructed summaries — including the counter-examples that fixed
thresholds got wrong (retain collapse, probe equal to the original's, a NaN metric, references within noise).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from unlearnbench.aggregate import (cka_estimator, difference_band, headline_values, per_seed_summary,
                                    summarise_seeds)
from unlearnbench.metrics.cka import linear_cka
from unlearnbench.metrics.uncertainty import bootstrap_se
from unlearnbench.report.sources import load_report_data
from unlearnbench.report.leaderboard import scenario_table, separation_note
from unlearnbench.report.verdicts import (CLOSE, NOT_FORGOTTEN, RETAIN_DAMAGED, SUPERFICIAL, UNDETERMINED, Rule,
                                          verdict)

NAN = math.nan


def row(seed, method, metric, split, value, se=NAN, **kw):
    base = {"scenario": "sc", "seed": seed, "method": method, "algorithm": method, "status": "ok",
            "evalset": "test", "split": split, "metric": metric, "variant": "", "layer": "", "reference": "",
            "value": value, "se": se, "n": None, "dim": None}
    return {**base, **kw}


def cka_row(seed, method, value, variant="biased", n=None, dim=None):
    return row(seed, method, "cka", "forget_train", value, variant=variant, layer="pre_logits",
               reference="original", evalset="train", n=n, dim=dim)


# --- the summary, by hand -----------------------------------------------------------------------------------
def hand_results():
    """Three seeds; retrain and a method with known accuracies, CKA and probe; bootstrap se on one metric."""
    rows = []
    for seed, (f, r, c, p) in enumerate([(0.1, 0.8, 0.9, 0.5), (0.2, 0.7, 0.8, 0.4), (0.3, 0.9, 0.7, 0.6)]):
        rows += [row(seed, "m", "accuracy", "forget_test", f, se=0.0),
                 row(seed, "m", "accuracy", "retain_test", r, se=0.03),
                 cka_row(seed, "m", c), row(seed, "m", "probe", "forget_test", p, layer="pre_logits")]
        rows += [row(seed, "retrain", "accuracy", "forget_test", 0.0, se=0.0),
                 row(seed, "retrain", "accuracy", "retain_test", 0.8, se=0.03),
                 cka_row(seed, "retrain", 0.6), row(seed, "retrain", "probe", "forget_test", 0.2, layer="pre_logits")]
    return pd.DataFrame(rows)


def test_hand_computed_summary():
    summary = summarise_seeds(per_seed_summary(hand_results())).set_index(["method", "quantity"])
    f = summary.loc[("m", "forget_test_acc")]
    t2 = stats.t.ppf(0.975, 2)
    assert f["mean"] == pytest.approx(0.2) and f["std"] == pytest.approx(0.1) and f["n_seeds"] == 3
    assert f["se_seeds"] == pytest.approx(0.1 / math.sqrt(3)) and f["se_eval"] == 0
    assert f["ci95"] == pytest.approx(t2 * 0.1 / math.sqrt(3))  # all noise from seeds: df = 2
    r = summary.loc[("m", "retain_test_acc")]  # seeds 0.8, 0.7, 0.9 (std 0.1) + bootstrap se 0.03 per seed
    se = math.sqrt(0.1 ** 2 / 3 + 0.03 ** 2)
    df = se ** 4 / ((0.1 ** 2 / 3) ** 2 / 2)  # Welch–Satterthwaite, the bootstrap part has infinite df
    assert r["se"] == pytest.approx(se) and r["df"] == pytest.approx(df)
    assert r["ci95"] == pytest.approx(stats.t.ppf(0.975, df) * se)
    # gaps per seed: logit = mean(|f − 0|, |r − 0.8|), repr = mean(|c − 0.6|, |p − 0.2|)
    gl = [(0.1 + 0.0) / 2, (0.2 + 0.1) / 2, (0.3 + 0.1) / 2]
    gr = [(0.3 + 0.3) / 2, (0.2 + 0.2) / 2, (0.1 + 0.4) / 2]
    harm = [2 * (1 - a) * (1 - b) / ((1 - a) + (1 - b)) for a, b in zip(gl, gr)]
    assert summary.loc[("m", "gap_logit"), "mean"] == pytest.approx(np.mean(gl))
    assert summary.loc[("m", "gap_repr"), "mean"] == pytest.approx(np.mean(gr))
    assert summary.loc[("m", "harmonic"), "mean"] == pytest.approx(np.mean(harm))
    assert summary.loc[("m", "harmonic"), "ci95"] == pytest.approx(t2 * np.std(harm, ddof=1) / math.sqrt(3))
    assert summary.loc[("retrain", "harmonic"), "mean"] == pytest.approx(1.0)


def test_one_seed_has_a_ci_from_the_bootstrap_alone():
    frame = hand_results()
    summary = summarise_seeds(per_seed_summary(frame[frame["seed"] == 0])).set_index(["method", "quantity"])
    r = summary.loc[("m", "retain_test_acc")]
    assert math.isnan(r["se_seeds"]) and r["ci95"] == pytest.approx(stats.norm.ppf(0.975) * 0.03)
    assert math.isnan(summary.loc[("m", "cka_to_original"), "ci95"])  # no noise estimate at all: unknown


def test_a_missing_metric_makes_scores_undetermined_never_better():
    frame = hand_results()
    frame.loc[(frame["method"] == "m") & (frame["metric"] == "probe") & (frame["seed"] == 1), "value"] = NAN
    dropped = frame[~((frame["method"] == "m") & (frame["metric"] == "probe") & (frame["seed"] == 2))]
    per_seed = per_seed_summary(dropped).set_index(["seed", "method", "quantity"])["value"]
    assert math.isnan(per_seed[(1, "m", "gap_repr")]) and math.isnan(per_seed[(1, "m", "harmonic")])
    assert math.isnan(per_seed[(2, "m", "gap_repr")]) and math.isnan(per_seed[(2, "m", "harmonic")])
    assert not math.isnan(per_seed[(0, "m", "harmonic")])
    summary = summarise_seeds(per_seed_summary(dropped)).set_index(["method", "quantity"])
    assert math.isnan(summary.loc[("m", "harmonic"), "mean"])  # not the mean of the one complete seed


# --- the CKA headline estimator -----------------------------------------------------------------------------
def test_biased_cka_of_independent_features_is_d_over_n_plus_d():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((1000, 2048)), rng.standard_normal((1000, 2048))
    assert linear_cka(x, y) == pytest.approx(2048 / 3048, abs=0.01)  # the inflation the rule guards against
    assert abs(linear_cka(x, y, debiased=True)) < 0.01


def test_headline_uses_debiased_cka_when_samples_are_few_per_dimension():
    assert cka_estimator(252, 64) == "debiased" and cka_estimator(5000, 64) == "biased"
    assert cka_estimator(19 * 64, 64) == "biased" and cka_estimator(19 * 64 - 1, 64) == "debiased"
    assert cka_estimator(NAN, NAN) == "biased"
    for n, want in ((252, 0.3), (5000, 0.9)):
        rows = pd.DataFrame([cka_row(0, "m", 0.9, "biased", n, 64), cka_row(0, "m", 0.3, "debiased", n, 64)])
        got = headline_values(rows).set_index("quantity")
        assert got.loc["cka_to_original", "value"] == want
        assert got.loc["cka_to_original", "estimator"] == ("debiased" if n == 252 else "biased")


# --- the bootstrap ------------------------------------------------------------------------------------------
def test_bootstrap_se_matches_the_binomial_and_degenerate_cases():
    x = (np.random.default_rng(1).random(800) < 0.3).astype(float)
    assert bootstrap_se(x) == pytest.approx(math.sqrt(x.mean() * (1 - x.mean()) / len(x)), rel=0.08)
    assert bootstrap_se(x) == bootstrap_se(x)  # seeded
    assert bootstrap_se(np.zeros(50)) == 0.0 and math.isnan(bootstrap_se(np.ones(1)))
    assert math.isnan(bootstrap_se(np.array([1.0, NAN, 0.0])))


def test_difference_band_combines_both_rows():
    a = {"se_seeds": NAN, "se_eval": 0.03, "n_seeds": 1}
    assert difference_band(a, a) == pytest.approx(1.959964 * math.sqrt(2) * 0.03, rel=1e-5)
    assert difference_band({"se_eval": 0.0}, {"se_eval": 0.0}) == 0.0
    assert math.isnan(difference_band({}, {}))
    wide = difference_band({"se_seeds": 0.03, "n_seeds": 3}, {"se_seeds": 0.0, "n_seeds": 3})
    assert wide == pytest.approx(stats.t.ppf(0.975, 2) * 0.03)


# --- verdict rules on constructed summaries -----------------------------------------------------------------
def est(**means):
    """Estimates with a uniform bootstrap noise of 0.02 (band ≈ 0.055 between two rows) and 3 seeds."""
    return {q: {"mean": v, "se_seeds": 0.0, "se_eval": 0.02, "n_seeds": 3} for q, v in means.items()}


RETRAIN = est(forget_test_acc=0.0, retain_test_acc=0.80, cka_to_original=0.60, probe_forget_test=0.10,
              knn_far=0.70)
ORIGINAL = est(forget_test_acc=0.85, retain_test_acc=0.80, cka_to_original=1.0, probe_forget_test=0.85,
               knn_far=0.72)
FLOOR = est(forget_test_acc=0.84, retain_test_acc=0.80, cka_to_original=0.95, probe_forget_test=0.84,
            knn_far=0.71)
REFS = {"retrain": RETRAIN, "original": ORIGINAL, "original_prime": FLOOR}
GOOD = dict(forget_test_acc=0.03, retain_test_acc=0.79, cka_to_original=0.62, probe_forget_test=0.12, knn_far=0.69)


def judge(refs=REFS, kind="random", **changes):
    return verdict("m", est(**{**GOOD, **changes}), "ok", refs=refs, kind=kind, downstream=["far"])


def test_within_noise_is_no_finding():
    assert judge()[0] == CLOSE
    v, why = judge(forget_test_acc=0.05)  # 0.05 < band 0.055: forgotten within the noise
    assert v == CLOSE and "≤" in why
    assert judge(forget_test_acc=0.07)[0] == NOT_FORGOTTEN
    strict = verdict("m", {**est(**GOOD), "forget_test_acc": {"mean": 0.05, "se_eval": 0.0, "n_seeds": 3}}, "ok",
                     refs={**REFS, "retrain": {**RETRAIN, "forget_test_acc": {"mean": 0.0, "se_eval": 0.0}}},
                     kind="random", downstream=[])
    assert strict[0] == NOT_FORGOTTEN  # the same gap with no noise is a finding
    loose = verdict("m", est(**{**GOOD, "forget_test_acc": 0.07}), "ok", refs=REFS, kind="random",
                    downstream=[], rule=Rule(min_effect=0.05))
    assert loose[0] == CLOSE


def test_retain_collapse_is_not_close_to_retrain():
    v, why = judge(retain_test_acc=0.25)
    assert v == RETAIN_DAMAGED and "retain_test_acc 0.250" in why


def test_probe_equal_to_the_originals_is_superficial():
    v, why = judge(probe_forget_test=0.85)
    assert v == SUPERFICIAL and "probe recovery" in why
    assert judge(cka_to_original=0.96)[0] == SUPERFICIAL  # at the floor's CKA
    assert judge(cka_to_original=0.70)[0] == CLOSE  # beyond retrain's band but not half-way to the floor


def test_nan_probe_with_status_ok_is_undetermined():
    v, why = judge(probe_forget_test=NAN)
    assert v == UNDETERMINED and "probe_forget_test missing" in why
    assert judge(knn_far=NAN)[0] == UNDETERMINED


def test_scenario_that_cannot_tell_gives_no_representation_verdict():
    blind = {**REFS, "original_prime": est(**{**{q: v["mean"] for q, v in FLOOR.items()}, "cka_to_original": 0.62,
                                              "probe_forget_test": 0.11})}
    v, why = judge(refs=blind, cka_to_original=0.99)
    assert v == UNDETERMINED and "cannot separate" in why
    samples = {r: est(forget_train_acc=acc, retain_test_acc=0.8, cka_to_original=c)
               for r, acc, c in (("retrain", 0.9, 0.83), ("original", 1.0, 1.0), ("original_prime", 0.99, 0.83))}
    v, _ = verdict("m", est(forget_train_acc=0.9, retain_test_acc=0.8, cka_to_original=0.85), "ok", refs=samples,
                   kind="samples", downstream=[])
    assert v == UNDETERMINED


def test_report_flags_a_scenario_that_cannot_tell(tmp_path):
    def summary_rows(refs_and_methods):
        out = []
        for method, quantities in refs_and_methods.items():
            for q, e in quantities.items():
                out.append({"scenario": "sc", "method": method, "algorithm": method, "quantity": q, "group": "x",
                            "std": 0.0, "se": e["se_eval"], "df": math.inf, "ci95": 1.96 * e["se_eval"],
                            "estimator": "", "status": "ok", **e})
        return pd.DataFrame(out)

    blind_floor = est(**{**{q: v["mean"] for q, v in FLOOR.items()}, "cka_to_original": 0.61,
                         "probe_forget_test": 0.12})
    for floor, flagged in ((FLOOR, False), (blind_floor, True)):
        summary = summary_rows({**REFS, "original_prime": floor, "m": est(**GOOD)})
        data = load_report_data(summary, scenarios={"sc": {"kind": "random"}})
        note = separation_note(data, "sc")
        assert ("CANNOT SEPARATE METHODS ON REPRESENTATIONS" in note) is flagged, note
        table = scenario_table(data, "sc").set_index("method")
        assert (table.loc["m", "verdict"] == UNDETERMINED) is flagged
