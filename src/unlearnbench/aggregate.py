"""``aggregate``: concatenate every evaluation's rows, then derive per-method summaries with their noise.

Derived quantities (never stored in the raw results, only here):

* Headline metrics (:data:`HEADLINES`, declared with every other quantity in :mod:`unlearnbench.headlines`),
  each a selection of raw rows, grouped as *logit* metrics
  (accuracies on the four splits, MIA) or *representation* metrics (pre-logit linear CKA to the original
  and to the retrained model on forget-train, downstream k-NN accuracy, forget-test k-NN against a train
  bank, linear-probe recovery on forget-test).
* CKA headline estimator (:func:`cka_estimator`): the biased linear CKA of independent isotropic features
  is ≈ d / (n + d) (n samples, d dimensions; 0.67 at 1 000 × 2 048), so with few samples per dimension it
  reads similarity into noise. The headline uses the **debiased** estimator (Song et al. 2012 HSIC_1, as in
  Nguyen, Raghu, Kornblith 2021) whenever that null value exceeds 0.05, i.e. n < 19·d, and the biased one
  (Kornblith et al. 2019) otherwise; the column ``estimator`` of the summary records which.
* Gap to retrain of a headline metric m: ``|m(method) − m(retrain)|`` for the same scenario and seed.
* ``gap_logit`` = mean gap over the logit headlines; ``gap_repr`` = mean gap over the representation
  headlines (both in [0, 1]; 0 = indistinguishable from retrain). Every headline the retrained model has in
  that scenario and seed is expected: a missing or NaN value makes the gap (and the harmonic score) NaN —
  undetermined, never better.
* ``harmonic`` = 2·(1−gap_logit)·(1−gap_repr) / ((1−gap_logit) + (1−gap_repr)): the harmonic mean of the
  two "closeness to retrain" scores, high only when *both* logit and representation forgetting match the
  retrained model (a method that hides classes in the logits only scores low).
* Second opinions on CKA (group ``similarity``, not part of the gaps): orthogonal Procrustes similarity and
  mutual k-NN alignment to the original (pre-logits, forget-train); the leaderboard notes where they order
  the methods differently from CKA.
* Recovery headlines (group ``recovery``, not part of the gaps): forget-test accuracy after the prototype
  attack, area under the few-shot and retain-only relearning curves, few-shot relearn time in steps; and
  ``anamnesis`` = relearn time of the model / relearn time of the retrained model in the same seed (the
  Anamnesis Index of Chundawat et al. 2023: < 1 = the class comes back faster than learning it from
  scratch; censored relearn times make it a bound, docs/attacks.md).

Over seeds (:func:`summarise_seeds`), per quantity: ``mean`` (NaN when any seed is NaN: a diverged seed
makes the mean undetermined), ``std`` (sample), ``n_seeds``, and its noise from two independent sources:
``se_seeds`` = std/√n (model variance; NaN with one seed) and ``se_eval`` = the root-mean-square over seeds
of each value's bootstrap standard error over the evaluated samples (finite eval sets; the ``se`` column of
the raw rows, :mod:`unlearnbench.metrics.uncertainty`; not divided by √n because every seed is scored on
the same images). ``se`` = √(se_seeds² + se_eval²); ``df`` its Welch–Satterthwaite degrees of freedom
(n − 1 for the seed part, ∞ for the bootstrap part); ``ci95`` = t_{0.975, df}·se, the half-width shown as
"±" everywhere. :func:`difference_band` gives the same half-width for the difference of two summaries:
the noise band the verdicts compare gaps with (:mod:`unlearnbench.report.verdicts`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from unlearnbench.atomic import atomic_path
from unlearnbench.headlines import CKA_HEADLINE, HEADLINE_TABLE, PRE  # noqa: F401 (PRE: re-exported)
from unlearnbench.results import read_results, write_results

#: the biased CKA's null value d/(n + d) above which the headline switches to the debiased estimator
MAX_BIASED_NULL = 0.05
CKA_ESTIMATORS = ("biased", "debiased")
# every quantity is declared once in unlearnbench.headlines; these views are what the summary reads
#: (name, group, selector on raw rows) of the selected quantities; `{ds}` expands to every downstream eval set
HEADLINES: list[tuple[str, str, dict[str, str]]] = [(h.name, h.group, dict(h.select)) for h in HEADLINE_TABLE
                                                    if h.select is not None]
#: recovery headlines compared with the retrained control by the ``recoverable`` verdict (higher = recovers more)
RECOVERY = tuple(h.name for h in HEADLINE_TABLE if h.recovery_verdict)
#: quantities :func:`per_seed_summary` derives from the headlines (group ``derived``)
DERIVED = tuple(h.name for h in HEADLINE_TABLE if h.select is None)
#: one line per summary quantity (``{ds}`` is a downstream set): the glossary of the report's landing page
QUANTITY_HELP: dict[str, str] = {h.name: h.help for h in HEADLINE_TABLE}
#: one line per column of ``summary.parquet`` (:func:`summarise_seeds`), for the glossary
SUMMARY_COLUMN_HELP: dict[str, str] = {
    "scenario": "forget scenario (a `scenarios[].name` of the config)",
    "method": "method instance (a `methods` key), or a reference row: original, original_prime, retrain",
    "algorithm": "the registered algorithm the instance runs",
    "quantity": "what is summarised: a headline metric or a derived score (see the quantities)",
    "group": "logit / repr (the two gaps), similarity, recovery, derived",
    "mean": "mean over seeds (NaN when any seed is NaN: undetermined, never better)",
    "std": "sample standard deviation over seeds",
    "n_seeds": "number of replicate seeds",
    "estimator": "the CKA estimator of a CKA headline (biased or debiased, by the samples-per-dimension rule)",
    "se_seeds": "standard error over seeds, std/√n (model variance; NaN with one seed)",
    "se_eval": "RMS over seeds of the bootstrap standard error over the evaluated samples",
    "se": "√(se_seeds² + se_eval²)",
    "df": "Welch–Satterthwaite degrees of freedom of se",
    "ci95": "95 % CI half-width t₀.₉₇₅,df · se: the “±” of every table and error bar",
    "status": "ok, or the non-ok runs counted (diverged, no-op: never a success)",
}
RUN = ["scenario", "seed", "method"]
VALUE_COLUMNS = RUN + ["algorithm", "status", "quantity", "group", "value", "se", "estimator"]


def cka_estimator(n: float, dim: float) -> str:
    """``debiased`` when the biased CKA of independent features, d/(n + d), exceeds :data:`MAX_BIASED_NULL`
    (n < 19·d); ``biased`` otherwise or when n/d are unknown (results written before they were recorded)."""
    if n is None or dim is None or not (math.isfinite(n) and math.isfinite(dim)) or n <= 0:
        return "biased"
    return "debiased" if dim / (n + dim) > MAX_BIASED_NULL else "biased"


def _select(results: pd.DataFrame, sel: dict[str, str]) -> pd.DataFrame:
    mask = np.ones(len(results), dtype=bool)
    for col, val in sel.items():
        if col == "variant" and val == CKA_HEADLINE:
            mask &= results[col].isin(CKA_ESTIMATORS).to_numpy()
        else:
            mask &= results[col].to_numpy() == val
    return results[mask]


def resolve_cka_estimator(rows: pd.DataFrame, by: tuple[str, ...] = ("scenario",)) -> pd.DataFrame:
    """Keep, per group ``by`` (a scenario; for per-layer CKA a scenario and layer), the rows of the estimator
    :func:`cka_estimator` picks for that group's n and d — one choice per group, so every method is compared
    with its references on the same estimator — and name it in an ``estimator`` column."""
    rows = rows[rows["variant"].isin(CKA_ESTIMATORS)]
    if rows.empty:
        return rows.assign(estimator=pd.Series(dtype=str))
    n = rows["n"] if "n" in rows else pd.Series(np.nan, index=rows.index)
    d = rows["dim"] if "dim" in rows else pd.Series(np.nan, index=rows.index)
    sizes = rows[list(by)].assign(n=n.astype(float), dim=d.astype(float))
    per_group = sizes.groupby(list(by)).agg(n=("n", "min"), dim=("dim", "max"))
    chosen = pd.Series({key: cka_estimator(r.n, r.dim) for key, r in per_group.iterrows()}, dtype=object)
    keys = pd.MultiIndex.from_frame(rows[list(by)]) if len(by) > 1 else pd.Index(rows[by[0]])
    keep = rows["variant"].to_numpy() == chosen.reindex(keys).to_numpy()
    return rows[keep].assign(estimator=rows.loc[keep, "variant"])


def headline_values(results: pd.DataFrame) -> pd.DataFrame:
    """Long table (:data:`VALUE_COLUMNS`) of headline metrics, one row per run and quantity."""
    parts = []
    for name, group, sel in HEADLINES:
        rows = _select(results, sel)
        rows = resolve_cka_estimator(rows) if sel.get("variant") == CKA_HEADLINE else rows.assign(estimator="")
        if "{ds}" in name:
            rows = rows.assign(quantity=name.replace("{ds}", "") + rows["evalset"])
        else:
            rows = rows.assign(quantity=name)
        if "se" not in rows:
            rows = rows.assign(se=np.nan)
        parts.append(rows.assign(group=group)[VALUE_COLUMNS])
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=VALUE_COLUMNS)
    return out.drop_duplicates(RUN + ["quantity"])


def per_seed_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Headlines plus gaps to retrain and the harmonic score, per (scenario, seed, method)."""
    values = headline_values(results)
    ref = values[values["method"] == "retrain"][["scenario", "seed", "quantity", "group", "value"]]
    runs = values.drop_duplicates(RUN)[RUN + ["algorithm", "status"]]
    # every quantity the retrained model has in (scenario, seed) is expected of every run there
    expected = runs.merge(ref.rename(columns={"value": "retrain_value"}), on=["scenario", "seed"], how="left")
    expected = expected.merge(values[RUN + ["quantity", "value"]], on=RUN + ["quantity"], how="left")
    expected["gap"] = (expected["value"] - expected["retrain_value"]).abs()
    gaps = (expected.dropna(subset=["group"]).groupby(RUN + ["group"])["gap"]
            .agg(lambda g: g.mean(skipna=False)).unstack("group"))
    gaps = gaps.reindex(columns=["logit", "repr"]).rename(columns={"logit": "gap_logit", "repr": "gap_repr"})
    gaps = gaps.reindex(pd.MultiIndex.from_frame(runs[RUN]))
    closeness_l, closeness_r = 1 - gaps["gap_logit"], 1 - gaps["gap_repr"]
    denom = closeness_l + closeness_r
    harmonic = np.where(denom > 0, 2 * closeness_l * closeness_r / denom.where(denom > 0, 1), 0.0)
    gaps["harmonic"] = np.where(denom.isna(), np.nan, harmonic)  # undetermined (missing metric), not 0
    gaps["anamnesis"] = _anamnesis(values).reindex(gaps.index)
    derived = gaps.reset_index().melt(id_vars=RUN, var_name="quantity", value_name="value")
    derived = derived.assign(group="derived", se=np.nan, estimator="").merge(runs, on=RUN, how="left")
    return pd.concat([values, derived[VALUE_COLUMNS]], ignore_index=True)


