"""The leaderboard against numbers computed by hand (plain arithmetic and ``scipy.stats.t.ppf``), not against
the aggregate code that produced them: a tiny results table of 3 seeds, with every expected gap, harmonic
score, mean, standard error, Welch df and 95 % half-width written out from the formulas of
:mod:`unlearnbench.aggregate`'s docstring:

* gap of a headline m = |m(method) − m(retrain)| (same scenario and seed); ``gap_logit`` / ``gap_repr`` the mean
  gap over the logit / representation headlines; ``harmonic`` = 2·(1−g_l)·(1−g_r) / ((1−g_l) + (1−g_r)).
* over seeds: mean, sample std, se_seeds = std/√n, se_eval = √(mean over seeds of se²), se = √(se_seeds² +
  se_eval²), df = se⁴ / (se_seeds⁴/(n−1)) (Welch–Satterthwaite, the bootstrap part with df ∞), ci95 =
  t_{0.975, df}·se.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.stats import t as student_t

from unlearnbench.aggregate import per_seed_summary, summarise_seeds
from unlearnbench.report import layout
from unlearnbench.report.leaderboard import scenario_table, write_leaderboards
from unlearnbench.report.sources import load_report_data

SEEDS = (0, 1, 2)
# raw headline values per seed: (forget_test_acc, retain_test_acc, cka_to_original, probe_forget_test)
VALUES = {
    "retrain":  [(0.00, 0.80, 0.60, 0.10), (0.02, 0.82, 0.62, 0.12), (0.01, 0.78, 0.58, 0.08)],
    "original": [(0.90, 0.80, 1.00, 0.80), (0.88, 0.82, 1.00, 0.84), (0.92, 0.80, 1.00, 0.78)],
    "good":     [(0.10, 0.78, 0.80, 0.30), (0.06, 0.80, 0.70, 0.22), (0.13, 0.80, 0.66, 0.18)],
    "meh":      [(0.30, 0.70, 0.90, 0.50), (0.20, 0.72, 0.92, 0.52), (0.40, 0.68, 0.88, 0.48)],
}
# bootstrap standard errors of the accuracy rows, per seed (the `se` column of the raw results)
ACC_SE = (0.01, 0.02, 0.02)
# the same gaps, worked out by hand from VALUES (per seed: forget-test, retain-test | CKA, probe)
GAPS = {
    "retrain":  [(0.00, 0.00, 0.00, 0.00)] * 3,
    "original": [(0.90, 0.00, 0.40, 0.70), (0.86, 0.00, 0.38, 0.72), (0.91, 0.02, 0.42, 0.70)],
    "good":     [(0.10, 0.02, 0.20, 0.20), (0.04, 0.02, 0.08, 0.10), (0.12, 0.02, 0.08, 0.10)],
    "meh":      [(0.30, 0.10, 0.30, 0.40), (0.18, 0.10, 0.30, 0.40), (0.39, 0.10, 0.30, 0.40)],
}


def raw_results() -> pd.DataFrame:
    base = {"scenario": "cls", "evalset": "", "variant": "", "layer": "", "reference": "", "status": "ok"}
    rows = []
    for method, per_seed in VALUES.items():
        for seed, (ft, rt, cka, probe) in zip(SEEDS, per_seed):
            run = {**base, "seed": seed, "method": method, "algorithm": f"alg_{method}"}
            rows += [
                {**run, "metric": "accuracy", "split": "forget_test", "value": ft, "se": ACC_SE[seed]},
                {**run, "metric": "accuracy", "split": "retain_test", "value": rt, "se": ACC_SE[seed]},
                {**run, "metric": "cka", "variant": "biased", "layer": "pre_logits", "reference": "original",
                 "split": "forget_train", "evalset": "train", "value": cka, "se": math.nan},
                {**run, "metric": "probe", "layer": "pre_logits", "split": "forget_test", "value": probe,
                 "se": math.nan},
            ]
    return pd.DataFrame(rows)


def mean(xs):
    return sum(xs) / len(xs)


def sample_std(xs):
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def harmonic(gap_logit, gap_repr):
    a, b = 1 - gap_logit, 1 - gap_repr
    return 2 * a * b / (a + b)


def noise(per_seed, se_per_seed=None):
    """(mean, std, se, df, ci95) of one quantity over seeds, written out (see the module docstring)."""
    n = len(per_seed)
    std = sample_std(per_seed)
    se_seeds = std / math.sqrt(n)
    if se_per_seed is None:  # derived quantities carry no bootstrap part: se = se_seeds, df = n − 1
        se, df = se_seeds, n - 1
    else:
        se_eval = math.sqrt(sum(s * s for s in se_per_seed) / n)
        se = math.sqrt(se_seeds ** 2 + se_eval ** 2)
        df = se ** 4 / (se_seeds ** 4 / (n - 1)) if se_seeds > 0 else math.inf
    if se_seeds == 0 and se_per_seed is None:
        return mean(per_seed), std, 0.0, math.inf, 0.0
    return mean(per_seed), std, se, df, student_t.ppf(0.975, df) * se


def expected_derived():
    """{method: {quantity: per-seed values}} of gap_logit, gap_repr and harmonic from GAPS."""
    out = {}
    for method, per_seed in GAPS.items():
        gl = [(ft + rt) / 2 for ft, rt, _, _ in per_seed]
        gr = [(cka + probe) / 2 for _, _, cka, probe in per_seed]
        out[method] = {"gap_logit": gl, "gap_repr": gr, "harmonic": [harmonic(a, b) for a, b in zip(gl, gr)]}
    return out


def test_hand_gaps_match_the_values():
    """The hand-written GAPS table is what the definition gives on VALUES (guards the fixture itself)."""
    for method, per_seed in VALUES.items():
        for seed, row in enumerate(per_seed):
            ref = VALUES["retrain"][seed]
            assert GAPS[method][seed] == pytest.approx(tuple(abs(a - b) for a, b in zip(row, ref)), abs=1e-12)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    results = raw_results()
    summary = summarise_seeds(per_seed_summary(results))
    data = load_report_data(summary, results=results,
                            scenarios={"cls": {"kind": "random", "methods": ["original", "retrain", "good", "meh"]}})
    out = tmp_path_factory.mktemp("board")
    write_leaderboards(data, out)
    return summary, scenario_table(data, "cls").set_index("method"), out


def test_per_seed_gaps_and_harmonic_equal_hand_values():
    per_seed = per_seed_summary(raw_results())
    got = per_seed[per_seed["group"] == "derived"].set_index(["method", "seed", "quantity"])["value"]
    for method, quantities in expected_derived().items():
        for quantity, values in quantities.items():
            for seed, value in zip(SEEDS, values):
                assert got[(method, seed, quantity)] == pytest.approx(value, abs=1e-12), (method, seed, quantity)
    # e.g. "good", seed 0: gap_logit (0.10 + 0.02)/2 = 0.06, gap_repr (0.20 + 0.20)/2 = 0.20,
    # harmonic 2·0.94·0.80/1.74 = 0.864368…
    assert got[("good", 0, "harmonic")] == pytest.approx(2 * 0.94 * 0.80 / 1.74, abs=1e-12)


def test_summary_and_leaderboard_equal_hand_computed_means_and_ci(board):
    summary, table, _ = board
    rows = summary[summary["scenario"] == "cls"].set_index(["method", "quantity"])
    checked = 0
    for method, quantities in expected_derived().items():
        for quantity, values in quantities.items():
            m, std, se, df, ci = noise(values)
            row = rows.loc[(method, quantity)]
            assert row["n_seeds"] == 3
            assert row["mean"] == pytest.approx(m, abs=1e-12) and row["std"] == pytest.approx(std, abs=1e-12)
            assert row["ci95"] == pytest.approx(ci, abs=1e-12), (method, quantity)
            if method != "retrain":
                assert row["se"] == pytest.approx(se, abs=1e-12) and row["df"] == pytest.approx(df, abs=1e-9)
            assert table.loc[method, quantity] == pytest.approx(m, abs=1e-12)
            assert table.loc[method, f"{quantity}_ci95"] == pytest.approx(ci, abs=1e-12)
            checked += 1
    assert checked == 12
    # a headline with a bootstrap part: forget-test accuracy of "good" (values 0.10, 0.06, 0.13; se .01, .02, .02)
    m, std, se, df, ci = noise([0.10, 0.06, 0.13], ACC_SE)
    assert (m, std) == pytest.approx((0.29 / 3, math.sqrt(((0.10 - m) ** 2 + (0.06 - m) ** 2 + (0.13 - m) ** 2) / 2)))
    row = rows.loc[("good", "forget_test_acc")]
    assert row["se_eval"] == pytest.approx(math.sqrt((0.01 ** 2 + 0.02 ** 2 + 0.02 ** 2) / 3), abs=1e-12)
    assert row["se_seeds"] == pytest.approx(std / math.sqrt(3), abs=1e-12)
    assert row["se"] == pytest.approx(se, abs=1e-12) and row["df"] == pytest.approx(df, rel=1e-9)
    assert 2 < df < 30 and row["ci95"] == pytest.approx(ci, abs=1e-12)
    assert table.loc["good", "forget_test_acc_ci95"] == pytest.approx(ci, abs=1e-12)


def test_leaderboard_order_and_rendered_cells_follow_hand_scores(board):
    _, table, out = board
    scores = {m: mean(q["harmonic"]) for m, q in expected_derived().items()}
    assert scores["retrain"] == 1.0 and scores["good"] > scores["meh"] > scores["original"]
    # retrain first, then by harmonic score, best first
    assert list(table.index) == ["retrain", "good", "meh", "original"] and list(table["rank"]) == [1, 2, 3, 4]
    md = layout.leaderboard_file(out, "cls", "md").read_text()
    good = next(line for line in md.splitlines() if line.startswith("| 2 | good (alg_good) |"))
    for quantity in ("gap_logit", "gap_repr", "harmonic"):
        m, _, _, _, ci = noise(expected_derived()["good"][quantity])
        assert f"| {m:.3f} ± {ci:.3f} |" in good, (quantity, good)
    # hand check of one cell: good's harmonic over seeds 0.8644, 0.9390, 0.9199 …
    h = [harmonic(0.06, 0.20), harmonic(0.03, 0.09), harmonic(0.07, 0.09)]
    half = student_t.ppf(0.975, 2) * sample_std(h) / math.sqrt(3)
    assert f"{mean(h):.3f} ± {half:.3f}" in good
    csv = pd.read_csv(layout.leaderboard_file(out, "cls", "csv")).set_index("method")
    assert csv.loc["good", "harmonic"] == pytest.approx(mean(h), abs=1e-12)
    assert csv.loc["good", "harmonic_ci95"] == pytest.approx(half, abs=1e-12)
