"""The ``tune`` stage: select one method instance's hyper-parameters per scenario on logits only, and keep the
selected run (docs/tuning.md).

Every point of the instance's grid (:func:`unlearnbench.methods.grid_points`) is a real unlearning run from
the original model on the first replicate seed, seeded exactly as :func:`unlearnbench.unlearning.run_unlearning`
seeds it. Each is scored by :data:`TUNING_CRITERION` against the retrained reference of the same seed, on
the **validation split carved from the training data** (``prepare_data``): the test splits the leaderboard
reports are never read, not even by the per-epoch monitoring.

**Edges.** A grid whose best point lies on the edge of an axis has not bracketed the optimum: with
``edge_steps`` > 0 the stage then runs one more point past that edge on each such axis (the best point with
that value replaced: a float axis continues geometrically, an int axis arithmetically, from its two outermost
values; a point the method rejects — outside a declared range, or inconsistent with the instance's other
values — is not run), and repeats from the new best point
up to ``edge_steps`` times.

**Refinement.** A grid resolves its optimum only to one grid step (lr 3e-3 vs 5e-3; SSD's α 2 vs 4, where
the dampened fraction jumps). With ``refine_steps`` > 0 the stage then halves the step around the best point:
on each numeric axis, one point between the best value and its better-scoring neighbour on the line through
the best point (the searched points that differ from it on that axis only) — the geometric mean for a float
axis, the arithmetic midpoint for an int axis (none when the neighbours are adjacent integers) — and repeats
from the new best point up to ``refine_steps`` times. Coarse to fine, the same rule for every instance.
The points run beyond the declared grid (edges, then refinements) are recorded as ``extended``.

The selected point's model is written beside the selection record (:func:`tuned_model_path`): it *is* the
first seed's unlearning run, so the unlearn job of that seed adopts it instead of computing it again
(:func:`unlearnbench.unlearning.run_unlearning` with ``tuned_ckpt``; identical weights, tested). Its per-epoch
curves lack the test splits, which the tune stage must not read.
"""
from __future__ import annotations

import copy
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.atomic import write_json
from unlearnbench.checkpoints import load_checkpoint, save_checkpoint
from unlearnbench.workflow import phase

__all__ = ["TUNING_CRITERION", "criterion_score", "edge_points", "halfway", "refine_points", "step_beyond",
           "tune_method", "tuned_model_path", "tuning_sets"]

#: how the tune stage scores a grid point (written into every selection record)
TUNING_CRITERION = ("|acc(forget) - acc_retrain(forget)| + |acc(retain_val) - acc_retrain(retain_val)|; forget = "
                    "validation images of the forget classes (class forgetting) or the forget samples themselves "
                    "(sample forgetting); retain_val = validation images of the retained classes; a diverged "
                    "or no-op point (no weight changed) scores +inf; ties go to the first point of the grid")


def tuned_model_path(record_json: str | Path) -> Path:
    """The selected run's checkpoint, beside its selection record (``{scenario}/{method}.json`` →
    ``{scenario}/{method}.safetensors``)."""
    return Path(record_json).with_suffix(".safetensors")


def criterion_score(acc: dict[str, float], target: dict[str, float]) -> float:
    """:data:`TUNING_CRITERION` of one point: the summed absolute accuracy gaps to the retrained reference over
    the sets of ``target``; +inf when any accuracy is not finite (a diverged or no-op point)."""
    score = sum(abs(acc[k] - target[k]) for k in target)
    return float(score) if np.isfinite(score) else math.inf


def _accepted(instance: str, spec: dict[str, Any], point: dict[str, Any], searched: list[dict[str, Any]],
              out: list[dict[str, Any]]) -> bool:
    """A new point the method accepts with the instance's other values (:func:`unlearnbench.methods.create_method`):
    not outside a declared range, not inconsistent with the other values, and not running what a point searched
    or proposed already runs (equal :meth:`~unlearnbench.methods.base.UnlearningMethod.effective_params`)."""
    from unlearnbench.methods import create_method

    try:
        effective = create_method(instance, {**spec, **point}).effective_params()
    except ValueError:
        return False
    return all(create_method(instance, {**spec, **p}).effective_params() != effective for p in [*searched, *out])


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one_sign(a: float, b: float) -> bool:
    """Both non-zero and of one sign: a float axis then moves geometrically, otherwise arithmetically."""
    return a * b > 0


