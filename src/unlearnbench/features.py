"""Feature extraction: exactly one forward pass per (model, eval set), cached for every metric.

``extract_features`` runs a checkpoint over an eval set once (eval mode, deterministic transforms, no
augmentation) and writes ``labels``, ``logits`` and every requested layer (stage outputs globally average
pooled, plus ``pre_logits``) into one safetensors file with a JSON sidecar (model, eval set, layers, n,
the per-class cap if any, ``forward_passes: 1``). All metrics read that cache; nothing re-runs a model.
A diverged model's non-finite features are stored as they are; metrics turn them into NaN rows.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors.numpy import load_file, save_file

from unlearnbench.atomic import atomic_path, write_json
from unlearnbench.provenance import device_name, file_hash
from unlearnbench.workflow import phase

if TYPE_CHECKING:  # torch is imported by extraction only: reading the cache (evaluate) stays torch-free
    import torch

#: forward passes run in this process, keyed by (checkpoint, eval set): the benchmark's proof of "one pass"
FORWARD_PASSES: dict[tuple[str, str], int] = {}


def cap_per_class(labels: np.ndarray, max_per_class: int | None, seed: int) -> np.ndarray:
    """Indices keeping at most ``max_per_class`` samples of each class (seeded, sorted); all when None."""
    if max_per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == c))[:max_per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep)) if keep else np.arange(0)


def extract_all(ckpt: str | Path, evalsets: list[tuple[str, str | Path]], outs: list[str | Path], *,
                layers: list[str] | str = "all", batch_size: int = 512, max_per_class: int | None = None,
                dtype: str = "float32", seed: int = 0, threads: int = 2, device: str = "auto") -> None:
    """Load ``ckpt`` once and extract every eval set (``(name, dataset .npz)`` pairs) into ``outs`` (same order)."""
    from unlearnbench.checkpoints import load_checkpoint
    from unlearnbench.data import load_prepared
    from unlearnbench.models import check_layers, feature_layers
    from unlearnbench.training import prepare_model, setup_torch

    if len(outs) != len(evalsets):
        raise ValueError(f"{len(evalsets)} eval sets but {len(outs)} output paths")
    with phase("load"):
        dev = setup_torch(seed, threads, device)
        model, meta = load_checkpoint(ckpt, dev)
        model = prepare_model(model, dev).eval()
        layers = feature_layers(model) if layers == "all" else check_layers(model, layers, meta["arch"])
    datasets: dict[str, object] = {}
    for (evalset, npz), out in zip(evalsets, outs):
        if Path(out).name != f"{evalset}.safetensors":
            raise ValueError(f"output {out} does not belong to eval set {evalset!r}")
        if npz not in datasets:
            with phase("load"):
                datasets[npz] = load_prepared(npz).for_model(model)
        _extract_one(model, meta, ckpt, datasets[npz], evalset, out, layers=layers, batch_size=batch_size,
                     max_per_class=max_per_class, dtype=dtype, seed=seed, dev=dev)


def _extract_one(model: "torch.nn.Module", meta: dict[str, Any], ckpt: str | Path, dataset, evalset: str,
                 out: str | Path, *, layers: list[str], batch_size: int, max_per_class: int | None, dtype: str,
                 seed: int, dev: "torch.device") -> None:
    """One forward pass of ``model`` over one eval set; writes features + sidecar atomically.

    ``dataset`` is a prepared dataset (:func:`unlearnbench.data.load_prepared`): the eval set is an
    in-memory or a file-backed image set, capped per class before anything is decoded.
    """
    import torch

    from unlearnbench.models import extract
    from unlearnbench.training import autocast

    full = dataset.evalset(evalset)
    keep = cap_per_class(full.labels, max_per_class, seed)
    data = full.subset(keep)
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in ["logits", *layers]}
    t0 = time.perf_counter()
    with phase("compute"), torch.inference_mode():
        for x, _ in data.batches(batch_size, device=dev):
            if dev.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(dev):
                logits, feats = extract(model, x, layers)
            chunks["logits"].append(logits.float().cpu().numpy())
            for name in layers:
                chunks[name].append(_store(feats[name], dtype))
    seconds = time.perf_counter() - t0
    key = (str(ckpt), evalset)
    FORWARD_PASSES[key] = FORWARD_PASSES.get(key, 0) + 1
    width = {name: (chunks[name][0].shape[1] if chunks[name] else 0) for name in chunks}
    arrays = {"labels": data.labels.astype(np.int64), "indices": keep.astype(np.int64),
              "logits": _cat(chunks["logits"], meta["num_classes"])}
    for name in layers:
        arrays[f"layer.{name}"] = _cat(chunks[name], width[name])
    with phase("write"), atomic_path(out, suffix=".tmp.safetensors") as tmp:
        save_file(arrays, str(tmp))
    write_json(Path(str(out) + ".json"), {
        "checkpoint": str(ckpt), "checkpoint_hash": file_hash(ckpt), "model_status": meta.get("status", "ok"),
        "evalset": evalset, "layers": layers, "n": int(len(keep)), "max_per_class": max_per_class,
        "dtype": dtype, "forward_passes": FORWARD_PASSES[key], "seconds": seconds,
        "img_per_s": len(keep) / max(seconds, 1e-9), "device": device_name(dev)})


def _store(feat: "torch.Tensor", dtype: str) -> np.ndarray:
    """Round features to the configured storage dtype (bfloat16 is kept as float32 after rounding)."""
    import torch

    feat = feat.to(getattr(torch, dtype))
    return feat.cpu().numpy() if dtype == "float16" else feat.float().cpu().numpy()


def _cat(chunks: list[np.ndarray], width: int) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.zeros((0, width), np.float32)


def read_features(path: str | Path):
    """Load a features file as a :class:`unlearnbench.metrics.FeatureSet`."""
    from unlearnbench.metrics.base import FeatureSet

    arrays = load_file(str(path))
    layers = {k[len("layer."):]: v for k, v in arrays.items() if k.startswith("layer.")}
    return FeatureSet(labels=arrays["labels"], logits=arrays["logits"], layers=layers)


def read_features_meta(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(str(path) + ".json").read_text())
