"""Feature extraction: exactly one forward pass per (model, eval set), cached for every metric.

``extract_features`` runs a checkpoint over an eval set once (eval mode, deterministic transforms, no
augmentation) and writes ``labels``, ``logits`` and every requested layer (stage outputs globally average
pooled, plus ``pre_logits``) into one safetensors file with a JSON sidecar (model, eval set, layers, n,
the per-class cap if any, ``forward_passes: 1``). All metrics read that cache; nothing re-runs a model.
A diverged model's non-finite features are stored as they are; metrics turn them into NaN rows.

Flattened activation maps (layer-wise CKA, :mod:`unlearnbench.metrics.cka_gram`): during the same pass the
unpooled output of every extracted stage is kept for a seeded subset of ``gram_per_class`` examples per
class (the same positions for every model: they depend on the labels and ``seed`` only), capped so that
neither the held maps nor the stored Gram of a layer exceed ``gram_max_bytes``; after the pass each stage's
centred linear Gram is stored as ``gram.<stage>`` (packed upper triangle, float32), with ``gram_index``
(subset positions, round-robin class order; a layer's Gram covers its first m rows) and
``gram_shape.<stage>`` (the per-example map shape). The sidecar records the subset size, seed and bytes.

When the last stage's pooled features equal ``pre_logits`` (a network whose pre-logits are the global
average pool of its last stage, e.g. every ResNet), the model computes the same vector twice: that stage's
pooled array is not stored, the file's metadata (and the sidecar's ``pooled_same_as``) records the alias,
and :class:`~unlearnbench.metrics.base.FeatureSet` resolves it. The check is made at extraction, on the
model's own outputs for every batch, to the rounding of the compute dtype.

Progress (:class:`unlearnbench.progress.Progress`): a tqdm bar on a terminal; in a job log one line per ~10 %
of the eval set or 30 s with images done / total and img/s.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from unlearnbench.atomic import atomic_pair, pair_matches
from unlearnbench.params import check_int
from unlearnbench.progress import Progress
from unlearnbench.provenance import device_name, file_hash
from unlearnbench.workflow import phase

if TYPE_CHECKING:  # torch is imported by extraction only: reading the cache (evaluate) stays torch-free
    import torch

FEATURES_DIGEST = "sha256"


class FeaturesError(ValueError):
    """A features file and its sidecar do not belong together."""


#: forward passes run in this process, keyed by (checkpoint, eval set): the benchmark's proof of "one pass"
FORWARD_PASSES: dict[tuple[str, str], int] = {}
#: defaults of evaluation.gram_per_class / evaluation.gram_max_bytes (src/unlearnbench/schema.yaml)
GRAM_PER_CLASS = 16
GRAM_MAX_BYTES = 1 << 30


def extract_all(ckpt: str | Path, evalsets: list[tuple[str, str | Path]], outs: list[str | Path], *,
                layers: list[str] | str = "all", batch_size: int = 512, max_per_class: int | None = None,
                dtype: str = "float32", seed: int = 0, threads: int = 2, device: str = "auto",
                gram_per_class: int = GRAM_PER_CLASS, gram_max_bytes: int = GRAM_MAX_BYTES) -> None:
    """Load ``ckpt`` once and extract every eval set (``(name, dataset .npz)`` pairs) into ``outs`` (same order).

    ``gram_per_class`` >= 0 examples per class of the flattened-map Gram subset (0: no Grams);
    ``gram_max_bytes`` >= 1 caps each stage's held maps and stored Gram (module docstring)."""
    from unlearnbench.checkpoints import load_checkpoint
    from unlearnbench.data import load_prepared
    from unlearnbench.models import check_layers, feature_layers
    from unlearnbench.training import prepare_model, setup_torch

    if len(outs) != len(evalsets):
        raise ValueError(f"{len(evalsets)} eval sets but {len(outs)} output paths")
    gram = {"per_class": check_int("evaluation.gram_per_class", gram_per_class, 0),
            "max_bytes": check_int("evaluation.gram_max_bytes", gram_max_bytes, 1)}
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
                     max_per_class=max_per_class, dtype=dtype, seed=seed, dev=dev, gram=gram)


