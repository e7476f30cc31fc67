"""``feature_norm_ratio``: mean pre-logit feature norm of forget samples over that of retain samples."""
from __future__ import annotations

import numpy as np

from unlearnbench.metrics.base import PRE_LOGITS, EvalContext, Metric, all_finite, check_choice, check_float, \
    register_metric


@register_metric("feature_norm_ratio")
class FeatureNormRatio(Metric):
    """Ratio of the mean pre-logit feature norm of the forget split to that of the retain split.

    An example of an unlearnbench plugin metric, not a published one. For each upstream evalset (train, test)
    with both splits non-empty: ``mean_{i in forget} ||f_i||_p / mean_{i in retain} ||f_i||_p`` of the model's
    pre-logit features ``f``, with the means trimmed by ``trim`` at each end. Rows: split ``forget_vs_retain``,
    layer ``pre_logits``, ``n`` the number of forget samples; NaN for non-finite features.
    """

    def __init__(self, *, norm: int = 2, trim: float = 0.0) -> None:
        self.norm = check_choice("norm", norm, (1, 2))
        self.trim = check_float("trim", trim, 0.0, 0.5, hi_open=True)

    def _mean_norm(self, feats: np.ndarray) -> float:
        norms = np.sort(np.linalg.norm(np.asarray(feats, dtype=np.float64), ord=self.norm, axis=1))
        cut = int(self.trim * len(norms))
        return float(norms[cut:len(norms) - cut].mean())

    def evaluate(self, ctx: EvalContext) -> list[dict]:
        rows = []
        for evalset, forget, retain in (("train", ctx.forget_train_idx, ctx.retain_train_idx),
                                        ("test", ctx.forget_test_idx, ctx.retain_test_idx)):
            fs = ctx.get("model", evalset)
            if fs is None or len(forget) == 0 or len(retain) == 0:
                continue
            feats = fs.feature(PRE_LOGITS)
            if not all_finite(feats[forget], feats[retain]):
                value = float("nan")
            else:
                value = self._mean_norm(feats[forget]) / max(self._mean_norm(feats[retain]), 1e-12)
            rows.append(self.row(evalset=evalset, split="forget_vs_retain", layer=PRE_LOGITS, value=value,
                                 n=len(forget), dim=feats.shape[1]))
        return rows
