"""What every model-producing job (train, import, unlearn) shares: the common fields of its checkpoint sidecar,
the data manifest it cites, and the capped per-epoch monitor sets it logs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.provenance import code_version, config_hash, device_name, package_versions

__all__ = ["data_meta", "monitored", "run_meta"]


def run_meta(role: str, arch: str, num_classes: int, model_kwargs: dict, seed: int, params: dict, device,
             **extra: Any) -> dict[str, Any]:
    """The sidecar fields of every checkpoint a job writes: what the model is, the parameters (and their hash)
    that made it, and where (device, code version, package versions); ``extra`` adds the job's own fields."""
    return {"role": role, "arch": arch, "num_classes": num_classes, "model_kwargs": model_kwargs, "seed": seed,
            "params": params, "config_hash": config_hash(params), "device": device_name(device),
            "code_version": code_version(), "package_versions": package_versions(), **extra}


def data_meta(path: str | Path) -> dict[str, Any]:
    """The JSON manifest ``prepare_data`` writes beside a prepared dataset (data hash, class names, sizes)."""
    return json.loads(Path(path).read_text())


def monitored(sets: dict[str, Any], max_images: int | None, seed: int) -> dict[str, Any]:
    """Per-epoch monitor sets capped at ``max_images`` each (seeded subsample, sorted indices; ``None``: all).

    Monitoring only draws the curves of the sidecars and the report; every reported accuracy is computed by
    ``evaluate`` on the full splits. It never changes a run: accuracy passes are in eval mode, without
    gradients and without drawing from any random generator the run uses."""
    if max_images is None:
        return dict(sets)
    rng = np.random.default_rng(seed)
    return {name: s if len(s) <= max_images else s.subset(np.sort(rng.choice(len(s), max_images, replace=False)))
            for name, s in sets.items()}
