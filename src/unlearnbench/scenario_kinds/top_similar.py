"""``top``: the ``k`` upstream classes most similar to a named downstream dataset, ranked with the **original**
model (:func:`unlearnbench.data.forget_sets.rank_top`: cosine similarity of class-mean pre-logit features,
round-robin over the downstream classes); the ranking is written beside the forget set for audit."""
from __future__ import annotations

from typing import Any

from unlearnbench.params import REQUIRED, InstanceOf, Interval, Param, ParamError
from unlearnbench.scenario_kinds.base import (CheckContext, Drawn, ForgetInputs, ScenarioKind, check_class_count,
                                              register_scenario_kind)


@register_scenario_kind("top")
class TopSimilarClasses(ScenarioKind):
    """Forget the ``k`` classes most similar to a downstream dataset (ranked with the original model's features)."""

    mode = "class"
    keys = (Param("k", REQUIRED, Interval(int, ge=1), "Number of classes to forget (random, top)."),
            Param("downstream", REQUIRED, InstanceOf(str),
                  "a `top` scenario names the downstream dataset that ranks classes"))

    def check(self, ctx: CheckContext) -> None:
        check_class_count(f"{ctx.where}.k", self.spec["k"], ctx.n_classes)
        configured = ctx.cfg["data"]["downstream"]
        if self.spec["downstream"] not in configured:
            raise ParamError(f"{ctx.where}.downstream: unknown downstream dataset {self.spec['downstream']!r}; "
                             f"configured: {sorted(configured)}")

    def job_inputs(self, paths: Any) -> dict[str, str]:
        """The original model's cached features on the upstream training set and the downstream set (no extra
        forward pass), and the downstream class names."""
        ds = self.spec["downstream"]
        return {"up_features": paths.features("original", "train"), "down_features": paths.features("original", ds),
                "down_meta": paths.data_files(ds)["meta"]}

    def build(self, inputs: ForgetInputs) -> Drawn:
        if inputs.ranking is None:
            raise ValueError("a `top` scenario needs the similarity ranking of the original model")
        return Drawn(classes=tuple(sorted(inputs.ranking[: self.spec["k"]])))
