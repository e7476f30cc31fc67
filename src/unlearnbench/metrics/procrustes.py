"""Orthogonal Procrustes similarity between the model's and each reference's features on the same samples.

For representations X (n×d1) and Y (n×d2) of the same n samples, centre each (subtract its column means) and
scale it to unit Frobenius norm: X̃ = Xc/||Xc||_F, Ỹ = Yc/||Yc||_F. The orthogonal Procrustes distance is

    d²(X, Y) = min_Q ||X̃ − Ỹ Q||_F² = 2 − 2 ||X̃^T Ỹ||_*        (Q with orthonormal columns, ||·||_* = nuclear norm)

(Schönemann 1966; used to compare networks by Ding, Denain, Steinhardt, "Grounding Representation Similarity
with Statistical Testing", NeurIPS 2021, and as the shape metric of Williams, Kunz, Kornblith, Linderman,
"Generalized Shape Metrics on Neural Representations", NeurIPS 2021, whose angular form is arccos ||X̃^T Ỹ||_*).
X̃^T Ỹ is d1×d2, so different widths need no padding: its nuclear norm is the sum of its min(d1, d2) singular
values (zero-padding the narrower representation to the wider one gives the same value).

**Convention.** The metric reports the *Procrustes similarity*

    value = ||X̃^T Ỹ||_* = 1 − d²/2  ∈ [0, 1]      (d = sqrt(2 − 2·value) ∈ [0, √2]; row variant ``"similarity"``)

1 = the two representations are identical up to a translation, an orthogonal transform (rotation/reflection)
and an isotropic scaling; 0 = their centred column spaces are orthogonal. A similarity oriented and bounded
like linear CKA and mutual k-NN (1 = same) keeps the representation headlines on one scale — the summaries'
gap to retrain |m − m_retrain| stays in [0, 1] (it is |d² − d²_retrain|/2, a fixed rescaling of the squared
distance, so nothing is lost). A representation without variance gives 0 (as CKA does).

Invariances: translation, orthogonal transforms, isotropic scaling of either representation; *not* invertible
linear maps in general (an anisotropic rescaling changes it), which is what makes it stricter than linear CKA
about the geometry (Ding et al. 2021: more sensitive to the removal of low-variance principal components).

**Finite-sample bias.** Like the biased CKA, the value of *independent* representations is not 0 at finite n:
for isotropic Gaussian features with d1 = d2 = d ≪ n it is ≈ (8/(3π))·sqrt(d/n) ≈ 0.85·sqrt(d/n) (the mean
nuclear norm of a d×d Gaussian matrix; tested), e.g. 0.43 at n = 250, d = 64 and 0.16 at n = 1 764. There is no
standard debiased estimator; compare values on the same split (same n, d), as the gap to retrain does, and read
``n`` and ``dim`` on the row.

**Standard error** (``se``): the infinitesimal jackknife (nonparametric delta method; Jaeckel 1972, Efron 1982
"The Jackknife, the Bootstrap and Other Resampling Plans" ch. 6) — the first-order limit of the paired bootstrap
that resamples the same rows in both representations. The value is a smooth function of the centred second
moments: with C = X̃^T Ỹ = U S V^T and G = U V^T (the gradient of the nuclear norm, singular values > 0 only),
sample i's empirical influence is

    IF_i = n·x̃_i^T G ỹ_i − value − value/2 · (n||x̃_i||² − 1 + n||ỹ_i||² − 1),      se = sqrt(Σ_i IF_i²) / n

(x̃_i, ỹ_i the rows of X̃, Ỹ). It costs one pass after the point estimate's SVD (≈ 0.6 ms for n = 250,
d = 64, against ≈ 0.1 s for a 200-resample bootstrap, and the bootstrap would need an SVD of a 2048×2048 matrix
per resample at ImageNet width). Measured over fresh samples (docs/metrics.md) it is close to the true
sampling SD for n ≫ d and conservative (larger) for d/n ≳ 0.25, where the paired bootstrap is larger still.

Computation: float64; when d > n a representation is first replaced by the n×n triangular factor of its
centred rows (X̃ = R^T Q^T, exact: the nuclear norm and every x̃_i^T G ỹ_i are invariant to that orthogonal
change of basis), so the cost is O(n·d1·d2 + min(d1, d2, n)³).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from unlearnbench.metrics.base import (PRE_LOGITS, EvalContext, FeatureSet, Metric, all_finite, check_int,
                                       register_metric)

__all__ = ["MIN_SAMPLES", "PairedFeatureMetric", "Procrustes", "procrustes_similarity"]

#: splits with fewer samples give no rows (as linear CKA)
MIN_SAMPLES = 4
UPSTREAM = {"forget_train": ("train", "forget_train_idx"), "retain_train": ("train", "retain_train_idx"),
            "forget_test": ("test", "forget_test_idx"), "retain_test": ("test", "retain_test_idx")}
_ALL_UPSTREAM = tuple(UPSTREAM)
_REL_DEGENERATE = 1e-12  # ||Xc||_F below this fraction of ||X||_F: no variance (rounding of a constant)


def _normalised(x: np.ndarray) -> np.ndarray | None:
    """Centred, unit-Frobenius-norm rows in float64, reduced to n columns when d > n; None without variance."""
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(axis=0)
    norm = float(np.linalg.norm(xc))
    if norm == 0.0 or norm <= _REL_DEGENERATE * float(np.linalg.norm(x)):
        return None
    xc /= norm
    if xc.shape[1] > xc.shape[0]:
        xc = np.linalg.qr(xc.T, mode="r").T  # n×n, same Gram matrix X̃X̃^T
    return xc


def _similarity(xr: np.ndarray | None, yr: np.ndarray | None, *, with_se: bool) -> tuple[float, float]:
    """(value, se) from prepared representations (see :func:`_normalised`)."""
    if xr is None or yr is None:
        return 0.0, math.nan
    u, s, vt = np.linalg.svd(xr.T @ yr, full_matrices=False)
    value = float(min(max(s.sum(), 0.0), 1.0))  # [0, 1] up to rounding
    if not with_se:
        return value, math.nan
    n = xr.shape[0]
    keep = s > s[0] * 1e-10 if s.size and s[0] > 0 else np.zeros(s.shape, dtype=bool)
    g = u[:, keep] @ vt[keep]
    cross = np.einsum("ij,ij->i", xr @ g, yr)
    infl = n * cross - value - 0.5 * value * (n * np.einsum("ij,ij->i", xr, xr) - 1.0
                                              + n * np.einsum("ij,ij->i", yr, yr) - 1.0)
    return value, float(np.sqrt(np.sum(infl * infl)) / n)


def procrustes_similarity(x: np.ndarray, y: np.ndarray, *, return_se: bool = False) -> float | tuple[float, float]:
    """Procrustes similarity ||X̃^T Ỹ||_* ∈ [0, 1] of X (n×d1) and Y (n×d2) (module docstring), with its
    infinitesimal-jackknife standard error when ``return_se``. Needs n >= 2 rows in both."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"features must be 2-D (n, d), got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError(f"Procrustes similarity needs n >= 2 samples, got {x.shape[0]}")
    value, se = _similarity(_normalised(x), _normalised(y), with_se=return_se)
    return (value, se) if return_se else value


