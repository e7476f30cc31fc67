"""Linear-probe recovery: can a fresh linear classifier read the forgotten classes off frozen features?"""
from __future__ import annotations

import numpy as np

from unlearnbench.metrics.base import (PRE_LOGITS, EvalContext, Metric, all_finite, check_float, check_int,
                                       register_metric)
from unlearnbench.metrics.uncertainty import bootstrap_se

__all__ = ["LinearProbe", "per_class_subset", "probe_accuracy"]


def per_class_subset(labels: np.ndarray, idx: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted seeded subset of ``idx`` with at most ``per_class`` samples of each label."""
    idx = np.asarray(idx, dtype=np.int64)
    perm = rng.permutation(idx)
    lab = np.asarray(labels)[perm]
    order = np.argsort(lab, kind="stable")  # groups by label, keeps the random order within a class
    perm, lab = perm[order], lab[order]
    starts = np.searchsorted(lab, lab, side="left")
    rank = np.arange(len(lab)) - starts
    return np.sort(perm[rank < per_class])


def probe_correct(x_train: np.ndarray, y_train: np.ndarray, evals: dict[str, tuple[np.ndarray, np.ndarray]], *,
                  C: float = 1.0, max_iter: int = 1000, tol: float = 1e-4) -> dict[str, np.ndarray]:
    """Fit StandardScaler + multinomial ``LogisticRegression(C, max_iter, tol)`` (lbfgs) on (x_train, y_train)
    and return its per-sample correctness (0/1) on each ``evals[name] = (x, y)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(np.asarray(x_train, dtype=np.float64))
    clf = LogisticRegression(C=C, max_iter=max_iter, tol=tol)
    clf.fit(scaler.transform(np.asarray(x_train, dtype=np.float64)), y_train)
    return {k: (clf.predict(scaler.transform(np.asarray(x, dtype=np.float64))) == y).astype(np.float64)
            for k, (x, y) in evals.items()}


def probe_accuracy(x_train: np.ndarray, y_train: np.ndarray, evals: dict[str, tuple[np.ndarray, np.ndarray]], *,
                   C: float = 1.0, max_iter: int = 1000, tol: float = 1e-4) -> dict[str, float]:
    """Accuracy of the probe of :func:`probe_correct` on each ``evals[name] = (x, y)``."""
    return {k: float(c.mean()) for k, c in probe_correct(x_train, y_train, evals, C=C, max_iter=max_iter,
                                                          tol=tol).items()}


@register_metric("probe")
class LinearProbe(Metric):
    """Linear-probe recovery accuracy of the forgotten classes from frozen features.

    A fresh linear classifier — standardised features (z-scored with training statistics) and a multinomial
    L2-regularised logistic regression ``LogisticRegression(C=C, max_iter=max_iter, tol=tol)`` — is fit on
    the model's frozen ``layer`` features (default ``pre_logits``) of held-in *training* data of **all**
    classes: a seeded subset of retain-train ∪ forget-train with at most ``train_per_class`` samples per
    class (seed ``ctx.seed`` unless ``seed`` is given). It is then scored on held-out test data: split
    ``forget_test`` (the forgotten classes; the headline value) and ``retain_test`` (context). High
    forget_test accuracy means the forgotten classes are still linearly decodable: unlearning changed the
    head, not the representation. This is the linear-evaluation protocol (Kornblith, Shlens, Le 2019;
    Chen et al. 2020, SimCLR) applied to forgetting as in Kim et al. 2025 (arXiv 2503.06991).

    No rows when forget_test is empty (sample forgetting). Non-finite features -> NaN rows. ``se``: bootstrap
    standard error over the scored test samples with the fitted probe held fixed; ``n``, ``dim`` as usual.
    Rows: evalset ``test``, split ``forget_test`` / ``retain_test``, layer = ``layer``, variant "".
    Parameters: ``layer`` str; ``C`` > 0; ``max_iter`` >= 1; ``tol`` > 0; ``train_per_class`` >= 1;
    ``seed`` None | >= 0.
    """

    def __init__(self, *, layer: str = PRE_LOGITS, C: float = 1.0, max_iter: int = 1000, tol: float = 1e-4,
                 train_per_class: int = 100, seed: int | None = None) -> None:
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"layer must be a non-empty layer name, got {layer!r}")
        self.layer = layer
        self.C = check_float("C", C, 0.0, lo_open=True)
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.tol = check_float("tol", tol, 0.0, lo_open=True)
        self.train_per_class = check_int("train_per_class", train_per_class, 1)
        self.seed = None if seed is None else check_int("seed", seed, 0)

    def evaluate(self, ctx: EvalContext) -> list[dict]:
        train, test = ctx.get("model", "train"), ctx.get("model", "test")
        if train is None or test is None or len(ctx.forget_test_idx) == 0:
            return []
        rng = np.random.default_rng(ctx.seed if self.seed is None else self.seed)
        pool = np.union1d(ctx.retain_train_idx, ctx.forget_train_idx)
        tr = per_class_subset(train.labels, pool, self.train_per_class, rng)
        xtr, ytr = train.feature(self.layer)[tr], train.labels[tr]
        evals = {s: (test.feature(self.layer)[i], test.labels[i])
                 for s, i in (("forget_test", ctx.forget_test_idx), ("retain_test", ctx.retain_test_idx)) if len(i)}
        dim = int(xtr.shape[1])
        if not all_finite(xtr, *(x for x, _ in evals.values())):
            return [self.row(evalset="test", split=s, layer=self.layer, value=float("nan"), n=len(y), dim=dim)
                    for s, (_, y) in evals.items()]
        if len(np.unique(ytr)) < 2:
            raise ValueError(f"linear probe needs training samples of at least 2 classes, got {np.unique(ytr)}")
        correct = probe_correct(xtr, ytr, evals, C=self.C, max_iter=self.max_iter, tol=self.tol)
        return [self.row(evalset="test", split=s, layer=self.layer, value=float(c.mean()), se=bootstrap_se(c),
                         n=len(c), dim=dim) for s, c in correct.items()]