def _extract_one(model: "torch.nn.Module", meta: dict[str, Any], ckpt: str | Path, dataset, evalset: str,
                 out: str | Path, *, layers: list[str], batch_size: int, max_per_class: int | None, dtype: str,
                 seed: int, dev: "torch.device", gram: dict[str, int] | None = None) -> None:
    """One forward pass of ``model`` over one eval set; writes features + sidecar atomically.

    ``dataset`` is a prepared dataset (:func:`unlearnbench.data.load_prepared`): the eval set is an
    in-memory or a file-backed image set, capped per class before anything is decoded. ``gram``:
    ``{"per_class", "max_bytes"}`` of the flattened-map Grams (module docstring; None: the defaults).
    """
    import torch

    from unlearnbench.data.files import cap_per_class
    from unlearnbench.metrics.cka_gram import GramCollector, subset_order
    from unlearnbench.models import forward_layers, stage_count
    from unlearnbench.training import autocast

    gram = gram or {"per_class": GRAM_PER_CLASS, "max_bytes": GRAM_MAX_BYTES}
    full = dataset.evalset(evalset)
    keep = cap_per_class(full.labels, max_per_class, seed)
    data = full.subset(keep)
    stages = [name for name in layers if name.startswith("stage")]
    order = subset_order(data.labels, gram["per_class"], seed)
    collectors = {name: GramCollector(order, len(keep), gram["max_bytes"]) for name in stages if order.size}
    last = f"stage{stage_count(model) - 1}"
    same = last in layers and "pre_logits" in layers  # pooled last stage == pre_logits, checked every batch
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in ["logits", *layers]}
    t0, start = time.perf_counter(), 0
    progress = Progress(len(keep), f"extract {evalset}")  # tqdm on a terminal, else a log line per ~10 %/30 s
    with phase("compute"), torch.inference_mode(), progress:
        for x, _ in data.batches(batch_size, device=dev):
            if dev.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(dev):
                out_b = forward_layers(model, x, layers, maps=list(collectors))
            chunks["logits"].append(out_b.logits.float().cpu().numpy())
            for name in layers:
                chunks[name].append(_store(out_b.pooled[name], dtype))
            same = same and _same_features(out_b.pooled[last], out_b.pooled["pre_logits"])
            for name, col in collectors.items():
                _collect(col, out_b.maps[name], start)
            start += x.shape[0]
            progress.update(x.shape[0])
        grams = {name: col.layer_gram() for name, col in collectors.items() if col.m}
    seconds = time.perf_counter() - t0
    key = (str(ckpt), evalset)
    FORWARD_PASSES[key] = FORWARD_PASSES.get(key, 0) + 1
    aliases = {last: "pre_logits"} if same and start else {}
    width = {name: (chunks[name][0].shape[1] if chunks[name] else 0) for name in chunks}
    arrays = {"labels": data.labels.astype(np.int64), "indices": keep.astype(np.int64),
              "logits": _cat(chunks["logits"], meta["num_classes"])}
    for name in layers:
        if name not in aliases:
            arrays[f"layer.{name}"] = _cat(chunks[name], width[name])
    if grams:
        arrays["gram_index"] = order[:max(g.n for g in grams.values())]
    for name, g in grams.items():
        arrays[f"gram.{name}"] = g.packed
        arrays[f"gram_shape.{name}"] = np.asarray(g.shape, dtype=np.int64)
    record = {
        "checkpoint": str(ckpt), "checkpoint_hash": file_hash(ckpt), "model_status": meta.get("status", "ok"),
        "evalset": evalset, "layers": layers, "n": int(len(keep)), "max_per_class": max_per_class,
        "dtype": dtype, "forward_passes": FORWARD_PASSES[key], "seconds": seconds,
        "img_per_s": len(keep) / max(seconds, 1e-9), "device": device_name(dev), "pooled_same_as": aliases,
        "gram": _gram_record(gram, seed, order, collectors)}
    with phase("write"), atomic_pair(out, Path(str(out) + ".json"), record, digest_key=FEATURES_DIGEST,
                                     suffix=".tmp.safetensors") as tmp:  # one unit with its sidecar
        save_file(arrays, str(tmp), metadata={"aliases": json.dumps(aliases, sort_keys=True)})


