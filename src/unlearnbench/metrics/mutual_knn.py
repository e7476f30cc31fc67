"""Mutual k-nearest-neighbour alignment of the model's and each reference's features on the same samples.

Huh, Cheung, Wang, Isola, "The Platonic Representation Hypothesis" (ICML 2024, §2 and appendix A): for each
sample i let N_X(i) be the set of its k nearest neighbours among the other n − 1 samples in representation X,
by cosine similarity of the (uncentred) feature vectors, and N_Y(i) the same in Y. The alignment is

    m_kNN(X, Y) = (1/n) Σ_i |N_X(i) ∩ N_Y(i)| / k  ∈ [0, 1]        (paper default k = 10)

1 = every sample has the same k neighbours in both representations. It only looks at *local* neighbourhood
structure, which linear CKA and Procrustes (global, variance-weighted second moments) largely ignore: a method
can keep the top principal directions (high CKA) while reshuffling which samples sit next to each other, or the
reverse. Representations of different widths compare directly (only the neighbour sets are compared).

Invariances: rotations/reflections and isotropic (indeed any per-sample positive) scaling of either
representation, and any transformation that keeps each sample's cosine ranking; **not** translation (cosine is
about the origin — shifting the features changes the angles, as in the paper, which also does not centre).

Chance level: for independent representations N_X(i) and N_Y(i) are independent uniformly random k-subsets of
the other n − 1 samples, so |N_X(i) ∩ N_Y(i)| is hypergeometric with mean k²/(n − 1) and m_kNN ≈ k/(n − 1)
(0.040 for k = 10, n = 252; tested). The value therefore depends on n (and k): compare it on the same split, as
the gap to retrain does; ``n`` is on every row.

Ties (equal cosine similarities, e.g. duplicate samples or an all-zero feature row, whose similarity is 0 to
everything) are broken towards the lower sample position, the same way in both representations. Similarities
are float64 products of L2-normalised rows, computed in row blocks (O(n²·d) time, O(block·n) memory).

``se``: the bootstrap standard error (:func:`unlearnbench.metrics.uncertainty.bootstrap_se`, the protocol's
1 000 seeded resamples) of the mean of the per-sample overlaps |N_X(i) ∩ N_Y(i)|/k, with the neighbour sets held
fixed (the eval-set noise of averaging over the samples; like the k-NN metric's fixed bank).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from unlearnbench.metrics.base import PRE_LOGITS, check_int, register_metric
from unlearnbench.metrics.procrustes import _ALL_UPSTREAM, PairedFeatureMetric
from unlearnbench.metrics.uncertainty import bootstrap_se

__all__ = ["MutualKNN", "knn_indices", "mutual_knn"]

_BLOCK_ELEMENTS = 4_000_000  # similarity entries per row block


def knn_indices(x: np.ndarray, k: int) -> np.ndarray:
    """(n, k) positions of each row's k most cosine-similar other rows (ascending position order within a row;
    ties go to the lower position). Needs 1 <= k < n."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    k = check_int("k", k, 1)
    if k >= n:
        raise ValueError(f"k={k} must be smaller than the number of samples n={n} (neighbours exclude the sample)")
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)  # a zero row stays zero
    out = np.empty((n, k), dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // n)
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        sim = xn[lo:hi] @ xn.T
        sim[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf  # exclude the sample itself
        kth = np.partition(sim, n - k, axis=1)[:, n - k:n - k + 1]  # the k-th largest similarity per row
        greater = sim > kth
        equal = sim == kth
        need = k - greater.sum(axis=1, keepdims=True)  # how many of the ties at the k-th value to take
        take = greater | (equal & (np.cumsum(equal, axis=1) <= need))
        out[lo:hi] = np.nonzero(take)[1].reshape(hi - lo, k)
    return out


def _overlaps(nx: np.ndarray, ny: np.ndarray) -> np.ndarray:
    """Per-row |N_X(i) ∩ N_Y(i)| / k for (n, k) neighbour index arrays (each row's indices distinct)."""
    k = nx.shape[1]
    counts = np.empty(nx.shape[0], dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // (k * k))
    for lo in range(0, nx.shape[0], block):
        a, b = nx[lo:lo + block], ny[lo:lo + block]
        counts[lo:lo + block] = (a[:, :, None] == b[:, None, :]).sum(axis=(1, 2))
    return counts / k


def mutual_knn(x: np.ndarray, y: np.ndarray, *, k: int = 10,
               return_per_sample: bool = False) -> float | tuple[float, np.ndarray]:
    """Mutual k-NN alignment of X (n×d1) and Y (n×d2) (module docstring); with ``return_per_sample`` also the
    (n,) per-sample overlaps |N_X(i) ∩ N_Y(i)|/k whose mean it is. Needs 1 <= k < n."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"features must be 2-D (n, d), got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
    per = _overlaps(knn_indices(x, k), knn_indices(y, k))
    return (float(per.mean()), per) if return_per_sample else float(per.mean())


@register_metric("mutual_knn")
class MutualKNN(PairedFeatureMetric):
    """Mutual k-NN alignment (Huh et al. 2024) between the model and each reference, ∈ [0, 1], 1 = same
    neighbourhoods.

    Rows (variant ``""``) per split, layer and reference as described in
    :class:`unlearnbench.metrics.procrustes.PairedFeatureMetric`; ``se`` the bootstrap standard error of the
    mean per-sample overlap (module docstring), ``n`` the samples used, ``dim`` the model's feature width. A
    split with at least 4 but at most ``k`` samples cannot have k neighbours: its rows have value NaN
    (undetermined, with ``n`` saying why) rather than stopping the evaluation.

    Parameters: ``k`` >= 1 (default 10, the paper's); ``layers`` non-empty list of layer names (default
    ``["pre_logits"]``; only those also in the run's feature layers are computed); ``upstream_splits`` subset of
    (forget_train, retain_train, forget_test, retain_test) (default all four); ``max_samples`` > ``k`` or None
    (default 2 000: the similarity matrix is n×n, so larger splits are subsampled; the paper uses 1 024);
    ``subsample_seed`` >= 0.
    """

    variant = ""

    def __init__(self, *, k: int = 10, layers: Sequence[str] = (PRE_LOGITS,),
                 upstream_splits: Sequence[str] = _ALL_UPSTREAM, max_samples: int | None = 2000,
                 subsample_seed: int = 0) -> None:
        self.k = check_int("k", k, 1)
        self._init_common(layers, upstream_splits, max_samples, subsample_seed)
        if self.max_samples is not None and self.max_samples <= self.k:
            raise ValueError(f"max_samples must be > k={self.k} (or None), got {self.max_samples}")

    def _prepare(self, x: np.ndarray):
        return knn_indices(x, self.k) if x.shape[0] > self.k else None

    def _compare(self, px, py) -> tuple[float, float]:
        if px is None or py is None:
            return math.nan, math.nan
        per = _overlaps(px, py)
        return float(per.mean()), bootstrap_se(per)
