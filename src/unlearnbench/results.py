"""The long-format results table: one row per (scenario, seed, method, evalset, split, metric, variant,
layer, reference) with its ``value`` and the provenance needed to cite it.

Provenance columns: ``config_hash`` (hash of the model's full recipe: data, model, training and method
hyper-parameters), ``method_params`` (JSON), ``forget_hash``, ``data_hash``, ``code_version``,
``package_versions``, ``device``, ``model_seed`` / ``data_seed``, ``status`` (ok | diverged) and
``max_per_class`` (eval-set cap, if any), ``init_seed`` (the seed a trained reference was initialised from;
null for unlearned models) and ``tuning`` (JSON: the grid, its scores and the chosen point when the
instance's hyper-parameters were selected by the tune stage; empty otherwise). ``status`` is ok | diverged |
no_op (the method changed no weight: nothing was unlearned). The budget an unlearned model was produced
with: ``forget_images_seen`` / ``retain_images_seen`` (images of D_f / D_r the method forwarded, from its
checkpoint sidecar; null for the reference models) and ``selected_fraction`` (the fraction of parameter
entries the method selected to change: SSD's dampened entries, SalUn's saliency mask; null for methods
without a selection). ``step``: the optimisation step of a relearning-curve point (recovery attacks,
:mod:`unlearnbench.attacks`; null otherwise). The evidence behind each
value: ``se`` (its standard error over the evaluated samples, a bootstrap; null when not estimated), ``n``
(samples it was computed on) and ``dim`` (feature dimension of a representation metric). Files are
Parquet, written atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from unlearnbench.atomic import atomic_path

COLUMNS: dict[str, pa.DataType] = {
    "scenario": pa.string(), "seed": pa.int64(), "method": pa.string(), "algorithm": pa.string(),
    "status": pa.string(), "evalset": pa.string(), "split": pa.string(), "metric": pa.string(),
    "variant": pa.string(), "layer": pa.string(), "reference": pa.string(), "value": pa.float64(),
    "params": pa.string(), "method_params": pa.string(), "config_hash": pa.string(), "forget_hash": pa.string(),
    "data_hash": pa.string(), "code_version": pa.string(), "package_versions": pa.string(), "device": pa.string(),
    "model_seed": pa.int64(), "data_seed": pa.int64(), "max_per_class": pa.int64(), "init_seed": pa.int64(),
    "tuning": pa.string(), "se": pa.float64(), "n": pa.int64(), "dim": pa.int64(),
    "forget_images_seen": pa.int64(), "retain_images_seen": pa.int64(), "selected_fraction": pa.float64(),
    "step": pa.int64(),
}
#: a NaN value (diverged model) or standard error (not estimated) is stored as null
NULLABLE = ("max_per_class", "value", "init_seed", "se", "n", "dim", "forget_images_seen", "retain_images_seen",
            "selected_fraction", "step")
SCHEMA = pa.schema([pa.field(name, typ, nullable=name in NULLABLE) for name, typ in COLUMNS.items()])
KEY = ["scenario", "seed", "method", "evalset", "split", "metric", "variant", "layer", "reference", "step"]


def to_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    missing = [c for c in COLUMNS if c not in NULLABLE and frame[c].isna().any()]
    if missing:
        raise ValueError(f"result rows lack values for columns {missing}")
    return pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)


def write_results(rows: Iterable[dict[str, Any]] | pd.DataFrame, path: str | Path) -> None:
    table = to_table(rows.to_dict("records") if isinstance(rows, pd.DataFrame) else rows)
    if table.num_rows and pd.DataFrame(table.select(KEY).to_pandas()).duplicated().any():
        raise ValueError("duplicate result rows for the same key")
    with atomic_path(path, suffix=".tmp.parquet") as tmp:
        pq.write_table(table, tmp)


def read_results(*paths: str | Path) -> pd.DataFrame:
    frames = [pq.read_table(p, schema=SCHEMA).to_pandas() for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else to_table([]).to_pandas()
