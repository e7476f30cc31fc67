"""``random``: ``k`` upstream classes drawn uniformly without replacement (``numpy.random.default_rng(seed)``)."""
from __future__ import annotations

from unlearnbench.params import REQUIRED, Interval, Param
from unlearnbench.scenario_kinds.base import (CheckContext, Drawn, ForgetInputs, ScenarioKind, check_class_count,
                                              register_scenario_kind)


@register_scenario_kind("random")
class RandomClasses(ScenarioKind):
    """Forget ``k`` classes drawn at random (seeded): the protocol's baseline class-forgetting scenario."""

    mode = "class"
    keys = (Param("k", REQUIRED, Interval(int, ge=1), "Number of classes to forget (random, top)."),)

    def check(self, ctx: CheckContext) -> None:
        check_class_count(f"{ctx.where}.k", self.spec["k"], ctx.n_classes)

    def build(self, inputs: ForgetInputs) -> Drawn:
        drawn = inputs.rng.choice(inputs.num_classes, size=self.spec["k"], replace=False)
        return Drawn(classes=tuple(sorted(int(c) for c in drawn)))
