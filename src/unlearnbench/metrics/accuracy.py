"""Top-1 accuracy of the model's logits on the four upstream splits."""
from __future__ import annotations

import numpy as np

from unlearnbench.metrics.base import EvalContext, Metric, all_finite, register_metric
from unlearnbench.metrics.uncertainty import bootstrap_se


def top1_correct(logits: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """Per-sample 1[argmax_c z_ic = y_i] (ties -> lowest class); None when any logit is non-finite."""
    logits = np.asarray(logits)
    if not all_finite(logits):
        return None
    return (np.argmax(logits, axis=1) == np.asarray(labels)).astype(np.float64)


@register_metric("accuracy")
class Accuracy(Metric):
    """Top-1 accuracy on forget-train, retain-train, forget-test and retain-test (empty splits skipped).

    ``acc(S) = |{i in S : argmax_c z_ic = y_i}| / |S|`` from the model's logits ``z``. Unlearning aims at
    forget accuracy close to the retrained model's (≈0 for class forgetting) with retain accuracies kept;
    see Kim et al. 2025, "Are We Truly Forgetting?" (arXiv 2503.06991), Sec. 3. No hyper-parameters.
    Rows: evalset ``train``/``test``, split = the split name, variant/layer/reference empty; ``se`` is the
    bootstrap standard error over the split's samples (:mod:`unlearnbench.metrics.uncertainty`), ``n`` its size.
    """

    def __init__(self) -> None:
        pass

    def evaluate(self, ctx: EvalContext) -> list[dict]:
        rows = []
        for evalset, split, idx in ctx.upstream_splits():
            fs = ctx.get("model", evalset)
            if fs is None or len(idx) == 0:
                continue
            correct = top1_correct(fs.logits[idx], fs.labels[idx])
            value, se = (np.nan, np.nan) if correct is None else (correct.mean(), bootstrap_se(correct))
            rows.append(self.row(evalset=evalset, split=split, value=value, se=se, n=len(idx)))
        return rows
