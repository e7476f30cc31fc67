"""Recovery attacks: can a forgotten class be brought back cheaply? The registry and the two attack kinds.

An attack is a :class:`~unlearnbench.registry.Component` registered in :data:`ATTACKS` (one module each,
explicit keyword hyper-parameters validated in ``__init__``). Its rows are ordinary result rows with
``metric = "relearn"`` and ``variant = <attack name>`` (plus ``step`` on curves, ``layer`` for probes), so
they carry the same provenance as every other row and land in the same long Parquet.

* :class:`FeatureAttack` reads the feature cache (``run(ctx)`` on the evaluation's
  :class:`~unlearnbench.metrics.base.EvalContext`): it runs inside the ``evaluate`` job and never runs a
  model (prototype relearning, per-layer probes).
* :class:`ModelAttack` fine-tunes a copy of the model (``run(model, target)`` on an :class:`AttackTarget`):
  one ``attack`` job per model (rules/attack.smk) runs every configured model attack on one loaded model.

The retrained reference is the control (it never saw the class, so whatever it "recovers" is learning from
scratch) and the original the ceiling; the verdict ``recoverable`` (report/verdicts.py) compares an
unlearned model's recovery with the control's beyond their noise band.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, Sequence

from unlearnbench.metrics.base import make_row
from unlearnbench.registry import Component, Registry

__all__ = ["ATTACKS", "AttackTarget", "FeatureAttack", "ModelAttack", "RELEARN", "Attack", "attack_config"]

#: the ``metric`` of every attack row
RELEARN = "relearn"


class Attack(Component, abc.ABC):
    """Base of both attack kinds; ``kind`` is ``"features"`` or ``"model"``; ``scenarios`` the forget-set kinds
    the attack is defined for (``class``: whole classes forgotten; ``sample``: individual samples)."""

    kind: str = ""
    scenarios: tuple[str, ...] = ("class",)

    @classmethod
    def describe_facts(cls) -> dict[str, str]:
        """For listings and the glossary: the attack's kind and the forgetting it is defined for."""
        return {"kind": cls.kind, "forgetting": ", ".join(cls.scenarios)}

    def row(self, *, evalset: str, split: str, value: float, variant: str | None = None, layer: str = "",
            se: float = math.nan, n: int | None = None, dim: int | None = None, step: int | None = None,
            metric: str = RELEARN) -> dict:
        return make_row(metric, params=self.get_params(), variant=variant or self.name, evalset=evalset, split=split,
                        layer=layer, value=value, se=se, n=n, dim=dim, step=step)


ATTACKS: Registry = Registry("attack", Attack)


class FeatureAttack(Attack):
    """An attack on cached features only: ``run(ctx) -> rows`` (inside the evaluate job)."""

    kind = "features"

    @abc.abstractmethod
    def run(self, ctx: Any) -> list[dict]:
        ...


@dataclass
class AttackTarget:
    """What a model attack may use. ``pool`` holds the attacker's forget images (forget-train: the data whose
    removal was requested), ``retain`` the retain-train set, ``measure`` where recovery is measured
    (forget-test for class forgetting; the forget samples themselves for sample forgetting), named
    ``measure_split``; ``ceiling`` the original model's accuracy on ``measure``; ``start`` the attacked model's
    per-image correctness on ``measure`` before any step (every model attack starts from that same model, so the
    attack job scores it once for all of them; ``None``: each attack scores it itself)."""

    pool: Any
    retain: Any
    measure: Any
    measure_split: str
    forget_classes: Sequence[int] | None
    ceiling: float
    device: Any
    seed: int
    start: Any = None


class ModelAttack(Attack):
    """An attack that trains a copy of the model: ``run(model, target) -> rows`` (the attack job)."""

    kind = "model"

    @abc.abstractmethod
    def run(self, model: Any, target: AttackTarget) -> list[dict]:
        ...


def attack_config(cfg_attacks: dict[str, Any], kind: str | None = None) -> dict[str, Attack]:
    """The configured attacks (``attacks.enabled``; ``attacks.params.<name>`` keyword parameters; names not
    listed use their defaults), optionally of one ``kind``, instantiated (so validated)."""
    if not cfg_attacks.get("enabled", False):
        return {}
    params = cfg_attacks.get("params", {}) or {}
    for name in params:
        ATTACKS.get(name)  # unknown name -> KeyError listing the registered ones
    out = {name: ATTACKS.create(name, **params.get(name, {})) for name in ATTACKS.names()}
    return {k: a for k, a in out.items() if kind is None or a.kind == kind}