def _anamnesis(values: pd.DataFrame) -> pd.Series:
    """Few-shot relearn time of each run over the retrained model's in the same (scenario, seed); NaN without
    both, or when the retrained model needs no step (it already sits at the target)."""
    steps = values[values["quantity"] == "fewshot_steps"]
    ref = steps[steps["method"] == "retrain"].set_index(["scenario", "seed"])["value"]
    denom = ref.reindex(pd.MultiIndex.from_frame(steps[["scenario", "seed"]])).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(denom > 0, steps["value"].to_numpy(dtype=float) / denom, np.nan)
    return pd.Series(ratio, index=pd.MultiIndex.from_frame(steps[RUN]), dtype=float)


def _welch_df(se_seeds: np.ndarray, n_seeds: np.ndarray, se_eval: np.ndarray) -> np.ndarray:
    """Welch–Satterthwaite df of se² = se_seeds² (df n − 1) + se_eval² (df ∞)."""
    v_seed = np.nan_to_num(se_seeds ** 2)
    v_eval = np.nan_to_num(se_eval ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v_seed + v_eval) ** 2 / (v_seed ** 2 / np.maximum(n_seeds - 1, 1))
    return np.where(v_seed > 0, df, np.inf)


def t_quantile(df: np.ndarray | float, confidence: float = 0.95) -> np.ndarray:
    """Two-sided t quantile (normal for infinite df)."""
    df = np.asarray(df, dtype=float)
    q = 0.5 + confidence / 2
    return np.where(np.isinf(df), stats.norm.ppf(q), stats.t.ppf(q, np.where(np.isinf(df), 1, df)))


