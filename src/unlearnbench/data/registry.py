"""Dataset adapters, selected by ``type:`` in the config and self-registered by name in :data:`DATASETS` (a
:class:`~unlearnbench.registry.Registry`: listed, validated, described like every other extension point).

An adapter is a function ``build(**spec) -> ArrayDataset | FileDataset`` (pixels in memory, or file paths:
see ``data/files.py`` for the prepared-dataset contract) whose keyword arguments are the config keys;
config validation checks unknown/missing keys against its signature and calls the adapter's ``check``
(e.g. that a file exists and is readable) before any job runs. ``num_classes(spec)`` tells validation how
many classes a dataset has (to reject a forget set larger than it); ``train_counts(spec)``, where an adapter
gives it, the number of training images per class after its class restriction and caps, read cheaply (from the
config for generated data, an ``.npz`` label array, a folder listing) — to reject a ``samples`` forget set
larger than the training set before any job runs; ``class_names(spec)``, where given, the class names in label
order (a config listing, metadata file or folder listing: nothing decoded) — to reject a ``classes`` scenario
naming an unknown class before any job runs.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from unlearnbench.data.arrays import ArrayDataset, DatasetError
from unlearnbench.params import Param, ParamError, signature_params
from unlearnbench.registry import Registry

Dataset = Any  # ArrayDataset (pixels) | data.files.FileDataset (paths); both follow the prepared-dataset contract


@dataclass(frozen=True)
class Adapter:
    """A registered dataset type: ``build(**spec)`` and its cheap hooks (:func:`register_dataset`)."""

    name: str
    build: Callable[..., Dataset]
    num_classes: Callable[[dict[str, Any]], int]
    needs_upstream: bool = False  # receives the upstream spec as ``upstream=`` (synthetic downstream sets)
    #: training images per class (after ``classes``/caps); None: the adapter cannot tell cheaply
    train_counts: Callable[[dict[str, Any]], np.ndarray] | None = None
    #: class names in label order (after ``classes``); None: the adapter cannot tell cheaply
    class_names: Callable[[dict[str, Any]], list[str]] | None = None

    @property
    def __wrapped__(self) -> Callable[..., Dataset]:
        """The build function: its docstring and module describe the adapter (``inspect.unwrap``)."""
        return self.build

    def __call__(self, **spec: Any) -> Dataset:
        return self.build(**spec)

    @property
    def accepts_extra_params(self) -> bool:
        """True for a build function taking ``**kwargs`` (it checks its own keys: ``synthetic``)."""
        return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(self.build).parameters.values())

    def param_specs(self) -> list[Param]:
        """The config keys: the build function's keyword arguments (``upstream`` is passed, not configured)."""
        return [p for p in signature_params(self.build) if p.name != "upstream"]

    def describe_facts(self) -> dict[str, str]:
        cheap = [hook for hook in ("train_counts", "class_names") if getattr(self, hook) is not None]
        return {"checked before any job": ", ".join(["class count", *cheap]).replace("_", " "),
                **({"derived from": "a `synthetic` upstream dataset"} if self.needs_upstream else {})}


#: every registered dataset type, by name (the config's ``type:``)
DATASETS: Registry = Registry("dataset type")


def register_dataset(name: str, *, num_classes: Callable[[dict[str, Any]], int], needs_upstream: bool = False,
                     train_counts: Callable[[dict[str, Any]], np.ndarray] | None = None,
                     class_names: Callable[[dict[str, Any]], list[str]] | None = None):
    """Function decorator: register ``build(**spec)`` as dataset type ``name`` with its cheap hooks
    (``num_classes`` required; ``train_counts``/``class_names`` where the adapter can tell cheaply)."""

    def wrap(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS.add(name, Adapter(name, fn, num_classes, needs_upstream, train_counts, class_names))
        return fn

    return wrap


def adapter(where: str, spec: dict[str, Any]) -> Adapter:
    kind = spec.get("type")
    if kind not in DATASETS:
        raise DatasetError(f"{where}.type: unknown dataset type {kind!r}; registered: {DATASETS.names()}")
    return DATASETS[kind]


def check_spec(where: str, spec: dict[str, Any], upstream: dict[str, Any] | None = None) -> int:
    """Validate a dataset spec (keys against the adapter signature, files on disk); return its class count."""
    ad = adapter(where, spec)
    sig = inspect.signature(ad.build)
    accepted = {n for n, p in sig.parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    args = {k: v for k, v in spec.items() if k != "type"}
    has_var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [] if has_var_kw else sorted(set(args) - accepted - {"upstream"})
    if unknown:
        raise DatasetError(f"{where}: unknown key(s) {unknown} for dataset type {ad.name!r}; valid: {sorted(accepted)}")
    missing = [n for n, p in sig.parameters.items() if p.default is p.empty and n not in args
               and not (n == "upstream" and ad.needs_upstream) and p.kind != p.VAR_KEYWORD]
    if missing:
        raise DatasetError(f"{where}: missing key(s) {missing} for dataset type {ad.name!r}")
    try:
        for p in ad.param_specs():
            if p.name in args:
                p.check(args[p.name], where)
    except ParamError as exc:
        raise DatasetError(str(exc)) from None
    try:
        return ad.num_classes(_with_upstream(ad, args, upstream))
    except DatasetError as exc:
        raise DatasetError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: invalid dataset arguments: {exc}") from None


def _cheap_query(where: str, spec: dict[str, Any], upstream: dict[str, Any] | None, hook: str) -> Any:
    """The answer of an adapter's optional cheap hook (``train_counts``, ``class_names``) for a checked spec,
    without building the dataset; None when the adapter has no such hook. DatasetError names ``where``."""
    ad = adapter(where, spec)
    query = getattr(ad, hook)
    if query is None:
        return None
    try:
        return query(_with_upstream(ad, {k: v for k, v in spec.items() if k != "type"}, upstream))
    except DatasetError as exc:
        raise DatasetError(f"{where}: {exc}") from None


def train_class_counts(where: str, spec: dict[str, Any], upstream: dict[str, Any] | None = None) -> np.ndarray | None:
    """Training images per class of a (checked) dataset spec, without building it; None when its adapter
    cannot tell cheaply. DatasetError names ``where``."""
    counts = _cheap_query(where, spec, upstream, "train_counts")
    return None if counts is None else np.asarray(counts, dtype=np.int64)


def dataset_class_names(where: str, spec: dict[str, Any], upstream: dict[str, Any] | None = None) -> list[str] | None:
    """Class names (label order) of a (checked) dataset spec, without building it; None when its adapter cannot
    tell cheaply. DatasetError names ``where``."""
    names = _cheap_query(where, spec, upstream, "class_names")
    return None if names is None else [str(n) for n in names]


def build_dataset(spec: dict[str, Any], upstream: dict[str, Any] | None = None) -> Dataset:
    ad = adapter("dataset", spec)
    return ad.build(**_with_upstream(ad, {k: v for k, v in spec.items() if k != "type"}, upstream))


def _with_upstream(ad: Adapter, args: dict[str, Any], upstream: dict[str, Any] | None) -> dict[str, Any]:
    if ad.needs_upstream:
        if upstream is None or upstream.get("type") != "synthetic":
            raise DatasetError(f"dataset type {ad.name!r} derives its classes from a `synthetic` upstream dataset")
        args = {**args, "upstream": {k: v for k, v in upstream.items() if k != "type"}}
    return args
