"""Metric registry, the in-memory evaluation context, and the result-row contract.

A metric is a :class:`Metric` subclass registered by name in :data:`METRICS` (a
:class:`~unlearnbench.registry.Registry`) with ``@register_metric(name)`` (timm's ``@register_model`` style).
It is configured only through explicit keyword arguments of ``__init__`` (their annotations are checked by
the registry before the class sees them), which
are validated there (``ValueError`` naming the parameter and its valid range) and stored on the instance
under the same names, so :meth:`Metric.get_params` can report them (scikit-learn ``BaseEstimator``
convention) into every result row.

``Metric.evaluate(ctx)`` reads an :class:`EvalContext` (all features of one evaluated model and its
references, already in memory; no model is ever run here) and returns a list of long-format rows made with
:func:`make_row`; the keys are :data:`ROW_KEYS`.
"""
from __future__ import annotations

import abc
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from unlearnbench.params import check_choice, check_float, check_int  # noqa: F401  (re-exported for metrics)
from unlearnbench.registry import Component, Registry

__all__ = ["METRICS", "ROW_KEYS", "EvalContext", "FeatureSet", "Metric", "all_finite",
           "create_metric", "list_metrics", "make_row", "register_metric"]

ROW_KEYS = ("metric", "variant", "evalset", "split", "layer", "reference", "value", "params", "se", "n", "dim",
            "step")
PRE_LOGITS = "pre_logits"
REFERENCES = ("original", "retrain")


def list_metrics() -> list[str]:
    """Sorted names of all registered metrics."""
    return METRICS.names()


def create_metric(name: str, **params: Any) -> "Metric":
    """Instantiate the metric registered as ``name`` with keyword hyper-parameters ``params`` (validated)."""
    return METRICS.create(name, **params)


class Metric(Component, abc.ABC):
    """Base class: explicit keyword hyper-parameters, ``get_params()``, ``evaluate(ctx) -> rows``."""

    @abc.abstractmethod
    def evaluate(self, ctx: "EvalContext") -> list[dict]:
        """Return long-format rows (see :func:`make_row`) for the model in ``ctx``."""

    def row(self, *, evalset: str, split: str, value: float, variant: str = "", layer: str = "",
            reference: str = "", se: float = math.nan, n: int | None = None, dim: int | None = None) -> dict:
        return make_row(self, variant=variant, evalset=evalset, split=split, layer=layer,
                        reference=reference, value=value, se=se, n=n, dim=dim)


#: every registered metric, by name (``@register_metric(name)`` on a :class:`Metric` subclass)
METRICS: Registry = Registry("metric", Metric)
register_metric = METRICS.register


def make_row(metric: Metric | str, *, evalset: str, split: str, value: float, variant: str = "",
             layer: str = "", reference: str = "", params: Mapping[str, Any] | None = None,
             se: float = math.nan, n: int | None = None, dim: int | None = None, step: int | None = None) -> dict:
    """One result row with exactly the keys :data:`ROW_KEYS`.

    ``metric`` is a :class:`Metric` (its registered name and ``get_params()`` are used) or a name (then
    ``params`` gives the hyper-parameters). ``params`` is stored as a JSON string with sorted keys.
    The evidence behind the value: ``se`` its standard error over the evaluated samples (bootstrap, see
    :mod:`unlearnbench.metrics.uncertainty`; NaN when not estimated), ``n`` the number of samples it was
    computed on, ``dim`` the feature dimension of a representation metric (None when not applicable).
    ``step``: the optimisation step of a point on a relearning curve (:mod:`unlearnbench.attacks`), else None.
    """
    if isinstance(metric, Metric):
        name, p = metric.name, (metric.get_params() if params is None else dict(params))
    else:
        name, p = str(metric), dict(params or {})
    value = float(value)
    if math.isinf(value):
        raise ValueError(f"metric {name!r} produced an infinite value for {evalset}/{split}")
    se = float(se)
    if not (math.isnan(se) or se >= 0) or math.isinf(se):
        raise ValueError(f"metric {name!r}: standard error must be finite and >= 0 or NaN, got {se}")
    return {"metric": name, "variant": variant, "evalset": evalset, "split": split, "layer": layer,
            "reference": reference, "value": value, "params": json.dumps(p, sort_keys=True), "se": se,
            "n": None if n is None else int(n), "dim": None if dim is None else int(dim),
            "step": None if step is None else int(step)}


def all_finite(*arrays: np.ndarray) -> bool:
    """True when every array holds only finite numbers (a diverged model gives NaN/inf features)."""
    return all(bool(np.isfinite(a).all()) for a in arrays)


