"""The built-in dataset adapters: the procedural generator and `.npz` arrays."""
from __future__ import annotations

from typing import Any


from unlearnbench.data.arrays import ArrayDataset, DatasetError, load_npz
from unlearnbench.data.registry import register_dataset


def _synthetic_classes(spec: dict[str, Any]) -> int:
    from unlearnbench.data import synthetic

    return synthetic.num_upstream_classes(**spec)


@register_dataset("synthetic", num_classes=_synthetic_classes)
def synthetic_upstream(**kwargs: Any) -> ArrayDataset:
    """The embedded hierarchical dataset (see ``data/synthetic.py`` for its arguments)."""
    from unlearnbench.data import synthetic

    return synthetic.generate_upstream(**kwargs)


def _downstream_classes(spec: dict[str, Any]) -> int:
    from unlearnbench.data import synthetic

    return synthetic.num_downstream_classes(**spec)


@register_dataset("synthetic_downstream", num_classes=_downstream_classes, needs_upstream=True)
def synthetic_downstream(*, kind: str, upstream: dict[str, Any], **kwargs: Any) -> ArrayDataset:
    """A downstream set generated from the upstream class definitions (``similar`` or ``unrelated``)."""
    from unlearnbench.data import synthetic

    return synthetic.generate_downstream(kind, upstream=upstream, **kwargs)


def _npz_classes(spec: dict[str, Any]) -> int:
    return load_npz(spec["path"]).num_classes


@register_dataset("npz", num_classes=_npz_classes)
def npz_dataset(*, path: str) -> ArrayDataset:
    """Arrays ``x_train, y_train, x_test, y_test`` (uint8 N×H×W×C) in an ``.npz`` file."""
    return load_npz(path)


__all__ = ["synthetic_upstream", "synthetic_downstream", "npz_dataset", "DatasetError"]
