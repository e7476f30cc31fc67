"""The reference models: the original (trained on all upstream training data, or imported from a weights
file), its seed-noise floor ``original_prime``, and the retrained reference of each scenario and seed (trained
from scratch on the retain set, or imported). One job per model writes the checkpoint and its sidecar
(:func:`unlearnbench.runs.run_meta`: role, seeds, data and forget-set hashes, curve, final accuracies).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from unlearnbench.checkpoints import save_checkpoint
from unlearnbench.data import load_prepared
from unlearnbench.data.forget_sets import read_forget_set
from unlearnbench.runs import data_meta, monitored, run_meta
from unlearnbench.workflow import phase

__all__ = ["import_original", "import_retrain", "train_reference"]


def train_reference(data_npz: str | Path, data_json: str | Path, out_ckpt: str | Path, *, model: dict[str, Any],
                    train: dict[str, Any], seed: int, threads: int, device: str,
                    forget_set: str | Path | None = None, role: str | None = None,
                    monitor_images: int | None = None, weights: str | Path | None = None) -> None:
    """Train a reference: the ``original`` (all training data), a seed-noise-floor ``original_prime`` (the
    same recipe and data, another seed), or — given a forget set — the ``retrain`` reference.

    The model is initialised and its batches ordered from :func:`unlearnbench.seeding.init_seed` of its
    role and ``seed``, so no two references share an initialisation. With ``model.pretrained`` (a
    safetensors or PyTorch weights file) the originals are *imported* instead of trained: see
    :func:`import_original`. The retrained reference is trained from scratch (the pretrained weights have
    seen the forget classes) unless ``weights`` names a published retrained reference of this scenario and
    seed (``retrain.pretrained``): see :func:`import_retrain`; ``train`` is then unused (may be None).
    """
    from unlearnbench.seeding import init_seed

    role = role or ("retrain" if forget_set is not None else "original")
    if (role == "retrain") != (forget_set is not None):
        raise ValueError(f"role {role!r} {'needs' if role == 'retrain' else 'takes no'} forget set")
    rng_seed = init_seed(role, seed)
    if weights is not None:
        if role != "retrain":
            raise ValueError(f"role {role!r}: `weights` imports a retrained reference; an original's weights come "
                             "from model.pretrained")
        return import_retrain(data_npz, data_json, forget_set, out_ckpt, model=model, weights=weights, seed=seed,
                              threads=threads, device=device)
    if model.get("pretrained") and role != "retrain":
        return import_original(data_npz, data_json, out_ckpt, model=model, train=train, seed=rng_seed,
                               threads=threads, device=device, role=role, replicate_seed=seed)
    from unlearnbench.models import create_model
    from unlearnbench.training import TrainConfig, accuracy, prepare_model, setup_torch, train_model

    with phase("load"):
        dev = setup_torch(rng_seed, threads, device)
        ds = load_prepared(data_npz)
        cfg = TrainConfig(**train)
        net = prepare_model(create_model(model["arch"], ds.num_classes, **model.get("kwargs", {})), dev)
        ds = ds.for_model(net)
        train_set, test_set = ds.split("train"), ds.split("test")
        fs = read_forget_set(forget_set) if forget_set else None
        monitor = {"test": test_set}
        if fs is not None:
            idx = fs.splits(ds.y_train, ds.y_test)
            train_set = train_set.subset(idx["retain_train"])
            monitor = {"retain_test": test_set.subset(idx["retain_test"])}
            if len(idx["forget_test"]):
                monitor["forget_test"] = test_set.subset(idx["forget_test"])
    with phase("compute"):
        t0 = time.perf_counter()
        curve = train_model(net, train_set, cfg, seed=rng_seed, device=dev, desc=role,
                            monitor=monitored(monitor, monitor_images, rng_seed))
        wall = time.perf_counter() - t0
        final = {name: accuracy(net, subset, dev) for name, subset in monitor.items()}
    meta = run_meta(role, model["arch"], ds.num_classes, model.get("kwargs", {}), seed,
                     {"model": model, "train": train, "seed": seed}, dev, init_seed=rng_seed,
                     data_hash=data_meta(data_json)["data_hash"],
                     forget_hash=fs.forget_hash if fs else None, curve=curve, final_accuracy=final,
                     wall_time_s=wall, n_train=len(train_set), monitor_images=monitor_images,
                     img_per_s=cfg.epochs * len(train_set) / max(wall, 1e-9), status="ok", source="trained")
    with phase("write"):
        save_checkpoint(out_ckpt, net, meta)


def import_original(data_npz: str | Path, data_json: str | Path, out_ckpt: str | Path, *, model: dict[str, Any],
                    train: dict[str, Any], seed: int, threads: int, device: str, role: str = "original",
                    replicate_seed: int | None = None) -> None:
    """The original model from a local pretrained weights file (``model.pretrained``), not trained here.

    The weights load into ``model.arch`` built with the upstream class count
    (:func:`unlearnbench.checkpoints.load_pretrained_weights`). When the file's classifier has another class
    count (e.g. ImageNet weights, CIFAR-100 upstream), the classifier is reset and fine-tuned with the
    ``train`` recipe: ``model.finetune: head`` (default) trains only the classifier, on pre-logit features
    of the un-augmented training set computed once (:func:`unlearnbench.heads.finetune_head`; the
    representation stays exactly the pretrained one);
    ``model.finetune: all`` fine-tunes the whole network with :func:`unlearnbench.training.train_model`.
    When the head matches (ImageNet weights, ImageNet upstream in the standard sorted-WordNet-id class
    order) nothing is trained. The sidecar records ``source: import`` and the weights file's SHA-256, format
    and wrapper key (:func:`unlearnbench.checkpoints.weights_provenance`), and ``input_norm``: the mean/std of
    the architecture's timm ``pretrained_cfg`` (when it has one), with which pixel datasets are normalised for
    this model and every model unlearned from it (``ArrayDataset.for_model``).
    ``seed`` drives the head's initialisation and training (an ``original_prime`` imports the same weights
    with another seed: its floor measures the noise of what this pipeline trains).
    """
    from unlearnbench.checkpoints import load_pretrained_weights, weights_provenance
    from unlearnbench.heads import finetune_head
    from unlearnbench.models import create_model, pretrained_norm, set_input_norm
    from unlearnbench.training import TrainConfig, accuracy, prepare_model, setup_torch, train_model

    dev = setup_torch(seed, threads, device)
    ds = load_prepared(data_npz)
    weights = Path(model["pretrained"])
    net = create_model(model["arch"], ds.num_classes, **model.get("kwargs", {}))
    info = load_pretrained_weights(net, weights)
    norm = pretrained_norm(net)
    net = prepare_model(set_input_norm(net, norm), dev)
    ds = ds.for_model(net)
    train_set, test_set = ds.split("train"), ds.split("test")
    cfg = TrainConfig(**train)
    scope = model.get("finetune", "head")
    t0 = time.perf_counter()
    curve: list[dict] = []
    if info["head"] == "reset":
        if scope == "all":
            curve = train_model(net, train_set, cfg, seed=seed, device=dev, desc="finetune", monitor={"test": test_set})
        else:
            curve = finetune_head(net, train_set, cfg, seed=seed, device=dev)
    wall = time.perf_counter() - t0
    final = {"test": accuracy(net, test_set, dev)}
    replicate = seed if replicate_seed is None else replicate_seed
    meta = run_meta(role, model["arch"], ds.num_classes, model.get("kwargs", {}), replicate,
                     {"model": model, "train": train, "seed": replicate}, dev, init_seed=seed,
                     data_hash=data_meta(data_json)["data_hash"],
                     forget_hash=None, curve=curve, final_accuracy=final, wall_time_s=wall, n_train=len(train_set),
                     status="ok", source="import", input_norm=norm,
                     pretrained={**weights_provenance(weights, {k: info[k] for k in ("format", "wrapper")}),
                                 "head": info["head"], "weights_num_classes": info["weights_num_classes"],
                                 "finetune": scope if info["head"] == "reset" else None})
    save_checkpoint(out_ckpt, net, meta)


def import_retrain(data_npz: str | Path, data_json: str | Path, forget_set: str | Path, out_ckpt: str | Path, *,
                   model: dict[str, Any], weights: str | Path, seed: int, threads: int, device: str) -> None:
    """The retrained reference of one scenario and replicate ``seed`` imported from a published weights file
    (``retrain.pretrained``, expanded for this scenario and seed) instead of trained here.

    The file must fit ``model.arch`` with the upstream class count exactly (the retrained reference keeps
    every class's output; a classifier mismatch is an error, nothing is fine-tuned). The sidecar is a
    retrained reference's (role ``retrain``, the forget set's hash, the final retain/forget test accuracies)
    with ``source: import``, ``pretrained`` (path, SHA-256, format, wrapper key) and ``input_norm`` (the
    architecture's ``pretrained_cfg`` mean/std, as for an imported original)."""
    from unlearnbench.checkpoints import load_pretrained_weights, weights_provenance
    from unlearnbench.models import create_model, pretrained_norm, set_input_norm
    from unlearnbench.seeding import init_seed
    from unlearnbench.training import accuracy, prepare_model, setup_torch

    with phase("load"):
        dev = setup_torch(init_seed("retrain", seed), threads, device)
        ds = load_prepared(data_npz)
        net = create_model(model["arch"], ds.num_classes, **model.get("kwargs", {}))
        info = load_pretrained_weights(net, weights, reset_head=False)
        norm = pretrained_norm(net)
        net = prepare_model(set_input_norm(net, norm), dev)
        ds = ds.for_model(net)
        fs = read_forget_set(forget_set)
        idx = fs.splits(ds.y_train, ds.y_test)
        test_set = ds.split("test")
        monitor = {"retain_test": test_set.subset(idx["retain_test"])}
        if len(idx["forget_test"]):
            monitor["forget_test"] = test_set.subset(idx["forget_test"])
    with phase("compute"):
        final = {name: accuracy(net, subset, dev) for name, subset in monitor.items()}
    meta = run_meta("retrain", model["arch"], ds.num_classes, model.get("kwargs", {}), seed,
                     {"model": model, "pretrained": str(weights), "seed": seed}, dev, init_seed=None,
                     data_hash=data_meta(data_json)["data_hash"], forget_hash=fs.forget_hash, curve=[],
                     final_accuracy=final, wall_time_s=0.0, n_train=len(idx["retain_train"]), status="ok",
                     source="import", input_norm=norm,
                     pretrained={**weights_provenance(weights, {k: info[k] for k in ("format", "wrapper")}),
                                 "head": info["head"], "weights_num_classes": info["weights_num_classes"]})
    with phase("write"):
        save_checkpoint(out_ckpt, net, meta)