@dataclass
class FeatureSet:
    """Cached outputs of one model on one eval set: labels, logits and pooled per-layer features.

    ``labels`` (n,) int64; ``logits`` (n, C) float32; ``layers`` maps layer name -> (n, d) features (stage
    outputs global-average-pooled), the penultimate (pre-logit) features under ``"pre_logits"``. Arrays may be
    memory-mapped. ``grams`` maps a stage name -> :class:`unlearnbench.metrics.cka_gram.LayerGram`, the
    linear Gram of its *flattened* activation map on a seeded subset of the rows. ``aliases`` maps a layer
    whose pooled features were not stored because they equal another layer's (the last stage of a network
    whose pre-logits are its global average pool) to that layer; :meth:`feature` follows it.
    """

    labels: np.ndarray
    logits: np.ndarray
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    grams: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels).astype(np.int64, copy=False).reshape(-1)
        self.logits = np.asarray(self.logits)
        n = self.labels.shape[0]
        if self.logits.ndim != 2 or self.logits.shape[0] != n:
            raise ValueError(f"logits must have shape (n={n}, C), got {self.logits.shape}")
        for k, v in self.layers.items():
            if np.ndim(v) != 2 or np.shape(v)[0] != n:
                raise ValueError(f"layer {k!r} must have shape (n={n}, d), got {np.shape(v)}")
        for k, g in self.grams.items():
            if g.n and (g.index.min() < 0 or g.index.max() >= n or np.unique(g.index).size != g.n):
                raise ValueError(f"Gram of layer {k!r}: subset positions must be distinct and in [0, {n})")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def feature(self, layer: str) -> np.ndarray:
        """Features of ``layer``; ``"logits"`` falls back to the logits when not stored as a layer."""
        if layer in self.layers:
            return self.layers[layer]
        if self.aliases.get(layer) in self.layers:
            return self.layers[self.aliases[layer]]
        if layer == "logits":
            return self.logits
        raise KeyError(f"layer {layer!r} not in features (have {sorted(self.layers)})")

    def subset(self, idx: np.ndarray) -> "FeatureSet":
        """The rows ``idx``; each Gram keeps the subset rows that survive, re-indexed (first occurrence)."""
        from unlearnbench.metrics.cka_gram import LayerGram

        idx = np.asarray(idx, dtype=np.int64)
        first = {int(p): i for i, p in reversed(list(enumerate(idx)))}
        grams = {}
        for k, g in self.grams.items():
            rows = np.array([r for r, p in enumerate(g.index) if int(p) in first], dtype=np.int64)
            packed = g.matrix(rows)[np.triu_indices(len(rows))].astype(g.packed.dtype)
            grams[k] = LayerGram(index=[first[int(p)] for p in g.index[rows]], packed=packed, dim=g.dim,
                                 shape=g.shape)
        return FeatureSet(labels=self.labels[idx], logits=self.logits[idx],
                          layers={k: v[idx] for k, v in self.layers.items()}, grams=grams, aliases=dict(self.aliases))


@dataclass
class EvalContext:
    """Everything a metric needs for one evaluated model, already in memory.

    ``features[role][evalset]`` with role in ``"model"``, ``"original"``, ``"retrain"`` (a missing reference
    role is skipped by metrics) and evalset in ``"train"``, ``"test"`` and each name in ``downstream``.
    Index arrays point into the upstream ``train`` / ``test`` evalsets; ``forget_test_idx`` is empty for
    sample forgetting (``forget_classes is None``).
    """

    features: dict[str, dict[str, FeatureSet]]
    forget_train_idx: np.ndarray
    retain_train_idx: np.ndarray
    forget_test_idx: np.ndarray
    retain_test_idx: np.ndarray
    num_classes: int
    forget_classes: list[int] | None = None
    downstream: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=lambda: [PRE_LOGITS])
    seed: int = 0

    def __post_init__(self) -> None:
        for k in ("forget_train_idx", "retain_train_idx", "forget_test_idx", "retain_test_idx"):
            setattr(self, k, np.asarray(getattr(self, k), dtype=np.int64).reshape(-1))
        if "model" not in self.features:
            raise ValueError("EvalContext.features needs the 'model' role")

    def get(self, role: str, evalset: str) -> FeatureSet | None:
        """FeatureSet of ``role`` on ``evalset``, or None when that role or evalset is absent."""
        return self.features.get(role, {}).get(evalset)

    def paired(self, evalset: str) -> tuple[FeatureSet | None, dict[str, FeatureSet]]:
        """The model's features on ``evalset`` and every present reference's, checked to hold the same samples
        (a metric comparing the model with its references row by row needs that)."""
        model = self.get("model", evalset)
        refs = {r: fs for r in self.references() if (fs := self.get(r, evalset)) is not None}
        for r, fs in refs.items():
            if model is not None and len(fs) != len(model):
                raise ValueError(f"{evalset}: reference {r!r} has {len(fs)} samples, model {len(model)}")
        return model, refs

    def references(self) -> list[str]:
        """Reference roles present in this context, in the fixed order original, retrain."""
        return [r for r in REFERENCES if r in self.features]

    def upstream_splits(self) -> list[tuple[str, str, np.ndarray]]:
        """(evalset, split, indices) for the four upstream splits, empty ones included."""
        return [("train", "forget_train", self.forget_train_idx), ("train", "retain_train", self.retain_train_idx),
                ("test", "forget_test", self.forget_test_idx), ("test", "retain_test", self.retain_test_idx)]