def step_beyond(edge: float, inner: float) -> float:
    """One grid step past ``edge``, away from ``inner``: ×(edge/inner) for floats of one sign, + (edge − inner)
    otherwise (ints, zero, mixed signs); floats to 6 significant digits."""
    if not isinstance(edge, float):
        return edge + (edge - inner)
    return float(f"{edge * (edge / inner) if _one_sign(edge, inner) else edge + (edge - inner):.6g}")


def halfway(a: float, b: float) -> float | None:
    """The point halfway between ``a`` and ``b``: the geometric mean (signed) for floats of one sign, else the
    arithmetic midpoint, 6 significant digits; for two ints the midpoint rounded down, None when none lies
    strictly between them."""
    if isinstance(a, float) or isinstance(b, float):
        mid = math.copysign(math.sqrt(a * b), a) if _one_sign(a, b) else (a + b) / 2
        return float(f"{mid:.6g}")
    mid = (a + b) // 2
    return None if mid in (a, b) else mid


def edge_points(instance: str, spec: dict[str, Any], searched: list[dict[str, Any]],
                best: dict[str, Any]) -> list[dict[str, Any]]:
    """The points one step past the edge of every numeric axis on which ``best`` holds the extreme value of
    the ``searched`` points (module docstring "Edges"): new points the method accepts with the instance's other
    values (:func:`unlearnbench.methods.create_method`), in the grid's axis order."""
    out: list[dict[str, Any]] = []
    for key, value in best.items():
        values = sorted({p[key] for p in searched})
        if len(values) < 2 or not _numeric(value):
            continue
        if value not in (values[0], values[-1]):
            continue
        edge, inner = (values[0], values[1]) if value == values[0] else (values[-1], values[-2])
        point = {**best, key: step_beyond(edge, inner)}
        if _accepted(instance, spec, point, searched, out):
            out.append(point)
    return out


def refine_points(instance: str, spec: dict[str, Any], searched: list[dict[str, Any]], scores: list[float],
                  best: dict[str, Any]) -> list[dict[str, Any]]:
    """The points halfway between ``best`` and its better-scoring neighbour on every numeric axis (module
    docstring "Refinement"): neighbours are the nearest values below and above on the line through ``best``
    (searched points equal to it on every other key); a tie goes to the lower value. Geometric mean for
    floats of one sign, else the arithmetic midpoint (rounded down for ints: none between adjacent ints)."""
    out: list[dict[str, Any]] = []
    for key, value in best.items():
        if not _numeric(value):
            continue
        line = {point[key]: score for point, score in zip(searched, scores)  # searched points are distinct
                if point[key] != value and all(point[k] == best[k] for k in best if k != key)}
        below = [v for v in line if v < value]
        above = [v for v in line if v > value]
        sides = ([max(below)] if below else []) + ([min(above)] if above else [])
        if not sides:
            continue
        mid = halfway(value, min(sides, key=lambda v: line[v]))  # min is stable: the lower value on a tie
        if mid is None:
            continue
        point = {**best, key: mid}
        if _accepted(instance, spec, point, searched, out):
            out.append(point)
    return out


def tuning_sets(ds, fs, forget=None) -> dict[str, Any]:
    """The sets a grid point is scored on (:data:`TUNING_CRITERION`), from a dataset prepared for one model;
    ``forget``: the task's forget set, for sample forgetting (else it is drawn from ``ds``)."""
    val = ds.split("val")
    if fs.forget_classes:
        in_forget = np.isin(val.labels, list(fs.forget_classes))
        return {"forget": val.subset(np.flatnonzero(in_forget)), "retain_val": val.subset(np.flatnonzero(~in_forget))}
    if forget is None:
        forget = ds.split("train").subset(fs.splits(ds.y_train, ds.y_test)["forget_train"])
    return {"forget": forget, "retain_val": val}


