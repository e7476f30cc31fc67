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
                    monitor_images: int | None = None) -> None:
    """Train a reference: the ``original`` (all training data), a seed-noise-floor ``original_prime`` (the
    same recipe and data, another seed), or — given a forget set — the ``retrain`` reference.

    The model is initialised and its batches ordered from :func:`unlearnbench.seeding.init_seed` of its
    role and ``seed``, so no two references share an initialisation. With ``model.pretrained`` (a
    safetensors file) the originals are *imported* instead of trained: see :func:`import_original`. The
    retrained reference is always trained from scratch (the pretrained weights have seen the forget classes).
    """
    from unlearnbench.seeding import init_seed

    role = role or ("retrain" if forget_set is not None else "original")
    if (role == "retrain") != (forget_set is not None):
        raise ValueError(f"role {role!r} {'needs' if role == 'retrain' else 'takes no'} forget set")
    rng_seed = init_seed(role, seed)
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
    order) nothing is trained. The sidecar records ``source: import`` and the weights file's SHA-256.
    ``seed`` drives the head's initialisation and training (an ``original_prime`` imports the same weights
    with another seed: its floor measures the noise of what this pipeline trains).
    """
    from unlearnbench.checkpoints import load_pretrained_weights
    from unlearnbench.models import create_model
    from unlearnbench.training import TrainConfig, accuracy, prepare_model, setup_torch, train_model

    dev = setup_torch(seed, threads, device)
    ds = load_prepared(data_npz)
    weights = Path(model["pretrained"])
    net = create_model(model["arch"], ds.num_classes, **model.get("kwargs", {}))
    info = load_pretrained_weights(net, weights)
    net = prepare_model(net, dev)
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
                     status="ok", source="import",
                     pretrained={"path": str(weights), "sha256": file_hash(weights, length=64), "head": info["head"],
                                 "weights_num_classes": info["weights_num_classes"],
                                 "finetune": scope if info["head"] == "reset" else None})
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
    """Write the forget set of one scenario; ``top`` ranks classes with the original model's features."""
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
    fs = make_forget_set(scenario, ds.y_train, ds.num_classes, ranking)
    write_forget_set(out_json, fs, scenario, ds.class_names)


