"""Tidy tables behind every figure; :mod:`~unlearnbench.report.plots` draws them and
:mod:`~unlearnbench.report.exports` writes them as CSV for ``dvc plots``. Means over seeds throughout.

* :func:`board` — every scenario's numeric leaderboard stacked (the source of the scalar plots).
* :func:`logit_vs_repr` — per (scenario, method): the forget accuracy that matters for the scenario
  (see :func:`~unlearnbench.report.verdicts.forget_quantity`), its signed gap to retrain
  (method − retrain) ± the method's forget-accuracy ci95, CKA to the original ± ci95, the scenario's logit
  tolerance (``forget_tol``: the noise band of the method's gap) and CKA threshold (the leaderboard's columns;
  for a board without them NaN / :func:`~unlearnbench.report.verdicts.cka_threshold` of its reference rows),
  the verdict.
* :func:`knn` / :func:`probe` — downstream k-NN accuracy per downstream set / linear-probe recovery on the
  forget-test classes, with ci95.
* :func:`cka_layers` — linear CKA (the rows of :data:`~unlearnbench.report.sources.LAYER_CKA_FILTER`) per
  layer in network order, to each reference: mean and ci95 over seeds (t-interval of the seeds' spread;
  NaN with one seed).
* :func:`curves` — per-epoch training (references) and unlearning (methods) curves from the sidecars.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from unlearnbench.report.leaderboard import scenario_table
from unlearnbench.report.sources import REFERENCES, ReportData, layer_order
from unlearnbench.report.layout import REFERENCE_ROWS
from unlearnbench.report.verdicts import DEFAULT_RULE, DOWNSTREAM_KNN, Rule, cka_threshold, forget_quantity

ROLE = {"original": "original", "retrain": "retrain", "original_prime": "floor"}


def role(method: str) -> str:
    return ROLE.get(method, "method")


def board(data: ReportData, th: Rule = DEFAULT_RULE) -> pd.DataFrame:
    tables = [scenario_table(data, sc, th).assign(scenario=sc) for sc in data.scenarios]
    if not tables:
        return pd.DataFrame(columns=["scenario", "method"])
    out = pd.concat(tables, ignore_index=True)
    return out[["scenario", *[c for c in out.columns if c != "scenario"]]]


def _row(frame: pd.DataFrame, method: str) -> dict | None:
    rows = frame[frame["method"] == method]
    return rows.iloc[0].to_dict() if len(rows) else None


def _column(rows: pd.DataFrame, col: str, default) -> pd.Series:
    """``rows[col]`` where the board has it (NaN filled with ``default``), else ``default`` everywhere."""
    if col in rows:
        return rows[col].astype(float).fillna(default)
    return pd.Series(default, index=rows.index, dtype=float)


def _cka_threshold(rows: pd.DataFrame) -> float:
    """The verdicts' CKA threshold from the board's reference rows (for boards without the column)."""
    refs = {}
    for r in REFERENCE_ROWS:
        row = _row(rows, r)
        if row is not None:
            refs[r] = {"cka_to_original": {"mean": row.get("cka_to_original", math.nan)}}
    return cka_threshold(refs)


def logit_vs_repr(data: ReportData, board_: pd.DataFrame, th: Rule = DEFAULT_RULE) -> pd.DataFrame:
    parts = []
    for sc, rows in board_.groupby("scenario", sort=False):
        fq = forget_quantity(data.scenarios.get(sc, {}).get("kind", "class"))
        ref = _row(rows, "retrain")
        ref_acc = ref[fq] if ref else float("nan")
        nan = pd.Series(math.nan, index=rows.index, dtype=float)
        parts.append(pd.DataFrame({
            "scenario": sc, "method": rows["method"], "role": rows["method"].map(role), "forget_quantity": fq,
            "forget_acc": rows[fq], "retrain_forget_acc": ref_acc, "forget_gap": rows[fq] - ref_acc,
            "forget_gap_ci95": rows.get(f"{fq}_ci95", nan), "cka_to_original": rows["cka_to_original"],
            "cka_to_original_ci95": rows.get("cka_to_original_ci95", nan),
            "forget_tol": _column(rows, "forget_tol", math.nan),
            "cka_threshold": _column(rows, "cka_threshold", _cka_threshold(rows)),
            "verdict": rows["verdict"]}))
    cols = ["scenario", "method", "role", "forget_quantity", "forget_acc", "retrain_forget_acc", "forget_gap",
            "forget_gap_ci95", "cka_to_original", "cka_to_original_ci95", "forget_tol", "cka_threshold", "verdict"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def knn(data: ReportData, board_: pd.DataFrame) -> pd.DataFrame:
    knn_columns = {ds: DOWNSTREAM_KNN.column(ds) for ds in data.downstream()}
    parts = [pd.DataFrame({"scenario": board_["scenario"], "method": board_["method"],
                           "role": board_["method"].map(role), "downstream": ds, "knn_acc": board_[col],
                           "ci95": board_[f"{col}_ci95"]}) for ds, col in knn_columns.items()]
    cols = ["scenario", "method", "role", "downstream", "knn_acc", "ci95"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def probe(board_: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"scenario": board_["scenario"], "method": board_["method"],
                         "role": board_["method"].map(role), "probe_acc": board_.get("probe_forget_test"),
                         "ci95": board_.get("probe_forget_test_ci95")})


def _ci95(std: pd.Series, n: pd.Series) -> np.ndarray:
    n = n.to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf(0.975, np.where(n > 1, n - 1, np.nan))
        return np.where(n > 1, t * std.to_numpy(dtype=float) / np.sqrt(n), np.nan)


def cka_layers(data: ReportData) -> pd.DataFrame:
    cols = ["scenario", "method", "role", "reference", "layer", "layer_index", "cka", "ci95", "n_seeds"]
    frame = data.layer_cka
    if frame.empty:
        return pd.DataFrame(columns=cols)
    order = {name: i for i, name in enumerate(layer_order(frame["layer"]))}
    out = (frame.groupby(["scenario", "method", "reference", "layer"])["value"]
           .agg(cka="mean", std="std", n_seeds="count").reset_index())
    out["ci95"] = _ci95(out["std"], out["n_seeds"])
    out["layer_index"] = out["layer"].map(order)
    out["role"] = out["method"].map(role)
    return out.sort_values(["scenario", "reference", "method", "layer_index"])[cols].reset_index(drop=True)


def curves(data: ReportData) -> pd.DataFrame:
    cols = ["scenario", "method", "role", "phase", "epoch", "key", "value", "n_seeds"]
    frame = data.curves
    if frame.empty:
        return pd.DataFrame(columns=cols)
    out = (frame.groupby(["scenario", "method", "phase", "epoch", "key"])["value"]
           .agg(value="mean", n_seeds="count").reset_index())
    out["role"] = out["method"].map(role)
    return out[cols]


def _over_seeds(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = rows.groupby(keys, dropna=False)["value"].agg(value="mean", std="std", n_seeds="count").reset_index()
    out["ci95"] = _ci95(out["std"], out["n_seeds"])
    out["role"] = out["method"].map(role)
    return out


def relearn_curves(data: ReportData) -> pd.DataFrame:
    """Relearning curves (recovery attacks with a ``step``): mean forget accuracy ± ci95 over seeds per
    (scenario, method, attack, step)."""
    cols = ["scenario", "method", "role", "attack", "split", "step", "value", "ci95", "n_seeds"]
    rows = data.relearn[data.relearn["step"].notna()] if len(data.relearn) else data.relearn
    if rows.empty:
        return pd.DataFrame(columns=cols)
    out = _over_seeds(rows.assign(step=rows["step"].astype(int)), ["scenario", "method", "variant", "split", "step"])
    return out.rename(columns={"variant": "attack"}).sort_values(["scenario", "attack", "method", "step"])[cols] \
        .reset_index(drop=True)


def tuning(data: ReportData) -> pd.DataFrame:
    """Every searched tuning point per (scenario, method) with its validation accuracies, score and whether it
    was chosen (:func:`unlearnbench.report.sources.load_tuning`), in search order."""
    return data.tuning.sort_values(["scenario", "method", "point"]).reset_index(drop=True)


def layer_probe(data: ReportData) -> pd.DataFrame:
    """Per-layer probe recovery of the forgotten classes (forget-test): mean ± ci95 over seeds, network order."""
    cols = ["scenario", "method", "role", "layer", "layer_index", "value", "ci95", "n_seeds"]
    rows = data.relearn
    rows = rows[(rows["variant"] == "layer_probe") & (rows["split"] == "forget_test")] if len(rows) else rows
    if rows.empty:
        return pd.DataFrame(columns=cols)
    order = {name: i for i, name in enumerate(layer_order(rows["layer"]))}
    out = _over_seeds(rows, ["scenario", "method", "layer"])
    out["layer_index"] = out["layer"].map(order)
    return out.sort_values(["scenario", "method", "layer_index"])[cols].reset_index(drop=True)


__all__ = ["board", "logit_vs_repr", "knn", "probe", "cka_layers", "curves", "relearn_curves", "layer_probe", "tuning",
           "REFERENCES"]
