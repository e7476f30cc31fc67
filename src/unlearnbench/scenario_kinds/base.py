"""The scenario-kind registry and its base class: what a forget-set specification (``scenarios[].kind``) takes,
checks and builds.

A kind is a :class:`ScenarioKind` subclass registered in :data:`SCENARIO_KINDS` with
``@register_scenario_kind(name)``. It declares

* ``mode`` — the forgetting it asks for: ``class`` (whole classes) or ``sample`` (individual training
  samples); methods, attacks and verdicts read only this (:func:`unlearnbench.data.forget_sets.forget_mode`);
* ``keys`` — its config keys besides ``name``, ``kind`` and ``seed``, as :class:`~unlearnbench.params.Param` s
  (constraint and help line: the config schema's ``scenarios`` block is their union);
* :meth:`ScenarioKind.check` — what it names, checked cheaply before any job (class counts and names, the
  training-set size, a downstream set, a file);
* :meth:`ScenarioKind.job_inputs` — files the forget-set job reads besides the upstream data (rule inputs);
* :meth:`ScenarioKind.build` — the forget classes or training-sample indices, from :class:`ForgetInputs`.

An instance holds one validated spec (:meth:`ScenarioKind.from_spec`). Errors are ``ValueError`` s
(:class:`~unlearnbench.params.ParamError`, ``ForgetSetError``) whose messages start with the key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from unlearnbench.params import REQUIRED, Interval, Param, ParamError
from unlearnbench.registry import Registry

__all__ = ["CheckContext", "Drawn", "ForgetInputs", "REQUIRED", "SCENARIO_KINDS", "SEED", "ScenarioKind",
           "all_keys", "check_class_count", "register_scenario_kind"]

#: every scenario has a ``seed`` (of its random draw; unused by kinds that draw nothing)
SEED = Param("seed", 0, Interval(int, ge=0), "Seed of the random draw (random, samples).")
#: keys of every scenario entry that are not the kind's own
COMMON_KEYS = ("name", "kind", "seed")


@dataclass
class CheckContext:
    """What the config checks of a scenario may read, cheaply (:mod:`unlearnbench.config_scenarios`):
    ``train_size(carved)`` the upstream training images and how they were counted (None: unknown without
    decoding), ``class_names()`` the upstream class names (None: unknown)."""

    cfg: dict[str, Any]
    where: str
    n_classes: int
    train_size: Callable[[bool], tuple[int, str] | None]
    class_names: Callable[[], list[str] | None]


@dataclass
class ForgetInputs:
    """What building a forget set reads: the (carved) training labels, the class count and names, the `top`
    similarity ``ranking``, and for listed samples ``train_index``/``source_size`` (the numbering before the
    tuning carve-out); ``rng`` is seeded from the scenario's ``seed``; ``where`` prefixes error messages."""

    train_labels: np.ndarray
    num_classes: int
    where: str
    rng: np.random.Generator
    ranking: list[int] | None = None
    class_names: Sequence[str] | None = None
    train_index: np.ndarray | None = None
    source_size: int | None = None


@dataclass
class Drawn:
    """A built forget set before hashing: forget ``classes`` (class forgetting) or training ``indices``
    (sample forgetting), and ``details`` of how it was drawn where the spec alone does not say."""

    classes: tuple[int, ...] | None = None
    indices: tuple[int, ...] | None = None
    details: dict[str, Any] = field(default_factory=dict)


class ScenarioKind:
    """Base of scenario kinds (see the module docstring). Subclasses set ``mode`` and ``keys`` and implement
    :meth:`build`; :meth:`check` and :meth:`job_inputs` default to nothing."""

    name: ClassVar[str] = ""
    mode: ClassVar[str] = "class"
    keys: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **spec: Any) -> None:
        self.check_keys(spec, self.name)
        self.spec = {"seed": SEED.default, **spec}

    @classmethod
    def param_specs(cls) -> list[Param]:
        return [*cls.keys, SEED]

    @classmethod
    def describe_facts(cls) -> dict[str, str]:
        return {"forgetting": cls.mode, "keys": ", ".join(p.name for p in cls.keys) or "none"}

    @classmethod
    def check_keys(cls, spec: dict[str, Any], where: str) -> None:
        """Every required key given, none that belongs only to other kinds (messages name the key)."""
        for p in cls.keys:
            if p.required and p.name not in spec:
                hint = f" ({p.help})" if p.help else ""
                raise ParamError(f"{where}.{p.name}: required for kind {cls.name!r}{hint}")
        own = {p.name for p in cls.param_specs()}
        extra = sorted((all_keys() - own) & set(spec))
        if extra:
            raise ParamError(f"{where}: key(s) {extra} do not apply to kind {cls.name!r}")

    @staticmethod
    def from_spec(spec: dict[str, Any], where: str | None = None, *, validated: bool = False) -> "ScenarioKind":
        """The kind of a config scenario entry, its keys checked (messages name ``{where}.{key}``) unless the
        spec was ``validated`` already (by the config checks: building a forget set trusts them)."""
        where = where or f"scenario {spec.get('name')!r}"
        cls = SCENARIO_KINDS[spec["kind"]]
        keys = {k: v for k, v in spec.items() if k not in COMMON_KEYS[:2]}
        if validated:
            kind = cls.__new__(cls)
            kind.spec = {"seed": SEED.default, **keys}
            return kind
        cls.check_keys(keys, where)
        SCENARIO_KINDS.validate(cls.name, keys, where)
        return cls(**keys)

    def check(self, ctx: CheckContext) -> None:
        """Config-time checks of what the keys name (cheap: no image decoded). Default: none."""

    def job_inputs(self, paths: Any) -> dict[str, str]:
        """Files the forget-set job reads besides the upstream data, by input name. ``paths`` is the workflow's
        :class:`unlearnbench.layout.Layout` (``features(model, evalset)``, ``data_files(name)``, …). Default: none."""
        return {}

    def build(self, inputs: ForgetInputs) -> Drawn:
        raise NotImplementedError


def check_class_count(key: str, k: int, n_classes: int) -> None:
    """``k`` forgotten classes must leave at least one class to retain."""
    if k >= n_classes:
        raise ParamError(f"{key}: {k} classes requested but the upstream dataset has {n_classes}; "
                         f"expected 1 ≤ k < {n_classes} (something must be retained)")


#: every registered scenario kind, by name (the config's ``scenarios[].kind``)
SCENARIO_KINDS: Registry = Registry("scenario kind", ScenarioKind)
register_scenario_kind = SCENARIO_KINDS.register


def all_keys() -> set[str]:
    """Every key some kind declares (a key of another kind on this one is an error, not ignored)."""
    return {p.name for name in SCENARIO_KINDS for p in SCENARIO_KINDS[name].keys}

