"""``classes``: the named upstream classes, each a class name (the dataset's ``class_names``, as in its prepared
``.json``) or a class index (:func:`unlearnbench.data.forget_sets.resolve_classes`)."""
from __future__ import annotations

from unlearnbench.params import REQUIRED, AnyOf, InstanceOf, Interval, Param, SequenceOf
from unlearnbench.scenario_kinds.base import CheckContext, Drawn, ForgetInputs, ScenarioKind, register_scenario_kind


@register_scenario_kind("classes")
class NamedClasses(ScenarioKind):
    """Forget the classes listed by name or index (a published forget set, a class of interest)."""

    mode = "class"
    keys = (Param("classes", REQUIRED,
                  SequenceOf(AnyOf(InstanceOf(str), Interval(int)), min_items=1, lone_item=False),
                  "Classes to forget (classes): each a class name of the upstream dataset (its `class_names`, as "
                  "in the prepared data's .json) or a class index."),)

    def check(self, ctx: CheckContext) -> None:
        from unlearnbench.data.forget_sets import resolve_classes

        resolve_classes(self.spec["classes"], ctx.class_names(), ctx.n_classes, f"{ctx.where}.classes")

    def build(self, inputs: ForgetInputs) -> Drawn:
        from unlearnbench.data.forget_sets import resolve_classes

        names = (list(inputs.class_names) if inputs.class_names is not None
                 else [f"class_{i}" for i in range(inputs.num_classes)])
        return Drawn(classes=resolve_classes(self.spec["classes"], names, inputs.num_classes,
                                             f"{inputs.where}: classes"))
