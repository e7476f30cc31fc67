"""The built-in dataset adapters: the procedural generator and `.npz` arrays."""
from __future__ import annotations

import inspect
from typing import Any


import numpy as np

from unlearnbench.data.arrays import ArrayDataset, DatasetError, load_npz, read_npz_array
from unlearnbench.data.registry import register_dataset


def _bind(fn, spec: dict[str, Any], *args: Any) -> dict[str, Any]:
    """Check ``spec`` against ``fn``'s keyword arguments (TypeError names an unknown key)."""
    inspect.signature(fn).bind(*args, **spec)
    return spec


def _synthetic_classes(spec: dict[str, Any]) -> int:
    from unlearnbench.data import synthetic

    _bind(synthetic.generate_upstream, spec)
    return len(synthetic.upstream_class_specs(superclasses=spec.get("superclasses", 4),
                                              fine_per_superclass=spec.get("fine_per_superclass", 4)))


def _synthetic_train_counts(spec: dict[str, Any]) -> np.ndarray:
    """``train_per_class`` images of every class (the generator's default when the spec leaves it out)."""
    from unlearnbench.data import synthetic

    per_class = spec.get("train_per_class",
                         inspect.signature(synthetic.generate_upstream).parameters["train_per_class"].default)
    return np.full(_synthetic_classes(spec), int(per_class), dtype=np.int64)


def _synthetic_names(spec: dict[str, Any]) -> list[str]:
    from unlearnbench.data import synthetic

    return [c.name for c in synthetic.upstream_class_specs(superclasses=spec.get("superclasses", 4),
                                                           fine_per_superclass=spec.get("fine_per_superclass", 4))]


@register_dataset("synthetic", num_classes=_synthetic_classes, train_counts=_synthetic_train_counts,
                  class_names=_synthetic_names)
def synthetic_upstream(**kwargs: Any) -> ArrayDataset:
    """The embedded hierarchical dataset (see ``data/synthetic.py`` for its arguments)."""
    from unlearnbench.data import synthetic

    return synthetic.generate_upstream(**kwargs)


#: keys a synthetic downstream set inherits from the upstream spec (its classes derive from those)
INHERITED = ("superclasses", "fine_per_superclass", "image_size", "position_jitter", "scale_range", "rotation",
             "aspect_jitter", "param_jitter", "noise_std", "background_clutter", "distractors",
             "emblem_size", "emblem_prob")


def _downstream_args(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = dict(spec)
    upstream = spec.pop("upstream", {})
    kind = spec.pop("kind", None)
    inherited = {k: upstream[k] for k in INHERITED if k in upstream and k not in spec}
    return kind, {**inherited, **spec}


def _downstream_classes(spec: dict[str, Any]) -> int:
    from unlearnbench.data import synthetic

    kind, args = _downstream_args(spec)
    _bind(synthetic.generate_downstream, args, kind)
    return len(synthetic.downstream_class_specs(kind, classes=args.get("classes", 8),
                                                superclasses=args.get("superclasses", 4),
                                                fine_per_superclass=args.get("fine_per_superclass", 4)))


@register_dataset("synthetic_downstream", num_classes=_downstream_classes, needs_upstream=True)
def synthetic_downstream(**kwargs: Any) -> ArrayDataset:
    """A downstream set generated from the upstream class definitions (``kind``: similar or unrelated);
    class-definition and nuisance keys default to the upstream spec's (``INHERITED``)."""
    from unlearnbench.data import synthetic

    kind, args = _downstream_args(kwargs)
    return synthetic.generate_downstream(kind, **args)


def _npz_classes(spec: dict[str, Any]) -> int:
    from unlearnbench.data.files import load_prepared

    return load_prepared(spec["path"]).num_classes


def _npz_train_counts(spec: dict[str, Any]) -> np.ndarray:
    """Per-class counts of ``y_train`` (only that array is read: not the pixels)."""
    labels = np.asarray(read_npz_array(spec["path"], "y_train")).astype(np.int64).ravel()
    if labels.size and labels.min() < 0:
        raise DatasetError(f"dataset file {spec['path']}: negative labels in y_train")
    return np.bincount(labels)


def _npz_names(spec: dict[str, Any]) -> list[str]:
    """The ``class_names`` array (only that one is read); ``class_<i>`` when the file has none."""
    try:
        names = [str(n) for n in np.asarray(read_npz_array(spec["path"], "class_names")).ravel()]
    except DatasetError:
        names = []
    return names or [f"class_{i}" for i in range(_npz_classes(spec))]


@register_dataset("npz", num_classes=_npz_classes, train_counts=_npz_train_counts, class_names=_npz_names)
def npz_dataset(*, path: str):
    """Arrays ``x_train, y_train, x_test, y_test`` (uint8 N×H×W×C) in an ``.npz`` file, or a prepared
    file-backed ``.npz`` (paths; see ``data/files.py``)."""
    from unlearnbench.data.files import load_prepared

    return load_prepared(path)


__all__ = ["synthetic_upstream", "synthetic_downstream", "npz_dataset", "DatasetError"]