def _tuple_of_str(name: str, value, allowed: tuple[str, ...] | None = None, *, empty_ok: bool) -> tuple[str, ...]:
    vals = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple)) else None
    what = f"a subset of {list(allowed)}" if allowed else "a list of layer names"
    if vals is None or (not vals and not empty_ok) or any(not isinstance(v, str) or not v for v in vals) \
            or (allowed is not None and any(v not in allowed for v in vals)) or len(set(vals)) != len(vals):
        raise ValueError(f"{name} must be {what}{'' if empty_ok else ' (non-empty)'} without repeats, got {value!r}")
    return vals


class PairedFeatureMetric(Metric):
    """Shared machinery of the sample-paired representation metrics (Procrustes, mutual k-NN).

    Rows per (split, layer, reference): the upstream splits in ``upstream_splits`` and every downstream evalset
    as a whole (split ``"all"``), the layers of ``ctx.layers`` that are in ``layers`` and stored as vectors
    (pooled stage vectors, ``pre_logits``; a stage stored as an alias of ``pre_logits`` gives no rows, as in
    CKA), each reference role present (``original``, ``retrain``). The model's and the reference's features
    are taken on the same samples; a split with more than ``max_samples`` samples is replaced by a seeded
    subsample (``subsample_seed``; it depends only on the split, so every model is scored on the same rows).
    Splits with fewer than :data:`MIN_SAMPLES` samples (e.g. forget-test under sample forgetting, which is
    empty) give no rows. Non-finite features of the model (or a reference) give value NaN.
    Subclasses set ``variant``, ``_min_max_samples`` and implement ``_prepare`` / ``_compare``.
    """

    variant = ""
    _min_max_samples = MIN_SAMPLES

    def _init_common(self, layers, upstream_splits, max_samples, subsample_seed) -> None:
        self.layers = _tuple_of_str("layers", layers, empty_ok=False)
        self.upstream_splits = _tuple_of_str("upstream_splits", upstream_splits, _ALL_UPSTREAM, empty_ok=True)
        self.max_samples = None if max_samples is None else check_int("max_samples", max_samples,
                                                                      self._min_max_samples)
        self.subsample_seed = check_int("subsample_seed", subsample_seed, 0)

    def _splits(self, ctx: EvalContext):
        for split in self.upstream_splits:
            evalset, attr = UPSTREAM[split]
            yield evalset, split, getattr(ctx, attr)
        for name in ctx.downstream:
            yield name, "all", None

    def _rows_of(self, idx: np.ndarray) -> np.ndarray:
        if self.max_samples is None or len(idx) <= self.max_samples:
            return idx
        rng = np.random.default_rng(self.subsample_seed)
        return idx[np.sort(rng.choice(len(idx), size=self.max_samples, replace=False))]

    def _prepare(self, x: np.ndarray):
        raise NotImplementedError

    def _compare(self, px, py) -> tuple[float, float]:
        raise NotImplementedError

    def evaluate(self, ctx: EvalContext) -> list[dict]:
        rows: list[dict] = []
        layers = [layer for layer in ctx.layers if layer in self.layers]
        for evalset, split, idx in self._splits(ctx):
            model, refs = ctx.paired(evalset)
            if model is None or not refs:
                continue
            idx = np.arange(len(model)) if idx is None else np.asarray(idx, dtype=np.int64)
            if len(idx) < MIN_SAMPLES:
                continue
            idx = self._rows_of(idx)
            for layer in layers:
                rows += self._layer_rows(model, refs, idx, evalset, split, layer)
        return rows

    def _layer_rows(self, model: FeatureSet, refs: dict[str, FeatureSet], idx: np.ndarray, evalset: str,
                    split: str, layer: str) -> list[dict]:
        x = _vector(model, layer)
        if x is None:
            return []
        x = np.asarray(x[idx])
        finite = all_finite(x)
        px = self._prepare(x) if finite else None
        rows = []
        for r, fs in refs.items():
            y = _vector(fs, layer)
            if y is None:
                continue
            y = np.asarray(y[idx])
            value, se = math.nan, math.nan
            if finite and all_finite(y):
                value, se = self._compare(px, self._prepare(y))
            rows.append(self.row(variant=self.variant, evalset=evalset, split=split, layer=layer, reference=r,
                                 value=value, se=se, n=len(idx), dim=int(x.shape[1])))
        return rows


