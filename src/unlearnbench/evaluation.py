"""The ``evaluate`` stage: all metrics of one (scenario, seed, model) from cached features.

The model's features and those of both references (the original and the retrained model of the same
scenario and seed) are loaded for every eval set, the scenario's forget/retain splits are applied as index
subsets, every configured metric runs on that in-memory context, and the rows get provenance columns.
No model is run here: features come from ``extract_features`` (one forward pass per model and eval set).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.checkpoints import read_meta
from unlearnbench.data.forget_sets import read_forget_set
from unlearnbench.features import read_features, read_features_meta
from unlearnbench.provenance import code_version, config_hash, package_versions
from unlearnbench.results import write_results
from unlearnbench.workflow import phase


class EvaluationError(ValueError):
    """Inconsistent inputs (e.g. features of a model with another class count than the scenario)."""


def build_context(features: dict[str, dict[str, str]], forget_json: str | Path, data_npz: str | Path,
                  data_json: str | Path,
                  downstream: list[str], layers: list[str] | str, seed: int):
    """Load features per role/eval set and map the forget set onto the (possibly capped) eval sets.

    Each :class:`~unlearnbench.metrics.base.FeatureSet` carries the pooled layers, the flattened-map Grams
    of the stages on their seeded subset (positions in the same capped eval set as the split indices) and
    the pooled-layer aliases; ``layers="all"`` lists every layer any of them names, in network order."""
    from unlearnbench.metrics import EvalContext

    data = json.loads(Path(data_json).read_text())
    loaded = {role: {ev: read_features(path) for ev, path in sets.items()} for role, sets in features.items()}
    for role, sets in loaded.items():
        for ev, fs in sets.items():
            if ev in ("train", "test") and fs.logits.shape[1] != data["num_classes"]:
                raise EvaluationError(f"features of {role} on {ev} have {fs.logits.shape[1]} classes but the "
                                      f"scenario's dataset has {data['num_classes']}: {features[role][ev]}")
    fset = read_forget_set(forget_json)
    with np.load(data_npz, allow_pickle=False) as arrays:
        full = fset.splits(arrays["y_train"], arrays["y_test"])
    train_idx, test_idx = _indices(features["model"]["train"]), _indices(features["model"]["test"])
    splits = {name: _remap(idx, train_idx if "train" in name else test_idx) for name, idx in full.items()}
    train = loaded["model"]["train"]
    model_layers = sorted({*train.layers, *train.grams, *train.aliases}, key=_layer_key)
    return EvalContext(features=loaded, forget_train_idx=splits["forget_train"],
                       retain_train_idx=splits["retain_train"], forget_test_idx=splits["forget_test"],
                       retain_test_idx=splits["retain_test"], num_classes=data["num_classes"],
                       forget_classes=list(fset.forget_classes) if fset.forget_classes is not None else None,
                       downstream=list(downstream), layers=model_layers if layers == "all" else list(layers),
                       seed=seed), fset


def _layer_key(name: str) -> tuple[int, int, str]:
    """Network order: stage0, stage1, …, then other layers by name, pre_logits last."""
    if name.startswith("stage") and name[5:].isdigit():
        return (0, int(name[5:]), name)
    return (2 if name == "pre_logits" else 1, 0, name)


def _indices(path: str) -> np.ndarray:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        return fh.get_tensor("indices")


def _remap(full_idx: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Positions within the capped eval set of the full-split indices that survived the cap."""
    pos = np.full(int(kept.max(initial=-1)) + 1, -1, dtype=np.int64)
    pos[kept] = np.arange(len(kept))
    full_idx = full_idx[full_idx < len(pos)]
    out = pos[full_idx]
    return out[out >= 0]


def evaluate_model(*, scenario: str, seed: int, method: str, algorithm: str, model_ckpt: str | Path,
                   features: dict[str, dict[str, str]], forget_json: str | Path, data_npz: str | Path,
                   data_json: str | Path, downstream: list[str], layers: list[str] | str, metrics: dict[str, dict[str, Any]],
                   data_seed: int, out: str | Path, attacks: dict[str, Any] | None = None) -> None:
    """All metrics — and the feature-cache recovery attacks configured in ``attacks`` (the config block) — of one
    model, written as one results file."""
    from unlearnbench.attacks import applies, attack_config
    from unlearnbench.metrics import METRICS, create_metric

    with phase("load"):
        meta = read_meta(model_ckpt)
        ctx, fset = build_context(features, forget_json, data_npz, data_json, downstream, layers, seed)
    feat_meta = read_features_meta(features["model"]["train"])
    base = row_base(scenario=scenario, seed=seed, method=method, algorithm=algorithm, meta=meta, fset=fset,
                    data_json=data_json, data_seed=data_seed, max_per_class=feat_meta.get("max_per_class"))
    rows = []
    with phase("compute"):
        for i, name in enumerate(sorted(METRICS), 1):  # one log line per metric: what the job is doing
            t0, before = time.perf_counter(), len(rows)
            for row in create_metric(name, **metrics.get(name, {})).evaluate(ctx):
                rows.append({**base, **row})
            print(f"[evaluate] metric {i}/{len(METRICS)} {name}: {len(rows) - before} rows in "
                  f"{time.perf_counter() - t0:.2f} s", file=sys.stderr, flush=True)
        for attack in attack_config(attacks or {}, kind="features").values():
            if applies(attack, fset):
                rows.extend({**base, **row} for row in attack.run(ctx))
    with phase("write"):
        write_results(rows, out)


def row_base(*, scenario: str, seed: int, method: str, algorithm: str, meta: dict[str, Any], fset, data_json,
             data_seed: int, max_per_class: int | None) -> dict[str, Any]:
    """The provenance columns of every result row of one (scenario, seed, model) — the evaluate and attack jobs
    share them: the model's status, method parameters and budget, config/forget/data hashes, code and
    package versions, device and seeds."""
    method_params = meta.get("method_params", {})
    return {"scenario": scenario, "seed": seed, "method": method, "algorithm": algorithm,
            "status": meta.get("status", "ok"), "method_params": json.dumps(method_params, sort_keys=True),
            "config_hash": config_hash({"recipe": meta.get("params", {}), "method": method_params}),
            "forget_hash": fset.forget_hash, "data_hash": json.loads(Path(data_json).read_text())["data_hash"],
            "code_version": code_version(), "package_versions": package_versions(), "device": meta.get("device", ""),
            "model_seed": int(meta.get("seed", seed)), "data_seed": data_seed, "max_per_class": max_per_class,
            "init_seed": meta.get("init_seed"),
            "tuning": json.dumps(meta["tuning"], sort_keys=True) if meta.get("tuning") else "",
            # the unlearning budget and selection (unlearned models' sidecars; null for the references)
            "forget_images_seen": meta.get("forget_images_seen"), "retain_images_seen": meta.get("retain_images_seen"),
            "selected_fraction": meta.get("selected_fraction")}