def tune_method(instance: str, spec: dict[str, Any], original_ckpt: str | Path, retrain_ckpt: str | Path,
                data_npz: str | Path, forget_json: str | Path, out_json: str | Path, *, seed: int, threads: int,
                device: str, monitor_images: int | None = None, surrogate_npz: str | Path | None = None,
                edge_steps: int = 0, refine_steps: int = 0) -> dict[str, Any]:
    """Select one method instance's hyper-parameters for one scenario on logits only (module docstring).

    Writes and returns the record ``{grid, extended, scores, accuracies, retrain, chosen, chosen_index, criterion,
    seed}`` (``scores``, ``accuracies`` and ``chosen_index`` over ``grid + extended``) and the chosen point's
    model (:func:`tuned_model_path`; its sidecar carries the run's status and log).
    """
    from unlearnbench.data.arrays import model_norm
    from unlearnbench.methods import create_method, grid_points
    from unlearnbench.unlearning import _unlearning_task
    from unlearnbench.training import accuracy

    points = grid_points(instance, spec)
    if not points:
        raise ValueError(f"methods.{instance}: nothing to tune (no grid, or tune: false)")
    for point in points:
        create_method(instance, {**spec, **point})  # every point valid before any run
    load = dict(seed=seed, threads=threads, device=device, monitor_test=False, monitor_images=monitor_images,
                surrogate_npz=surrogate_npz)
    with phase("load"):
        dev, original, original_meta, ds, fs, task = _unlearning_task(original_ckpt, data_npz, forget_json, **load)
        val = ds.split("val")
        if len(val) == 0:
            raise ValueError(f"tuning {instance}: the upstream dataset has no validation split; set "
                             "tuning.validation_fraction > 0 (or tuning.enabled: false)")
        sets = tuning_sets(ds, fs, task.forget)
        retrain, _ = load_checkpoint(retrain_ckpt, dev)
        # the retrained reference sees the images normalised for itself (an imported one: its pretrained_cfg's)
        same_input = model_norm(retrain) == model_norm(original)
        retrain_sets = sets if same_input else tuning_sets(ds.for_model(retrain), fs)
        retrain_acc = {k: accuracy(retrain, v, dev) for k, v in retrain_sets.items()}
    scores, accs, best = [], [], None

    def run(point: dict[str, Any]) -> None:
        nonlocal best
        with phase("load"):  # a fresh original, seeded exactly as run_unlearning seeds it
            _, model, _, _, _, task = _unlearning_task(original_ckpt, data_npz, forget_json, **load)
        with phase("compute"):
            outcome = create_method(instance, {**spec, **point}).run(model, task)
            acc = ({k: accuracy(outcome.model, v, dev) for k, v in sets.items()} if outcome.status == "ok"
                   else {k: float("nan") for k in sets})
        scores.append(criterion_score(acc, retrain_acc))
        accs.append(acc)
        if best is None or scores[-1] < scores[best[0]]:  # strict: ties keep the first point, as np.argmin
            best = (len(scores) - 1, copy.deepcopy(outcome.model).cpu(), outcome.status, outcome.log)
        print(f"[tune {instance}] point {point}: {acc} score {scores[-1]:.4f}", file=sys.stderr, flush=True)

    for point in points:
        run(point)
    searched = list(points)
    for steps, propose in ((edge_steps, lambda top: edge_points(instance, spec, searched, top)),
                           (refine_steps, lambda top: refine_points(instance, spec, searched, scores, top))):
        for _ in range(steps):
            new = propose(searched[int(np.argmin(scores))])
            if not new:
                break
            for point in new:
                searched.append(point)
                run(point)
    chosen = int(np.argmin(scores))
    assert best is not None and best[0] == chosen
    extended = searched[len(points):]
    record = {"instance": instance, "algorithm": spec["algorithm"], "grid": points, "extended": extended,
              "scores": scores,
              "accuracies": accs, "retrain": retrain_acc, "chosen": searched[chosen], "chosen_index": chosen,
              "criterion": TUNING_CRITERION, "seed": seed}
    with phase("write"):
        save_checkpoint(tuned_model_path(out_json), best[1],
                        {"role": "tuned", "arch": original_meta["arch"], "num_classes": ds.num_classes,
                         "model_kwargs": original_meta.get("model_kwargs", {}), "seed": seed, "method": instance,
                         "chosen": searched[chosen], "status": best[2], "log": best[3]})
        write_json(out_json, record)
    return record
