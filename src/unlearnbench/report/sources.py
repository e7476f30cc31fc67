"""Everything the report reads, gathered into one :class:`ReportData`.

* ``summary`` — ``summary/summary.parquet`` from :mod:`unlearnbench.aggregate` (means, ci95 over seeds).
* ``layer_cka`` — the per-layer linear CKA rows of ``summary/results.parquet`` (biased, forget-train), the
  only raw rows the report needs; read with a Parquet filter so large result tables stay cheap.
* ``runs`` — one row per (scenario, seed, method) from the checkpoint sidecars: ``status``,
  ``wall_time_s``, the unlearning budget ``forget_images_seen`` / ``retain_images_seen`` and a no-op's
  ``no_op_reason`` (NaN / empty for the references). The original model is one checkpoint shared by every
  scenario.
* ``curves`` — the per-epoch ``curve`` of every sidecar in long form (phase ``training`` for the
  references, ``unlearning`` for methods).
* ``tuning`` — every point the tune stage searched per (scenario, method), from the sidecars' ``tuning``
  record (the same on every seed): its validation forget / retain accuracy, score, whether it was chosen, and
  the retrained reference's accuracies the score is measured to (:mod:`unlearnbench.tuning`).
* ``relearn`` — the recovery-attack rows of the results (``metric == "relearn"``: relearning curves with
  their ``step``, per-layer probes with their ``layer``; :mod:`unlearnbench.attacks`), read with a filter.
* ``scenarios`` — per scenario its ``kind`` (``random``/``top``/``samples``) and the methods expected in
  it, in order. From the config in the workflow; :func:`discover` rebuilds it from the outputs folder.

Nothing here fails on a partial run: a missing file or key becomes an absent row.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from unlearnbench.headlines import headline, match_quantity
from unlearnbench.layout import Layout
from unlearnbench.report.layout import REFERENCE_ROWS

REFERENCES = ("original", "retrain")  # the two models every method is compared with (CKA references)
#: budget columns of ``runs`` (sidecar keys written by unlearning runs; NaN for the references)
RUN_BUDGET = ("forget_images_seen", "retain_images_seen")
PRE = "pre_logits"
#: curve keys that are bookkeeping, not a learning curve
CURVE_SKIP = {"epoch", "lr", "seconds", "img_per_s"}
#: per-layer CKA rows of the report: variants "biased"/"debiased" are the flattened activation map for stages
#: (Gram form on the seeded subset) and the pre-logit vector for pre_logits; pooled stages ("*_pooled") are
#: left out. Per scenario and layer the estimator is chosen by the headline's rule
#: (:func:`unlearnbench.aggregate.cka_estimator`: debiased when samples are few per dimension).
RELEARN_COLUMNS = ["scenario", "seed", "method", "variant", "split", "layer", "step", "value"]
#: one row per searched point of a tuned (scenario, method); ``stage``: ``grid`` or ``extended`` (edge and
#: refinement points); ``params``: the point as ``key=value`` text
TUNING_COLUMNS = ["scenario", "method", "point", "stage", "params", "forget", "retain_val", "score", "chosen",
                  "retrain_forget", "retrain_retain_val"]
LAYER_CKA_FILTER = [("metric", "==", "cka"), ("variant", "in", ["biased", "debiased"]), ("split", "==", "forget_train")]


@dataclass
class ReportData:
    summary: pd.DataFrame
    scenarios: dict[str, dict[str, Any]]
    runs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["scenario", "seed", "method",
                                                                             "status", "wall_time_s", *RUN_BUDGET,
                                                                             "no_op_reason"]))
    curves: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["scenario", "seed", "method",
                                                                               "phase", "epoch", "key", "value"]))
    layer_cka: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["scenario", "seed", "method",
                                                                                  "layer", "reference", "value"]))
    relearn: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RELEARN_COLUMNS))
    tuning: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TUNING_COLUMNS))

    def methods(self) -> list[str]:
        """Every method of the experiment, references first: fixes colours across all figures."""
        seen = {m for info in self.scenarios.values() for m in info["methods"]} | set(self.summary["method"])
        return [*[r for r in REFERENCE_ROWS if r in seen], *sorted(seen - set(REFERENCE_ROWS))]

    def downstream(self) -> list[str]:
        """The downstream sets the summary has a per-set quantity of (``knn_{ds}``, :mod:`unlearnbench.headlines`:
        an exact name such as ``knn_forget_test`` is not a set)."""
        per_set = headline("knn_{ds}")
        found = {q: match_quantity(q) for q in self.summary["quantity"].unique() if per_set.match(q)}
        return sorted(per_set.match(q) for q, h in found.items() if h is per_set)


def natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def layer_order(layers) -> list[str]:
    """Network order of layer names: natural sort (``stage2`` < ``stage10``), ``pre_logits``/``logits`` last."""
    tail = {PRE: 1, "logits": 2}
    return sorted(set(layers), key=lambda n: (tail.get(n, 0), natural_key(n)))


def read_sidecar(path: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _finite(x: Any) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def load_runs(sidecars: Mapping[tuple[str, int, str], str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``runs`` and ``curves`` frames from sidecar paths keyed by (scenario, seed, method)."""
    runs, curves, cache = [], [], {}
    for (scenario, seed, method), path in sidecars.items():
        if str(path) not in cache:
            cache[str(path)] = read_sidecar(path)
        meta = cache[str(path)]
        if meta is None:
            continue
        key = {"scenario": scenario, "seed": int(seed), "method": method}
        runs.append({**key, "status": meta.get("status", "ok"), "wall_time_s": _finite(meta.get("wall_time_s")),
                     **{k: _finite(meta.get(k)) for k in RUN_BUDGET}, "no_op_reason": meta.get("no_op_reason") or ""})
        phase = "training" if method in REFERENCE_ROWS else "unlearning"
        before = (meta.get("accuracy_before") or {}) if phase == "unlearning" else {}
        curves += [{**key, "phase": phase, "epoch": 0, "key": f"{k}_acc", "value": _finite(v)}
                   for k, v in before.items()]
        for i, point in enumerate(meta.get("curve") or []):
            epoch = point.get("epoch", i + 1)
            curves += [{**key, "phase": phase, "epoch": int(epoch), "key": k, "value": _finite(v)}
                       for k, v in point.items() if k not in CURVE_SKIP and isinstance(v, (int, float))]
    empty = ReportData(pd.DataFrame(), {})
    return (pd.DataFrame(runs, columns=empty.runs.columns), pd.DataFrame(curves, columns=empty.curves.columns))