def evalset_arrays(data: ArrayDataset, evalset: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of an eval set of an in-memory dataset (``dataset.evalset(name)`` for any kind)."""
    if evalset == "train":
        return data.x_train, data.y_train
    if evalset == "test":
        return data.x_test, data.y_test
    return np.concatenate([data.x_train, data.x_test]), np.concatenate([data.y_train, data.y_test])


__all__ = ["prepare_data", "train_reference", "import_original", "select_forget_set", "run_unlearning", "tune_method",
           "evalset_arrays", "data_meta", "ForgetSet", "load_checkpoint", "read_meta"]


def _unlearning_task(original_ckpt: str | Path, data_npz: str | Path, forget_json: str | Path, *, seed: int,
                     threads: int, device: str, monitor_test: bool = True, monitor_images: int | None = None,
                     surrogate_npz: str | Path | None = None):
    """Seed torch, load the original model and build the :class:`UnlearnTask` of a forget set.

    ``monitor_test=False`` leaves the test splits out of the per-epoch monitoring (the tune stage never
    reads them, not even for logging); ``monitor_images`` caps each monitored split (:func:`monitored`);
    ``surrogate_npz`` (a prepared downstream dataset: ``methods.<instance>.surrogate_set``) gives
    ``task.surrogate``, its training images, prepared for the model like the upstream data."""
    from unlearnbench.methods import UnlearnTask
    from unlearnbench.training import prepare_model, setup_torch

    dev = setup_torch(seed, threads, device)
    model, original_meta = load_checkpoint(original_ckpt, dev)
    model = prepare_model(model, dev)
    ds = load_prepared(data_npz).for_model(model)
    fs = read_forget_set(forget_json)
    idx = fs.splits(ds.y_train, ds.y_test)
    train_set, test_set = ds.split("train"), ds.split("test")
    monitor = {"forget": train_set.subset(idx["forget_train"])}
    if monitor_test:
        monitor["retain_test"] = test_set.subset(idx["retain_test"])
        if len(idx["forget_test"]):
            monitor["forget_test"] = test_set.subset(idx["forget_test"])
    task = UnlearnTask(forget=train_set.subset(idx["forget_train"]), retain=train_set.subset(idx["retain_train"]),
                       num_classes=ds.num_classes, forget_classes=list(fs.forget_classes) if fs.forget_classes
                       else None, device=dev, seed=seed, monitor=monitored(monitor, monitor_images, seed),
                       surrogate=load_prepared(surrogate_npz).for_model(model).split("train") if surrogate_npz
                       else None)
    return dev, model, original_meta, ds, fs, task


def run_unlearning(instance: str, spec: dict[str, Any], original_ckpt: str | Path, data_npz: str | Path,
                   data_json: str | Path, forget_json: str | Path, out_ckpt: str | Path, *, seed: int,
                   threads: int, device: str, tuning_json: str | Path | None = None,
                   monitor_images: int | None = None, surrogate_npz: str | Path | None = None) -> None:
    """Apply one method instance to the original model for one scenario and seed; record its status.

    With ``tuning_json`` (the tune stage's selection for this instance and scenario) the chosen grid point
    overrides the configured hyper-parameters; the selection is recorded in the sidecar (``tuning``).
    A diverged run (NaN/inf loss or weights) is saved with ``status: diverged`` so that evaluation reports
    the row with its status instead of the DAG failing; a run that changed no weight is saved with
    ``status: no_op`` (and ``no_op_reason``), never as a success. The sidecar records the budget the method
    used (``forget_images_seen``, ``retain_images_seen``, plus ``n_forget``/``n_retain``, the set sizes),
    ``wall_time_s`` of the method alone and ``monitor_seconds`` of its per-epoch monitoring
    (:meth:`unlearnbench.methods.UnlearningMethod.run`).
    """
    from unlearnbench.methods import create_method
    from unlearnbench.training import accuracy

    tuning = json.loads(Path(tuning_json).read_text()) if tuning_json else None
    spec = {**spec, **tuning["chosen"]} if tuning else spec
    method = create_method(instance, spec)
    with phase("load"):
        dev, model, original_meta, ds, fs, task = _unlearning_task(original_ckpt, data_npz, forget_json, seed=seed,
                                                                   threads=threads, device=device,
                                                                   monitor_images=monitor_images,
                                                                   surrogate_npz=surrogate_npz)
    monitor = task.monitor
    with phase("compute"):
        before = {name: accuracy(model, subset, dev) for name, subset in monitor.items()}
        outcome = method.run(model, task)
        after = ({name: accuracy(outcome.model, subset, dev) for name, subset in monitor.items()}
                 if outcome.status != "diverged" else {})
    meta = _run_meta("unlearn", original_meta["arch"], ds.num_classes, original_meta.get("model_kwargs", {}), seed,
                     {"recipe": original_meta.get("params", {}), "method": spec, "seed": seed}, dev,
                     method=instance, algorithm=spec["algorithm"], method_params=method.get_params(),
                     data_hash=data_meta(data_json)["data_hash"], forget_hash=fs.forget_hash,
                     original_config_hash=original_meta.get("config_hash"), status=outcome.status,
                     accuracy_before=before, accuracy_after=after, tuning=tuning, monitor_images=monitor_images,
                     n_forget=len(task.forget), n_retain=len(task.retain), **outcome.log)
    if outcome.model.get_classifier().out_features != ds.num_classes:
        raise RuntimeError(f"method {instance} returned a model with {outcome.model.get_classifier().out_features} "
                           f"outputs; expected the original {ds.num_classes} classes")
    with phase("write"):
        save_checkpoint(out_ckpt, outcome.model, meta)


#: how the tune stage scores a grid point (written into every selection record)
TUNING_CRITERION = ("|acc(forget) - acc_retrain(forget)| + |acc(retain_val) - acc_retrain(retain_val)|; forget = "
                    "validation images of the forget classes (class forgetting) or the forget samples themselves "
                    "(sample forgetting); retain_val = validation images of the retained classes; a diverged "
                    "or no-op point (no weight changed) scores +inf; ties go to the first point of the grid")


def tune_method(instance: str, spec: dict[str, Any], original_ckpt: str | Path, retrain_ckpt: str | Path,
                data_npz: str | Path, forget_json: str | Path, out_json: str | Path, *, seed: int, threads: int,
                device: str, monitor_images: int | None = None,
                surrogate_npz: str | Path | None = None) -> dict[str, Any]:
    """Select one method instance's hyper-parameters for one scenario on logits only (see docs/tuning.md).

    Every point of the instance's grid (:func:`unlearnbench.methods.grid_points`) is a real unlearning
    run from the original model (replicate ``seed``). Each is scored by :data:`TUNING_CRITERION` against
    the retrained reference of the same seed, on the **validation split carved from the training data**
    (``prepare_data``): the test splits the leaderboard reports are never read. Writes and returns the
    record ``{grid, scores, accuracies, retrain, chosen, chosen_index, criterion, seed}``.
    """
    from unlearnbench.methods import create_method, grid_points
    from unlearnbench.training import accuracy

    points = grid_points(instance, spec)
    if not points:
        raise ValueError(f"methods.{instance}: nothing to tune (no grid, or tune: false)")
    for point in points:
        create_method(instance, {**spec, **point})  # every point valid before any run
    load = dict(seed=seed, threads=threads, device=device, monitor_test=False, monitor_images=monitor_images,
                surrogate_npz=surrogate_npz)
    with phase("load"):
        dev, _, _, ds, fs, task = _unlearning_task(original_ckpt, data_npz, forget_json, **load)
        val = ds.split("val")
        if len(val) == 0:
            raise ValueError(f"tuning {instance}: the upstream dataset has no validation split; set "
                             "tuning.validation_fraction > 0 (or tuning.enabled: false)")
        if fs.forget_classes:
            in_forget = np.isin(val.labels, list(fs.forget_classes))
            sets = {"forget": val.subset(np.flatnonzero(in_forget)),
                    "retain_val": val.subset(np.flatnonzero(~in_forget))}
        else:
            sets = {"forget": task.forget, "retain_val": val}
        retrain, _ = load_checkpoint(retrain_ckpt, dev)
        retrain_acc = {k: accuracy(retrain, v, dev) for k, v in sets.items()}
    scores, accs = [], []
    for point in points:
        with phase("load"):  # a fresh original, seeded exactly as run_unlearning seeds it
            _, model, _, _, _, task = _unlearning_task(original_ckpt, data_npz, forget_json, **load)
        with phase("compute"):
            outcome = create_method(instance, {**spec, **point}).run(model, task)
            acc = ({k: accuracy(outcome.model, v, dev) for k, v in sets.items()} if outcome.status == "ok"
                   else {k: float("nan") for k in sets})
        score = sum(abs(acc[k] - retrain_acc[k]) for k in sets)
        scores.append(score if np.isfinite(score) else float("inf"))
        accs.append(acc)
        print(f"[tune {instance}] point {point}: {acc} score {scores[-1]:.4f}", file=sys.stderr, flush=True)
    best = int(np.argmin(scores))
    record = {"instance": instance, "algorithm": spec["algorithm"], "grid": points, "scores": scores,
              "accuracies": accs, "retrain": retrain_acc, "chosen": points[best], "chosen_index": best,
              "criterion": TUNING_CRITERION, "seed": seed}
    with phase("write"):
        write_json(out_json, record)
    return record
