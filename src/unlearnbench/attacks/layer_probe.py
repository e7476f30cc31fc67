"""Per-layer linear probes (as in "Mirage" analyses of unlearning: where in the network is the forgotten class
still decodable?): the linear-probe recovery of :class:`unlearnbench.metrics.probe.LinearProbe`, fit on the
cached pooled features of every extracted layer instead of the pre-logits only.

Identical protocol at every layer (seeded class-balanced training subset of all classes, standardised
features, multinomial logistic regression, scored on forget-test and retain-test), so the curve over depth is
comparable and its ``pre_logits`` point equals the ``probe`` metric's value. Rows: ``layer`` = the layer,
variant ``layer_probe``. A layer whose pooled features are stored under another name (the last stage of a
network whose pre-logits are its global average pool) is reported once, under the stored name.
"""
from __future__ import annotations

from unlearnbench.attacks.base import ATTACKS, FeatureAttack
from unlearnbench.params import check_float, check_int
from unlearnbench.metrics.probe import LinearProbe


@ATTACKS.register("layer_probe")
class LayerProbe(FeatureAttack):
    """Probe recovery at every pooled layer. Parameters as :class:`LinearProbe` (``C`` > 0, ``max_iter`` ≥ 1,
    ``tol`` > 0, ``train_per_class`` ≥ 1, ``seed`` None | ≥ 0)."""

    def __init__(self, *, C: float = 1.0, max_iter: int = 1000, tol: float = 1e-4, train_per_class: int = 100,
                 seed: int | None = None) -> None:
        self.C = check_float("C", C, 0.0, lo_open=True)
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.tol = check_float("tol", tol, 0.0, lo_open=True)
        self.train_per_class = check_int("train_per_class", train_per_class, 1)
        self.seed = None if seed is None else check_int("seed", seed, 0)

    def layers(self, ctx) -> list[str]:
        train = ctx.get("model", "train")
        return [name for name in ctx.layers if name in train.layers]

    def run(self, ctx) -> list[dict]:
        if ctx.get("model", "train") is None or ctx.get("model", "test") is None or len(ctx.forget_test_idx) == 0:
            return []
        rows = []
        for layer in self.layers(ctx):
            probe = LinearProbe(layer=layer, **self.get_params())
            for r in probe.evaluate(ctx):
                rows.append(self.row(evalset=r["evalset"], split=r["split"], layer=layer, value=r["value"], se=r["se"],
                                     n=r["n"], dim=r["dim"]))
        return rows
