"""The ``unlearn`` stage: one method instance applied to the original model for one (scenario, seed), its status
and budget recorded in the checkpoint sidecar; the task every method (and the tune stage) starts from."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unlearnbench.checkpoints import load_checkpoint, save_checkpoint
from unlearnbench.data import load_prepared
from unlearnbench.data.forget_sets import read_forget_set
from unlearnbench.runs import data_meta, monitored, run_meta
from unlearnbench.workflow import phase

__all__ = ["adopt_tuned_run", "run_unlearning"]


def _unlearning_task(original_ckpt: str | Path, data_npz: str | Path, forget_json: str | Path, *, seed: int,
                     threads: int, device: str, monitor_test: bool = True, monitor_images: int | None = None,
                     surrogate_npz: str | Path | None = None):
    """Seed torch, load the original model and build the :class:`UnlearnTask` of a forget set.

    ``monitor_test=False`` leaves the test splits out of the per-epoch monitoring (the tune stage never
    reads them, not even for logging); ``monitor_images`` caps each monitored split
    (:func:`unlearnbench.runs.monitored`);
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
                       scenario=fs.scenario,
                       surrogate=load_prepared(surrogate_npz).for_model(model).split("train") if surrogate_npz
                       else None)
    return dev, model, original_meta, ds, fs, task


def adopt_tuned_run(tuned_ckpt: str | Path, tuning: dict[str, Any] | None, seed: int, dev):
    """The tune stage's run of the chosen point as this job's outcome; refused unless it is that point's run on
    this seed (a stale or foreign checkpoint never stands in for a run)."""
    from unlearnbench.methods import UnlearnOutcome
    from unlearnbench.training import prepare_model

    model, meta = load_checkpoint(tuned_ckpt, dev)
    if tuning is None or meta.get("seed") != seed or meta.get("chosen") != tuning["chosen"]:
        raise ValueError(f"{tuned_ckpt}: the tuned run (seed {meta.get('seed')}, point {meta.get('chosen')}) is not "
                         f"this job's (seed {seed}, point {tuning and tuning['chosen']}); rerun the tune job")
    return UnlearnOutcome(prepare_model(model, dev), meta["status"], {**meta["log"], "adopted_from_tune": True})


def run_unlearning(instance: str, spec: dict[str, Any], original_ckpt: str | Path, data_npz: str | Path,
                   data_json: str | Path, forget_json: str | Path, out_ckpt: str | Path, *, seed: int,
                   threads: int, device: str, tuning_json: str | Path | None = None,
                   monitor_images: int | None = None, surrogate_npz: str | Path | None = None,
                   tuned_ckpt: str | Path | None = None) -> None:
    """Apply one method instance to the original model for one scenario and seed; record its status.

    With ``tuning_json`` (the tune stage's selection for this instance and scenario) the chosen grid point
    overrides the configured hyper-parameters; the selection is recorded in the sidecar (``tuning``). With
    ``tuned_ckpt`` (the tune stage's run of that point on this very seed, :mod:`unlearnbench.tuning`) that run
    is adopted instead of computed again — the same seeded computation, so the same weights — and the sidecar
    says so (``adopted_from_tune``); its per-epoch curves lack the test splits the tune stage never reads.
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
        outcome = adopt_tuned_run(tuned_ckpt, tuning, seed, dev) if tuned_ckpt else method.run(model, task)
        after = ({name: accuracy(outcome.model, subset, dev) for name, subset in monitor.items()}
                 if outcome.status != "diverged" else {})
    meta = run_meta("unlearn", original_meta["arch"], ds.num_classes, original_meta.get("model_kwargs", {}), seed,
                     {"recipe": original_meta.get("params", {}), "method": spec, "seed": seed}, dev,
                     method=instance, algorithm=spec["algorithm"], method_params=method.get_params(),
                     data_hash=data_meta(data_json)["data_hash"], forget_hash=fs.forget_hash,
                     original_config_hash=original_meta.get("config_hash"), status=outcome.status,
                     accuracy_before=before, accuracy_after=after, tuning=tuning, monitor_images=monitor_images,
                     n_forget=len(task.forget), n_retain=len(task.retain),
                     # an unlearned model keeps its original's input normalisation (imported weights: theirs)
                     input_norm=original_meta.get("input_norm"), **outcome.log)
    if outcome.model.get_classifier().out_features != ds.num_classes:
        raise RuntimeError(f"method {instance} returned a model with {outcome.model.get_classifier().out_features} "
                           f"outputs; expected the original {ds.num_classes} classes")
    with phase("write"):
        save_checkpoint(out_ckpt, outcome.model, meta)