def _collect(col, maps: "torch.Tensor", start: int) -> None:
    """Hand the batch rows of ``col``'s subset to it: only those rows leave the device, flattened, float32."""
    import torch

    if col.shape is None:
        col.start(tuple(maps.shape[1:]))
    rows, slots = col.wanted(start, maps.shape[0])
    if rows.size:
        sel = maps[torch.from_numpy(rows).to(maps.device)].float().cpu().numpy()
        col.put(slots, sel)


def _same_features(a: "torch.Tensor", b: "torch.Tensor") -> bool:
    """``a`` equals ``b`` to the rounding of their dtype (4 ulps of the largest magnitude)."""
    import torch

    if a.shape != b.shape:
        return False
    eps = max(torch.finfo(a.dtype).eps, torch.finfo(b.dtype).eps)
    a, b = a.float(), b.float()
    scale = float(b.abs().max()) if b.numel() else 0.0
    return bool(torch.all(torch.abs(a - b) <= 4 * eps * max(scale, 1e-30)))


def _gram_record(gram: dict[str, int], seed: int, order: np.ndarray, collectors: dict) -> dict[str, Any]:
    """Sidecar entry: the subset (per class, seed, size), the byte cap, and per stage rows, map size, bytes."""
    return {"per_class": gram["per_class"], "seed": seed, "max_bytes": gram["max_bytes"], "subset": int(order.size),
            "computed_dtype": "float64", "stored_dtype": "float32", "stored": "packed upper triangle of the "
            "linear Gram of the flattened maps, centred by the subset mean",
            "layers": {name: {"n": col.m, "dim": int(np.prod(col.shape)) if col.shape else 0,
                              "map_shape": list(col.shape or ()), "held_bytes": col.held_bytes,
                              "stored_bytes": 4 * col.m * (col.m + 1) // 2} for name, col in collectors.items()}}


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

    from unlearnbench.metrics.cka_gram import LayerGram

    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata() or {}
        arrays = {k: fh.get_tensor(k) for k in fh.keys()}
    layers = {k[len("layer."):]: v for k, v in arrays.items() if k.startswith("layer.")}
    grams = {}
    for key, packed in arrays.items():
        if key.startswith("gram."):
            name = key[len("gram."):]
            m = int((np.sqrt(8 * packed.size + 1) - 1) // 2)
            shape = tuple(int(s) for s in arrays[f"gram_shape.{name}"])
            grams[name] = LayerGram(index=arrays["gram_index"][:m], packed=packed, dim=int(np.prod(shape)),
                                    shape=shape)
    aliases = json.loads(meta.get("aliases", "{}"))
    return FeatureSet(labels=arrays["labels"], logits=arrays["logits"], layers=layers, grams=grams,
                      aliases=aliases)


def read_features_meta(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """The sidecar of features file ``path``; with ``verify``, a :class:`FeaturesError` unless it describes
    that file (a write interrupted between the sidecar's rename and the file's)."""
    meta = json.loads(Path(str(path) + ".json").read_text())
    if verify and not pair_matches(path, meta, FEATURES_DIGEST):
        raise FeaturesError(f"features {path} do not match their sidecar (a write was interrupted); rerun the "
                            "extract_features job that makes them")
    return meta