def _vector(fs: FeatureSet, layer: str) -> np.ndarray | None:
    """Stored vector features of ``layer``, or None (not stored, Gram only, or an alias of pre-logits)."""
    if layer in fs.aliases:
        return None
    try:
        return fs.feature(layer)
    except KeyError:
        return None


@register_metric("procrustes")
class Procrustes(PairedFeatureMetric):
    """Orthogonal Procrustes similarity ||X̃^T Ỹ||_* = 1 − d²/2 ∈ [0, 1] between the model and each reference.

    Rows (variant ``"similarity"``) per split, layer and reference as described in
    :class:`PairedFeatureMetric`; ``se`` is the infinitesimal-jackknife standard error over the samples
    (module docstring), ``n`` the samples used, ``dim`` the model's feature width.

    Parameters: ``layers`` non-empty list of layer names (default ``["pre_logits"]``; only those also in the
    run's feature layers are computed); ``upstream_splits`` subset of (forget_train, retain_train,
    forget_test, retain_test) (default all four); ``max_samples`` >= 4 or None (default 10 000: larger splits
    are subsampled, bounding the n×d copies at ImageNet scale); ``subsample_seed`` >= 0.
    """

    variant = "similarity"

    def __init__(self, *, layers: Sequence[str] = (PRE_LOGITS,), upstream_splits: Sequence[str] = _ALL_UPSTREAM,
                 max_samples: int | None = 10000, subsample_seed: int = 0) -> None:
        self._init_common(layers, upstream_splits, max_samples, subsample_seed)

    def _prepare(self, x: np.ndarray):
        return _normalised(x)

    def _compare(self, px, py) -> tuple[float, float]:
        return _similarity(px, py, with_se=True)