def _point_text(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())


def load_tuning(sidecars: Mapping[tuple[str, int, str], str | Path]) -> pd.DataFrame:
    """``tuning`` frame from sidecar paths keyed by (scenario, seed, method): one record per (scenario, method),
    read from its lowest seed (every seed carries the selection made once on the tune seed)."""
    rows, seen = [], set()
    for (scenario, _, method), path in sorted(sidecars.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        if (scenario, method) in seen or method in REFERENCE_ROWS:
            continue
        record = (read_sidecar(path) or {}).get("tuning")
        if not record:
            continue
        seen.add((scenario, method))
        grid = list(record.get("grid") or [])
        points = grid + list(record.get("extended") or [])
        retrain = record.get("retrain") or {}
        searched = zip(points, record.get("scores") or [], record.get("accuracies") or [])
        for i, (point, score, acc) in enumerate(searched):
            rows.append({"scenario": scenario, "method": method, "point": i,
                         "stage": "grid" if i < len(grid) else "extended",
                         "params": _point_text(point), "forget": _finite(acc.get("forget")),
                         "retain_val": _finite(acc.get("retain_val")), "score": _finite(score),
                         "chosen": i == record.get("chosen_index"), "retrain_forget": _finite(retrain.get("forget")),
                         "retrain_retain_val": _finite(retrain.get("retain_val"))})
    return pd.DataFrame(rows, columns=TUNING_COLUMNS)


def read_layer_cka(results: str | Path | pd.DataFrame) -> pd.DataFrame:
    from unlearnbench.aggregate import resolve_cka_estimator

    cols = ["scenario", "seed", "method", "layer", "reference", "value"]
    read = [*cols, "variant", "n", "dim"]
    if isinstance(results, pd.DataFrame):
        mask = pd.Series(True, index=results.index)
        for col, op, val in LAYER_CKA_FILTER:
            mask &= results[col].isin(val) if op == "in" else results[col] == val
        rows = results.loc[mask, [c for c in read if c in results]]
    else:
        rows = pd.read_parquet(results, columns=read, filters=LAYER_CKA_FILTER)
    rows = resolve_cka_estimator(rows, by=("scenario", "layer"))
    return rows[[*cols, "estimator"]].reset_index(drop=True)


def read_relearn(results: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The ``relearn`` rows (curves and per-layer probes of the recovery attacks) of a results table."""
    if isinstance(results, pd.DataFrame):
        rows = results.loc[results["metric"] == "relearn", [c for c in RELEARN_COLUMNS if c in results]]
    else:
        rows = pd.read_parquet(results, columns=RELEARN_COLUMNS, filters=[("metric", "==", "relearn")])
    return rows.reindex(columns=RELEARN_COLUMNS).reset_index(drop=True)


def default_scenarios(summary: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Scenario info from the summary alone: the methods present, and kind ``class`` or ``samples``
    depending on whether a forget-test accuracy exists."""
    out = {}
    for sc, rows in summary.groupby("scenario", sort=True):
        kind = "class" if (rows["quantity"] == "forget_test_acc").any() else "samples"
        methods = set(rows["method"])
        out[sc] = {"kind": kind, "methods": [*[r for r in REFERENCE_ROWS if r in methods],
                                              *sorted(methods - set(REFERENCE_ROWS))]}
    return out


def load_report_data(summary: str | Path | pd.DataFrame, *, results: str | Path | pd.DataFrame | None = None,
                     sidecars: Mapping[tuple[str, int, str], str | Path] | None = None,
                     scenarios: Mapping[str, Mapping[str, Any]] | None = None) -> ReportData:
    summary = summary if isinstance(summary, pd.DataFrame) else pd.read_parquet(summary)
    info = default_scenarios(summary)
    for sc, spec in (scenarios or {}).items():
        info[sc] = {"kind": spec.get("kind") or info.get(sc, {}).get("kind", "class"),
                    "methods": list(spec.get("methods") or info.get(sc, {}).get("methods", []))}
    data = ReportData(summary=summary, scenarios=dict(sorted(info.items())))
    if sidecars:
        data.runs, data.curves = load_runs(sidecars)
        data.tuning = load_tuning(sidecars)
    if results is not None:
        data.layer_cka = read_layer_cka(results)
        data.relearn = read_relearn(results)
    return data


def parse_sidecar_keys(mapping: Mapping[str, str]) -> dict[tuple[str, int, str], str]:
    """Sidecar mapping as passed through a rule's params: ``"scenario/seed/method" -> path``."""
    out = {}
    for key, path in mapping.items():
        scenario, seed, method = key.split("/")
        out[(scenario, int(seed), method)] = path
    return out


def discover(out: str | Path) -> ReportData:
    """Load what an outputs folder holds (no config needed): summary, per-layer CKA, sidecars, scenario kinds.
    Paths: the workflow's own :class:`unlearnbench.layout.Layout`."""
    paths = Layout(out)
    summary = pd.read_parquet(paths.summary_table())
    kinds = {}
    for sc in summary["scenario"].unique():
        fs = read_sidecar(paths.forget_set(sc)) or {}
        kinds[sc] = fs.get("kind")
    results = paths.results_table()
    runs = pd.read_parquet(results, columns=["scenario", "seed", "method"]).drop_duplicates()
    sidecars = {(r.scenario, int(r.seed), r.method): paths.run_sidecar(r.scenario, int(r.seed), r.method)
                for r in runs.itertuples()}
    return load_report_data(summary, results=results, sidecars=sidecars,
                            scenarios={sc: {"kind": k} for sc, k in kinds.items()})
