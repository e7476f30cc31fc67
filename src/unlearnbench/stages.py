"""The library side of the Snakemake rules: one function per stage, plain paths and dicts in and out.

``workflow_scripts/*.py`` only unpack ``snakemake.input/params/output`` and call these, so every stage is
importable and testable without Snakemake. Every output is written atomically.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.atomic import write_json
from unlearnbench.checkpoints import load_checkpoint, read_meta, save_checkpoint
from unlearnbench.data import ArrayDataset, build_dataset, load_prepared
from unlearnbench.data.forget_sets import (ForgetSet, make_forget_set, rank_top, read_forget_set, write_forget_set,
                                           write_ranking)
from unlearnbench.provenance import code_version, config_hash, device_name, file_hash, package_versions
from unlearnbench.workflow import phase


def prepare_data(spec: dict[str, Any], out_npz: str | Path, out_meta: str | Path, out_sheet: str | Path,
                 upstream: dict[str, Any] | None = None, validation: dict[str, Any] | None = None) -> None:
    """Materialise a dataset as ``.npz`` + a JSON manifest (hash, classes) + a PNG contact sheet.

    ``validation`` (``{fraction, seed}``, upstream only) carves a stratified validation split out of the
    training data (:meth:`ArrayDataset.carve_validation`): what the tune stage selects on. No model trains
    on it and no reported metric reads it.

    The ``.npz`` holds pixels (in-memory datasets) or paths (file-backed datasets); see ``data/files.py``
    for the contract. ``storage`` in the manifest says which.
    """
    from unlearnbench.data.contact_sheet import write_contact_sheet

    from unlearnbench.atomic import atomic_path

    t0 = time.perf_counter()
    with phase("compute"):
        ds = build_dataset(spec, upstream)
        if validation and validation.get("fraction", 0) > 0:
            ds = ds.carve_validation(float(validation["fraction"]), int(validation["seed"]))
    with phase("write"):
        with atomic_path(out_npz, suffix=".tmp.npz") as tmp:
            ds.save_npz(tmp)
        write_contact_sheet(ds.preview(), out_sheet, max_classes=None if ds.storage == "pixels" else 100)
        write_json(out_meta, {"spec": spec, "data_hash": file_hash(out_npz), "num_classes": ds.num_classes,
                              "class_names": ds.class_names, "superclass": ds.superclass,
                              "source_class": ds.source_class, "n_train": len(ds.y_train),
                              "n_test": len(ds.y_test), "n_val": len(getattr(ds, "y_val", ())),
                              "validation": validation,
                              "image_shape": ds.image_shape, "storage": ds.storage,
                              "seconds": time.perf_counter() - t0})


def data_meta(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _run_meta(role: str, arch: str, num_classes: int, model_kwargs: dict, seed: int, params: dict,
              device, **extra: Any) -> dict[str, Any]:
    return {"role": role, "arch": arch, "num_classes": num_classes, "model_kwargs": model_kwargs, "seed": seed,
            "params": params, "config_hash": config_hash(params), "device": device_name(device),
            "code_version": code_version(), "package_versions": package_versions(), **extra}


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
    meta = _run_meta(role, model["arch"], ds.num_classes, model.get("kwargs", {}), seed,
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
    of the un-augmented training set computed once (the representation stays exactly the pretrained one);
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
    meta = _run_meta(role, model["arch"], ds.num_classes, model.get("kwargs", {}), replicate,
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
    meta = _run_meta("retrain", model["arch"], ds.num_classes, model.get("kwargs", {}), seed,
                     {"model": model, "pretrained": str(weights), "seed": seed}, dev, init_seed=None,
                     data_hash=data_meta(data_json)["data_hash"], forget_hash=fs.forget_hash, curve=[],
                     final_accuracy=final, wall_time_s=0.0, n_train=len(idx["retain_train"]), status="ok",
                     source="import", input_norm=norm,
                     pretrained={**weights_provenance(weights, {k: info[k] for k in ("format", "wrapper")}),
                                 "head": info["head"], "weights_num_classes": info["weights_num_classes"]})
    with phase("write"):
        save_checkpoint(out_ckpt, net, meta)


def finetune_head(net, train_set, cfg, *, seed: int, device) -> list[dict]:
    """Train only ``net``'s linear classifier on cached pre-logit features (eval mode, no augmentation),
    with the recipe's SGD, cosine schedule, warm-up and label smoothing; the backbone (weights and BN
    statistics) is untouched. Returns the per-epoch curve."""
    import math

    import torch
    import torch.nn.functional as F

    from unlearnbench.training import autocast, check_finite, cosine_lr, sgd

    net.eval()
    feats, labels = [], []
    with torch.no_grad():
        for x, y in train_set.batches(512, device=device):
            with autocast(device):
                feats.append(net.forward_head(net.forward_features(x), pre_logits=True).float())
            labels.append(y)
    f, y = torch.cat(feats), torch.cat(labels)
    head = net.get_classifier()
    opt = sgd(head.parameters(), cfg)
    steps = max(1, math.ceil(len(y) / cfg.batch_size))
    total, warmup = cfg.epochs * steps, int(cfg.warmup_epochs * steps)
    gen = torch.Generator().manual_seed(seed)
    curve, step = [], 0
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(y), generator=gen).to(f.device)
        loss_sum, correct = 0.0, 0
        for s in range(0, len(y), cfg.batch_size):
            idx = order[s:s + cfg.batch_size]
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, cfg.lr, warmup)
            logits = head(f[idx])
            loss = F.cross_entropy(logits, y[idx], label_smoothing=cfg.label_smoothing)
            check_finite(loss, epoch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
        curve.append({"epoch": epoch + 1, "loss": loss_sum / len(y), "train_acc": correct / len(y),
                      "lr": opt.param_groups[0]["lr"], "scope": "head"})
    return curve


def select_forget_set(scenario: dict[str, Any], data_npz: str | Path, out_json: str | Path,
                      out_ranking: str | Path | None = None, up_features: str | Path | None = None,
                      down_features: str | Path | None = None, down_json: str | Path | None = None) -> None:
    """Write the forget set of one scenario; ``top`` ranks classes with the original model's features,
    ``indices`` maps its list through the prepared data's ``train_index`` (see ``data/forget_sets.py``)."""
    with phase("load"):
        ds = load_prepared(data_npz)
    ranking = None
    if scenario["kind"] == "top":
        from unlearnbench.features import read_features

        with phase("load"):
            up, down = read_features(up_features), read_features(down_features)
            down_names = data_meta(down_json)["class_names"]
        ranking, sim = rank_top(up.layers["pre_logits"], up.labels, ds.num_classes, down.layers["pre_logits"],
                                down.labels, len(down_names))
        write_ranking(out_ranking, ranking, sim, ds.class_names, down_names)
    elif out_ranking:
        from unlearnbench.atomic import write_text

        write_text(out_ranking, f"# scenario kind {scenario['kind']!r} has no similarity ranking\n")
    train_index = source_size = None
    if scenario["kind"] == "indices":  # listed in the numbering before the tuning carve-out (forget_sets.py)
        from unlearnbench.data.arrays import read_train_index

        train_index, source_size = read_train_index(data_npz)
    fs = make_forget_set(scenario, ds.y_train, ds.num_classes, ranking, class_names=ds.class_names,
                         train_index=train_index, source_size=source_size)
    write_forget_set(out_json, fs, scenario, ds.class_names)
    if fs.details.get("left_out_in_validation"):
        print(f"select_forget_set: {len(fs.details['left_out_in_validation'])} of {fs.details['listed']} samples "
              f"listed in {fs.details['file']} are in the tuning validation split (no model trains on them) and "
              "are left out of the forget set", file=sys.stderr)


def evalset_arrays(data: ArrayDataset, evalset: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of an eval set of an in-memory dataset (``dataset.evalset(name)`` for any kind)."""
    if evalset == "train":
        return data.x_train, data.y_train
    if evalset == "test":
        return data.x_test, data.y_test
    return np.concatenate([data.x_train, data.x_test]), np.concatenate([data.y_train, data.y_test])


__all__ = ["prepare_data", "train_reference", "import_original", "import_retrain", "select_forget_set",
           "evalset_arrays", "data_meta", "ForgetSet", "load_checkpoint", "read_meta"]
