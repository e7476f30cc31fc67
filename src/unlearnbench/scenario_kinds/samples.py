"""``samples``: ``n`` training samples — or ``round(fraction × training samples)`` — drawn uniformly without
replacement from the training set the models train on (after the tuning validation split is carved out)."""
from __future__ import annotations

from typing import Any

from unlearnbench.params import Interval, Param, ParamError
from unlearnbench.scenario_kinds.base import CheckContext, Drawn, ForgetInputs, ScenarioKind, register_scenario_kind


@register_scenario_kind("samples")
class RandomSamples(ScenarioKind):
    """Forget random training samples (a count ``n`` or a ``fraction``): sample forgetting, no forget classes."""

    mode = "sample"
    keys = (Param("n", None, Interval(int, ge=1),
                  "Number of training samples to forget (samples; give `n` or `fraction`)."),
            Param("fraction", None, Interval(float, gt=0, lt=1),
                  "Fraction of the training samples to forget (samples; instead of `n`): round(fraction × the "
                  "training samples the models train on, after the tuning validation split) are drawn."))

    @classmethod
    def check_keys(cls, spec: dict[str, Any], where: str) -> None:
        if "n" not in spec and "fraction" not in spec:
            raise ParamError(f"{where}.n: required for kind 'samples' (or `fraction`: a fraction of the training "
                             "samples)")
        if "n" in spec and "fraction" in spec:
            raise ParamError(f"{where}: key(s) ['fraction', 'n']: give exactly one of `n` (a count) or `fraction` "
                             "for kind 'samples'")
        super().check_keys(spec, where)

    def check(self, ctx: CheckContext) -> None:
        """Something must be retained: 1 ≤ n < the training images the set is drawn from (when countable)."""
        from unlearnbench.data.forget_sets import sample_count

        size = ctx.train_size(True)
        if size is None:
            return
        n = sample_count(self.spec, size[0])
        if "n" in self.spec and n >= size[0]:
            raise ParamError(f"{ctx.where}.n: {n} training samples requested but only {size[0]} upstream training "
                             f"images are available ({size[1]}); expected 1 ≤ n < {size[0]} (something must be "
                             "retained)")
        if "fraction" in self.spec and not 1 <= n < size[0]:
            raise ParamError(f"{ctx.where}.fraction: {self.spec['fraction']:g} × {size[0]} upstream training images "
                             f"({size[1]}) rounds to {n} samples; expected 1 ≤ round(fraction × {size[0]}) < "
                             f"{size[0]}")

    def build(self, inputs: ForgetInputs) -> Drawn:
        from unlearnbench.data.forget_sets import ForgetSetError, sample_count

        total = len(inputs.train_labels)
        n = sample_count(self.spec, total)
        if not 1 <= n < total:
            raise ForgetSetError(f"{inputs.where}: {n} training samples requested of {total}; expected "
                                 f"1 ≤ n < {total} (something must be retained)")
        indices = tuple(sorted(int(i) for i in inputs.rng.choice(total, size=n, replace=False)))
        return Drawn(indices=indices, details={"n": n} if "fraction" in self.spec else {})
