"""Sampling uncertainty of a metric over its evaluated samples: the seeded nonparametric bootstrap.

A metric that averages a per-sample score (top-1 correctness for accuracy, k-NN and the linear probe)
has, besides the model's seed variance, the noise of the finite eval set it was measured on: another
draw of test images would give another value. :func:`bootstrap_se` estimates the standard error of the
mean of ``scores`` by resampling the samples with replacement (Efron & Tibshirani 1993, "An Introduction
to the Bootstrap", ch. 6): ``n_boot`` seeded resamples, SE = sample standard deviation of their means.
The model (and, for k-NN / probe, the bank or the fitted probe) is held fixed: this is the eval-set
component only; seed variance is measured across replicate seeds (:mod:`unlearnbench.aggregate`).
For 0/1 scores the bootstrap SE converges to the binomial sqrt(p(1 − p)/n) (tested); it is 0 when every
score is equal (e.g. forget accuracy exactly 0), and NaN for fewer than 2 samples or non-finite scores.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "bootstrap_se"]

#: protocol constants: every model is resampled identically, so SEs are comparable across rows
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20240607
_CHUNK_ELEMENTS = 4_000_000  # resample indices drawn per block: bounded memory for large eval sets


def bootstrap_se(scores: np.ndarray, *, n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> float:
    """Bootstrap standard error of ``mean(scores)`` (1-D per-sample scores)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = scores.shape[0]
    if n < 2 or not np.isfinite(scores).all():
        return math.nan
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    if np.all(scores == scores[0]):
        return 0.0
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    per_block = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_boot, per_block):
        b = min(per_block, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        means[start:start + b] = scores[idx].mean(axis=1)
    return float(means.std(ddof=1))