def summarise_seeds(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and noise (se_seeds, se_eval, se, df, ci95) over seeds of every quantity, per (scenario,
    method); see the module docstring for the formulas."""
    keys = ["scenario", "method", "algorithm", "quantity", "group"]
    frame = per_seed.assign(se2=per_seed["se"].astype(float) ** 2, estimator=per_seed["estimator"].fillna(""))
    grouped = frame.groupby(keys, sort=True)
    out = grouped["value"].agg(mean=lambda v: v.mean(skipna=False), std="std", n_seeds="count").reset_index()
    out["estimator"] = grouped["estimator"].agg(lambda e: ",".join(sorted(set(e) - {""}))).to_numpy()
    n = out["n_seeds"].to_numpy(dtype=float)
    out["se_seeds"] = np.where(n >= 2, out["std"].to_numpy() / np.sqrt(np.maximum(n, 1)), np.nan)
    out["se_eval"] = np.sqrt(grouped["se2"].mean().to_numpy())
    both = out[["se_seeds", "se_eval"]].to_numpy()
    out["se"] = np.where(np.isnan(both).all(axis=1), np.nan, np.sqrt(np.nansum(both ** 2, axis=1)))
    out["df"] = _welch_df(out["se_seeds"].to_numpy(), n, out["se_eval"].to_numpy())
    out["ci95"] = t_quantile(out["df"].to_numpy()) * out["se"].to_numpy()
    status = per_seed.drop_duplicates(RUN).groupby(["scenario", "method"])["status"].agg(summarise_status)
    return out.merge(status.reset_index(), on=["scenario", "method"], how="left")


def summarise_status(statuses) -> str:
    """One method's status over its runs: ``ok`` when every run is; else ``diverged (k/n runs)`` when any
    diverged (NaN/inf), else ``no-op (k/n runs)`` when any changed no weight (nothing unlearned), else the
    other statuses with their counts. Anything but ``ok`` keeps the method from a verdict of success."""
    values = [str(v) for v in statuses]
    n = len(values)
    if all(v == "ok" for v in values):
        return "ok"
    counts = {v: values.count(v) for v in dict.fromkeys(values) if v != "ok"}
    named = {"diverged": "diverged", "no_op": "no-op"}
    order = sorted(counts, key=lambda v: (v not in named, list(named).index(v) if v in named else 0, v))
    return ", ".join(f"{named.get(v, v)} ({counts[v]}/{n} runs)" for v in order)


def difference_band(a: pd.Series | dict, b: pd.Series | dict, confidence: float = 0.95) -> float:
    """Half-width of the ``confidence`` interval of mean(a) − mean(b) for two summary rows (columns se_seeds,
    se_eval, n_seeds): √(Σ variances) times the t quantile at the Welch–Satterthwaite df of the four
    independent parts. NaN when neither row has any noise estimate; 0 when every part is exactly 0."""
    parts = []
    for row in (a, b):
        n = float(row.get("n_seeds", 1) or 1)
        parts += [(_f(row.get("se_seeds")) ** 2, max(n - 1, 1)), (_f(row.get("se_eval")) ** 2, math.inf)]
    parts = [(v, df) for v, df in parts if math.isfinite(v)]
    if not parts:
        return math.nan
    var = sum(v for v, _ in parts)
    if var == 0:
        return 0.0
    finite = sum(v * v / df for v, df in parts if math.isfinite(df))
    df = var * var / finite if finite > 0 else math.inf
    return float(t_quantile(df, confidence) * math.sqrt(var))


def _f(x) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return math.nan
    return x


def aggregate(inputs: list[str | Path], out_results: str | Path, out_summary: str | Path,
              out_csv: str | Path, *, results_dir: str | Path | None = None) -> pd.DataFrame:
    """Concatenate the per-job result files ``inputs`` into ``out_results``, summarise them into
    ``out_summary`` and ``out_csv`` (paths: :mod:`unlearnbench.report.layout`). ``results_dir``: the results
    dataset folder, from which aggregated tables of the old layout are removed (see :func:`remove_legacy_tables`)."""
    from unlearnbench.workflow import phase

    if results_dir is not None:
        remove_legacy_tables(results_dir)
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


def remove_legacy_tables(results_dir: str | Path) -> list[Path]:
    """Remove ``results.parquet``, ``summary.parquet`` and ``summary.csv`` that an older version wrote into the
    results folder: that folder is the per-job results dataset, and a stale aggregate there would be read
    as duplicate rows (``summary.csv`` would make it unreadable as Parquet). Returns what was removed."""
    from unlearnbench.report import layout

    removed = []
    for name in layout.LEGACY_AGGREGATES:
        path = Path(results_dir) / name
        if path.is_file():
            path.unlink()
            removed.append(path)
            print(f"aggregate: removed {path} (aggregated tables now live in "
                  f"{layout.SUMMARY_DIR}/ beside {layout.RESULTS_DIR}/)", flush=True)
    return removed
