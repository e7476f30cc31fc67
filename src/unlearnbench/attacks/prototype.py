"""Prototypical relearning attack (Ha, Park, Yoon, "Unlearning's Blind Spots: Over-Unlearning and Prototypical
Relearning Attack", arXiv 2506.01318, ICML 2026; official code: github.com/Seung-B/Spotter-Unlearning,
``proto_utils.update_fc_with_prototypes``).

No training: the classifier row of each forgotten class c is overwritten by a blend of its old row and the
prototype of c — the mean pre-logit feature of ``per_class`` images of c, L2-normalised —
``w_c ← α·p_c + (1−α)·w_c``, ``b_c ← α·b_p + (1−α)·b_c`` with ``(p, b_p) = (p̂_c, 0)`` for the cosine form
(the paper's attack) or ``(2p_c, −‖p_c‖²)`` for the squared-distance form. Then forget accuracy is measured
again. A model that merely re-wired its head keeps the class separable in its features and snaps back; the
retrained model (the control) only gets what a nearest-prototype classifier on features that never learnt
the class can give.

Computed exactly on the feature cache, no model run: the cached logits are the linear head applied to the
cached pre-logit features, so the attacked logit of class c is ``α·(f·p + b_p) + (1−α)·logit_c`` and every
other logit is unchanged.

Deviations from the official evaluation (docs/attacks.md): the attacker's images come from forget-*train*
(the data whose removal was requested) and recovery is scored on forget-*test* (the official notebook draws
the attack images from the test set and scores the training set); the attack is repeated over ``repeats``
seeded draws of the images and averaged (the notebook runs one draw) so that one lucky draw does not decide
a verdict.
"""
from __future__ import annotations

import numpy as np

from unlearnbench.attacks.base import ATTACKS, FeatureAttack
from unlearnbench.metrics.base import PRE_LOGITS, all_finite
from unlearnbench.params import check_choice, check_float, check_int
from unlearnbench.metrics.probe import per_class_subset
from unlearnbench.metrics.uncertainty import bootstrap_se


def attacked_logits(logits: np.ndarray, feats: np.ndarray, protos: dict[int, np.ndarray], *, alpha: float,
                    metric: str) -> np.ndarray:
    """Logits after overwriting each class row ``c`` in ``protos`` (the raw mean feature) as the attack does."""
    out = np.array(logits, dtype=np.float64, copy=True)
    f = np.asarray(feats, dtype=np.float64)
    for c, p in protos.items():
        if metric == "cosine":
            w, b = p, 0.0
        else:  # "l2": the squared-distance classifier of prototypical networks
            w, b = 2.0 * p, -float(p @ p)
        out[:, c] = alpha * (f @ w + b) + (1.0 - alpha) * out[:, c]
    return out


@ATTACKS.register("prototype_relearn")
class PrototypeRelearn(FeatureAttack):
    """Forget accuracy after the prototype attack (rows: split ``forget_test`` — the headline — and
    ``retain_test``, evalset ``test``, layer ``pre_logits``). ``se``: bootstrap over the scored images of the
    per-image correctness averaged over the draws.

    Parameters: ``per_class`` ≥ 1 images per forgotten class (paper: 5); ``alpha`` ∈ [0, 1] weight of the
    prototype (the paper's attack: 1, the row replaced); ``metric`` ``cosine`` (paper) | ``l2``;
    ``normalize`` L2-normalise the prototype (paper: True); ``repeats`` ≥ 1 seeded draws; ``seed`` None (the
    run's seed) | ≥ 0."""

    def __init__(self, *, per_class: int = 5, alpha: float = 1.0, metric: str = "cosine", normalize: bool = True,
                 repeats: int = 5, seed: int | None = None) -> None:
        self.per_class = check_int("per_class", per_class, 1)
        self.alpha = check_float("alpha", alpha, 0.0, 1.0)
        self.metric = check_choice("metric", metric, ("cosine", "l2"))
        self.normalize = check_choice("normalize", normalize, (True, False))
        self.repeats = check_int("repeats", repeats, 1)
        self.seed = None if seed is None else check_int("seed", seed, 0)

    def run(self, ctx) -> list[dict]:
        train, test = ctx.get("model", "train"), ctx.get("model", "test")
        if train is None or test is None or not ctx.forget_classes or len(ctx.forget_test_idx) == 0:
            return []
        splits = [("forget_test", ctx.forget_test_idx), ("retain_test", ctx.retain_test_idx)]
        splits = [(s, i) for s, i in splits if len(i)]
        f_train, f_test = train.feature(PRE_LOGITS), test.feature(PRE_LOGITS)
        dim = int(f_train.shape[1])
        if not all_finite(f_train, f_test, test.logits):
            return [self.row(evalset="test", split=s, layer=PRE_LOGITS, value=np.nan, n=len(i), dim=dim)
                    for s, i in splits]
        rng = np.random.default_rng(ctx.seed if self.seed is None else self.seed)
        correct = {s: np.zeros(len(i)) for s, i in splits}
        for _ in range(self.repeats):
            picks = per_class_subset(train.labels, ctx.forget_train_idx, self.per_class, rng)
            protos = {}
            for c in ctx.forget_classes:
                p = np.asarray(f_train[picks[train.labels[picks] == c]], dtype=np.float64).mean(axis=0)
                protos[int(c)] = p / max(np.linalg.norm(p), 1e-12) if self.normalize else p
            for s, idx in splits:
                pred = attacked_logits(test.logits[idx], f_test[idx], protos, alpha=self.alpha,
                                       metric=self.metric).argmax(1)
                correct[s] += (pred == test.labels[idx]) / self.repeats
        return [self.row(evalset="test", split=s, layer=PRE_LOGITS, value=float(c.mean()), se=bootstrap_se(c),
                         n=len(c), dim=dim) for s, c in correct.items()]
