"""``aggregate``: concatenate every evaluation's rows, then derive per-method summaries.

Derived quantities (never stored in the raw results, only here):

* Headline metrics (:data:`HEADLINES`), each a selection of raw rows, grouped as *logit* metrics
  (accuracies on the four splits, MIA) or *representation* metrics (pre-logit linear CKA to the original
  and to the retrained model on forget-train, downstream k-NN accuracy, forget-test k-NN against a train
  bank, linear-probe recovery on forget-test).
* Gap to retrain of a headline metric m: ``|m(method) − m(retrain)|`` for the same scenario and seed.
* ``gap_logit`` = mean gap over the logit headlines; ``gap_repr`` = mean gap over the representation
  headlines (both in [0, 1] since every headline is in [0, 1]; 0 = indistinguishable from retrain).
* ``harmonic`` = 2·(1−gap_logit)·(1−gap_repr) / ((1−gap_logit) + (1−gap_repr)): the harmonic mean of the
  two "closeness to retrain" scores, high only when *both* logit and representation forgetting match the
  retrained model (a method that hides classes in the logits only scores low).
* Over seeds: mean, sample standard deviation and the 95 % confidence half-width
  ``t_{0.975, n−1} · s / √n`` (NaN with one seed).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from unlearnbench.atomic import atomic_path
from unlearnbench.results import read_results, write_results

PRE = "pre_logits"
#: (name, group, selector on raw rows); `{ds}` expands to every downstream eval set
HEADLINES: list[tuple[str, str, dict[str, str]]] = [
    ("forget_train_acc", "logit", {"metric": "accuracy", "split": "forget_train"}),
    ("retain_train_acc", "logit", {"metric": "accuracy", "split": "retain_train"}),
    ("forget_test_acc", "logit", {"metric": "accuracy", "split": "forget_test"}),
    ("retain_test_acc", "logit", {"metric": "accuracy", "split": "retain_test"}),
    ("mia_svc", "logit", {"metric": "mia", "variant": "svc", "split": "forget_train"}),
    ("mia_loss_auc", "logit", {"metric": "mia", "variant": "loss_threshold"}),
    ("cka_to_original", "repr", {"metric": "cka", "variant": "biased", "layer": PRE, "reference": "original",
                                 "split": "forget_train"}),
    ("cka_to_retrain", "repr", {"metric": "cka", "variant": "biased", "layer": PRE, "reference": "retrain",
                                "split": "forget_train"}),
    ("knn_{ds}", "repr", {"metric": "knn", "variant": "prelogit", "layer": PRE, "split": "all"}),
    ("knn_forget_test", "repr", {"metric": "knn", "variant": "prelogit", "layer": PRE, "split": "forget_test_vs_bank"}),
    ("probe_forget_test", "repr", {"metric": "probe", "layer": PRE, "split": "forget_test"}),
]
RUN = ["scenario", "seed", "method"]


def headline_values(results: pd.DataFrame) -> pd.DataFrame:
    """Long table (scenario, seed, method, algorithm, status, quantity, group, value) of headline metrics."""
    parts = []
    for name, group, sel in HEADLINES:
        mask = np.ones(len(results), dtype=bool)
        for col, val in sel.items():
            mask &= results[col].to_numpy() == val
        rows = results[mask]
        if "{ds}" in name:
            rows = rows.assign(quantity=name.replace("{ds}", "") + rows["evalset"])
        else:
            rows = rows.assign(quantity=name)
        parts.append(rows.assign(group=group)[RUN + ["algorithm", "status", "quantity", "group", "value"]])
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return out.drop_duplicates(RUN + ["quantity"])


def per_seed_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Headlines plus gaps to retrain and the harmonic score, per (scenario, seed, method)."""
    values = headline_values(results)
    ref = values[values["method"] == "retrain"][["scenario", "seed", "quantity", "value"]]
    merged = values.merge(ref.rename(columns={"value": "retrain_value"}), on=["scenario", "seed", "quantity"],
                          how="left")
    merged["gap"] = (merged["value"] - merged["retrain_value"]).abs()
    gaps = merged.groupby(RUN + ["group"])["gap"].mean().unstack("group")
    gaps = gaps.reindex(columns=["logit", "repr"]).rename(columns={"logit": "gap_logit", "repr": "gap_repr"})
    closeness_l, closeness_r = 1 - gaps["gap_logit"], 1 - gaps["gap_repr"]
    denom = closeness_l + closeness_r
    harmonic = np.where(denom > 0, 2 * closeness_l * closeness_r / denom.where(denom > 0, 1), 0.0)
    gaps["harmonic"] = np.where(denom.isna(), np.nan, harmonic)  # a diverged run has no score, not 0
    derived = gaps.reset_index().melt(id_vars=RUN, var_name="quantity", value_name="value")
    derived["group"] = "derived"
    info = values.drop_duplicates(RUN)[RUN + ["algorithm", "status"]]
    derived = derived.merge(info, on=RUN, how="left")
    return pd.concat([values, derived[values.columns]], ignore_index=True)


def summarise_seeds(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and 95 % CI half-width over seeds of every quantity, per (scenario, method)."""
    def ci(x: pd.Series) -> float:
        x = x.dropna()
        if len(x) < 2:
            return float("nan")
        return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))

    keys = ["scenario", "method", "algorithm", "quantity", "group"]
    grouped = per_seed.groupby(keys, sort=True)["value"]
    out = grouped.agg(mean="mean", std="std", n_seeds="count").reset_index()
    out["ci95"] = grouped.apply(ci).to_numpy()
    status = per_seed.groupby(["scenario", "method"])["status"].agg(
        lambda s: "ok" if (s == "ok").all() else f"diverged ({(s != 'ok').sum()}/{len(s)} runs)")
    return out.merge(status.reset_index(), on=["scenario", "method"], how="left")


def aggregate(inputs: list[str | Path], out_results: str | Path, out_summary: str | Path,
              out_csv: str | Path) -> pd.DataFrame:
    from unlearnbench.workflow import phase

    with phase("load"):
        results = read_results(*inputs)
    with phase("write"):
        write_results(results, out_results)
    with phase("compute"):
        summary = summarise_seeds(per_seed_summary(results))
    with phase("write"):
        with atomic_path(out_summary, suffix=".tmp.parquet") as tmp:
            summary.to_parquet(tmp, index=False)
        with atomic_path(out_csv, suffix=".tmp.csv") as tmp:
            summary.to_csv(tmp, index=False, float_format="%.6g")
    return summary
