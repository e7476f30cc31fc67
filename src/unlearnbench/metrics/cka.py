"""Linear CKA (Kornblith et al. 2019) in feature space, streaming, with the debiased variant.

For column-centred ``Xc`` (n×d1) and ``Yc`` (n×d2) the linear CKA is

    CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)

(Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network Representations Revisited", ICML 2019, eq. 5),
which equals HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with K = XX^T, L = YY^T and the biased estimator
HSIC(K, L) = tr(KHLH)/(n-1)^2. It is computed without any n×n matrix in O(n·d²) time and O(d²) memory from
streamed sufficient statistics: n, column sums s, Gram blocks S_xx = X^T X, S_yy, S_xy = X^T Y, from which
the centred products follow exactly as S_c = S − s_x s_y^T / n.

The *debiased* variant replaces HSIC with the unbiased estimator of Song et al. 2012 ("Feature Selection via
Dependence Maximization", JMLR 13, Thm. 2), as used by Nguyen, Raghu, Kornblith, "Do Wide and Deep Networks
Learn the Same Things?", ICLR 2021:

    HSIC_1(K, L) = [tr(K̃L̃) + (1^T K̃ 1)(1^T L̃ 1)/((n-1)(n-2)) − 2/(n-2) · 1^T K̃ L̃ 1] / (n(n-3))

with K̃, L̃ the (uncentred) Gram matrices with zeroed diagonals, and CKA_debiased = HSIC_1(K, L) /
sqrt(HSIC_1(K, K) HSIC_1(L, L)). For linear kernels every term is a feature-space statistic:

    tr(K̃L̃)    = ||X^T Y||_F^2 − Σ_j ||x_j||² ||y_j||²
    1^T K̃ 1   = ||s_x||² − Σ_j ||x_j||²
    1^T K̃L̃ 1 = Σ_j (x_j·s_x − ||x_j||²)(y_j·s_y − ||y_j||²)
              = s_x^T (X^T Y) s_y − s_x^T (Σ_j ||y_j||² x_j) − s_y^T (Σ_j ||x_j||² y_j) + Σ_j ||x_j||²||y_j||²

so the extra streamed quantities are the weighted sums Σ||x_j||² y_j, Σ||y_j||² x_j, Σ||x_j||²||y_j||²
(and Σ||x_j||² x_j, Σ||x_j||⁴ for the self terms): one pass, exact.

Numerics. Every representation is shifted by the mean of its first batch before accumulation. Both
estimators are exactly invariant to a common translation of the rows (the biased one because it centres,
the unbiased one because its U-statistic kernel only involves double differences of Gram entries), so this
changes nothing mathematically but removes the catastrophic cancellation of uncentred ReLU features. The Gram
blocks of ``batch_size`` rows are formed in ``compute_dtype`` (float32 BLAS, X^T X through numpy's SYRK
path) and summed across blocks in float64; all final formulas are in float64. ``compute_dtype="auto"``
follows the input precision (float32 features -> float32 blocks, ~1e-6 relative; float64 -> exact to
rounding). Degenerate inputs (a representation without variance) give CKA = 0.

Layers. Intermediate stages are compared, as Kornblith et al. 2019 do, on their **full activation maps**
(each example's C×H×W stage output flattened): from the linear Gram matrices that extraction stores for a
seeded per-class subset of each eval set (:mod:`unlearnbench.metrics.cka_gram`: O(n²) Gram-form estimators,
the subset, its memory cap, its sampling error). Their rows carry the variants ``biased`` / ``debiased``,
with ``n`` = subset examples in the split and ``dim`` = C·H·W. The global-average-pooled stage vectors are
the named variants ``biased_pooled`` / ``debiased_pooled`` (feature space, full split, ``dim`` = C). The
``pre_logits`` vector is compared in feature space on the full split (``biased`` / ``debiased``); a last
stage whose pooled vector *is* the pre-logits (extraction records the alias) gets no pooled rows. The subset
(default 16 examples per class, the same for every model) costs 0.8 MiB per model in the default experiment
and keeps memory bounded at ImageNet scale (``gram_max_bytes``); its error against the whole split is ≤ 0.031
(debiased) / ≤ 0.058 (biased, a positive small-n bias) mean |error| on a 2-class forget split, ≤ 0.009 /
≤ 0.022 on retain splits (docs/metrics.md, benchmarks/bench_layer_cka.py).
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from unlearnbench.metrics.base import (EvalContext, Metric, check_choice, check_int,
                                       register_metric)
from unlearnbench.metrics.cka_gram import MIN_ROWS, aligned_rows, cka_from_grams, cka_ratio

__all__ = ["CKA", "CrossStats", "LinearCKAAccumulator", "RepresentationStats", "cka_from_grams", "cka_from_stats",
           "linear_cka"]

_DTYPES = {"float32": np.float32, "float64": np.float64}
_COMPUTE_DTYPES = ("auto", "float32", "float64")
_VARIANTS = ("biased", "debiased")
#: layers whose stored vector is the global average pool of a stage map (models.feature_layers)
_STAGE = re.compile(r"stage\d+")
_UPSTREAM = {"forget_train": ("train", "forget_train_idx"), "retain_train": ("train", "retain_train_idx"),
             "forget_test": ("test", "forget_test_idx"), "retain_test": ("test", "retain_test_idx")}


def _resolve_dtype(compute_dtype: str, *arrays: np.ndarray) -> type:
    if compute_dtype != "auto":
        return _DTYPES[compute_dtype]
    return np.float64 if any(np.asarray(a).dtype == np.float64 for a in arrays) else np.float32


class RepresentationStats:
    """Streamed statistics of one representation X: n, Σx, X^T X, Σ||x||², Σ||x||² x, Σ||x||⁴ (float64).

    Rows are shifted by the mean of the first non-empty batch (see module docstring). ``prepare`` returns
    the shifted block (in the compute dtype) and its squared row norms so that cross statistics can reuse
    them; ``update`` = ``update_prepared(*prepare(x))``.
    """

    def __init__(self, compute_dtype: str = "auto") -> None:
        self.compute_dtype = check_choice("compute_dtype", compute_dtype, _COMPUTE_DTYPES)
        self.dtype: type | None = None
        self.shift: np.ndarray | None = None
        self.n = 0
        self.s = self.S = self.q = None
        self.r2 = 0.0
        self.r4 = 0.0

    @property
    def dim(self) -> int | None:
        return None if self.shift is None else int(self.shift.shape[0])

    def prepare(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"features must be 2-D (n, d), got shape {x.shape}")
        if self.shift is None and x.shape[0] > 0:
            self.dtype = _resolve_dtype(self.compute_dtype, x)
            self.shift = x.mean(axis=0, dtype=np.float64)
        if self.shift is None:
            return x.astype(np.float64), np.zeros(0)
        if x.shape[1] != self.shift.shape[0]:
            raise ValueError(f"feature dimension changed between batches: {self.shift.shape[0]} -> {x.shape[1]}")
        wd = np.result_type(x.dtype, self.dtype)
        xs = (x.astype(wd, copy=False) - self.shift.astype(wd)).astype(self.dtype, copy=False)
        norms2 = np.einsum("ij,ij->i", xs, xs).astype(np.float64)
        return xs, norms2

    def update_prepared(self, xs: np.ndarray, norms2: np.ndarray) -> None:
        if xs.shape[0] == 0:
            return
        if self.S is None:
            d = xs.shape[1]
            self.s, self.S, self.q = np.zeros(d), np.zeros((d, d)), np.zeros(d)
        self.n += xs.shape[0]
        self.s += xs.sum(axis=0, dtype=np.float64)
        self.S += xs.T @ xs  # same buffer transposed: numpy dispatches to BLAS SYRK
        self.q += xs.T @ norms2.astype(self.dtype)
        self.r2 += float(norms2.sum())
        self.r4 += float(norms2 @ norms2)

    def update(self, x: np.ndarray) -> None:
        self.update_prepared(*self.prepare(x))

    def centred_gram(self) -> np.ndarray:
        """Xc^T Xc = S − s s^T / n (float64)."""
        return self.S - np.outer(self.s, self.s) / self.n


class CrossStats:
    """Streamed cross statistics of (X, Y): X^T Y, Σ||x||² y, Σ||y||² x, Σ||x||²||y||² (float64)."""

    def __init__(self) -> None:
        self.n = 0
        self.C = self.qxy = self.qyx = None
        self.r22 = 0.0

    def update_prepared(self, xs: np.ndarray, nx: np.ndarray, ys: np.ndarray, ny: np.ndarray) -> None:
        if xs.shape[0] != ys.shape[0]:
            raise ValueError(f"X and Y batches must have the same number of rows, got {xs.shape[0]} and "
                             f"{ys.shape[0]}")
        if xs.shape[0] == 0:
            return
        if self.C is None:
            self.C = np.zeros((xs.shape[1], ys.shape[1]))
            self.qxy, self.qyx = np.zeros(ys.shape[1]), np.zeros(xs.shape[1])
        self.n += xs.shape[0]
        self.C += xs.T @ ys
        self.qxy += ys.T @ nx.astype(ys.dtype)  # Σ_j ||x_j||² y_j
        self.qyx += xs.T @ ny.astype(xs.dtype)  # Σ_j ||y_j||² x_j
        self.r22 += float(nx @ ny)


def _hsic1(n: int, frob_cross: float, r22: float, one_k_one: float, one_l_one: float, one_kl_one: float) -> float:
    """Unbiased HSIC_1 (Song et al. 2012) from the feature-space terms listed in the module docstring."""
    tr_kl = frob_cross - r22
    return (tr_kl + one_k_one * one_l_one / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * one_kl_one) / (n * (n - 3))


def _self_hsic1(st: RepresentationStats) -> float:
    one_k_one = float(st.s @ st.s) - st.r2
    one_kk_one = float(st.s @ st.S @ st.s) - 2.0 * float(st.s @ st.q) + st.r4
    return _hsic1(st.n, float(np.sum(st.S * st.S)), st.r4, one_k_one, one_k_one, one_kk_one)


def cka_from_stats(sx: RepresentationStats, sy: RepresentationStats, cxy: CrossStats, *,
                   debiased: bool = False) -> float:
    """Linear CKA (biased, or debiased with ``debiased=True``) from streamed statistics of X, Y, (X, Y)."""
    n = sx.n
    if not (n == sy.n == cxy.n):
        raise ValueError(f"statistics were accumulated over different numbers of rows: {sx.n}, {sy.n}, {cxy.n}")
    if not debiased:
        if n < 2:
            raise ValueError(f"linear CKA needs n >= 2 samples, got {n}")
        cxx, cyy = sx.centred_gram(), sy.centred_gram()
        cxy_c = cxy.C - np.outer(sx.s, sy.s) / n
        return cka_ratio(float(np.sum(cxy_c * cxy_c)), float(np.sum(cxx * cxx)), float(np.sum(cyy * cyy)))
    if n < 4:
        raise ValueError(f"debiased linear CKA needs n >= 4 samples, got {n}")
    one_k_one = float(sx.s @ sx.s) - sx.r2
    one_l_one = float(sy.s @ sy.s) - sy.r2
    one_kl_one = float(sx.s @ cxy.C @ sy.s) - float(sx.s @ cxy.qyx) - float(sy.s @ cxy.qxy) + cxy.r22
    hxy = _hsic1(n, float(np.sum(cxy.C * cxy.C)), cxy.r22, one_k_one, one_l_one, one_kl_one)
    return cka_ratio(hxy, _self_hsic1(sx), _self_hsic1(sy))


class LinearCKAAccumulator:
    """Streaming linear CKA between X and Y: ``update(x_batch, y_batch)`` repeatedly, then ``result()``.

    Memory is O(d1² + d2² + d1·d2) regardless of n; the result equals the one-shot computation on the
    concatenated batches (up to floating-point summation order). ``result(debiased=True)`` gives the
    debiased variant from the same pass.
    """

    def __init__(self, *, compute_dtype: str = "auto") -> None:
        self.compute_dtype = check_choice("compute_dtype", compute_dtype, _COMPUTE_DTYPES)
        self.x = RepresentationStats(compute_dtype)
        self.y = RepresentationStats(compute_dtype)
        self.xy = CrossStats()

    @property
    def n(self) -> int:
        return self.x.n

    def update(self, x_batch: np.ndarray, y_batch: np.ndarray) -> None:
        if np.shape(x_batch)[0] != np.shape(y_batch)[0]:
            raise ValueError(f"x_batch and y_batch must have the same number of rows, got "
                             f"{np.shape(x_batch)[0]} and {np.shape(y_batch)[0]}")
        xs, nx = self.x.prepare(x_batch)
        ys, ny = self.y.prepare(y_batch)
        self.x.update_prepared(xs, nx)
        self.y.update_prepared(ys, ny)
        self.xy.update_prepared(xs, nx, ys, ny)

    def result(self, *, debiased: bool = False) -> float:
        return cka_from_stats(self.x, self.y, self.xy, debiased=debiased)


def linear_cka(x: np.ndarray, y: np.ndarray, *, debiased: bool = False, compute_dtype: str = "auto",
               batch_size: int = 8192) -> float:
    """One-shot linear CKA of X (n×d1) and Y (n×d2) via :class:`LinearCKAAccumulator` in row batches."""
    check_int("batch_size", batch_size, 1)
    if np.shape(x)[0] != np.shape(y)[0]:
        raise ValueError(f"x and y must have the same number of rows, got {np.shape(x)[0]} and {np.shape(y)[0]}")
    acc = LinearCKAAccumulator(compute_dtype=compute_dtype)
    for i in range(0, np.shape(x)[0], batch_size):
        acc.update(x[i:i + batch_size], y[i:i + batch_size])
    return acc.result(debiased=debiased)


def _chunks(idx: np.ndarray | None, n: int, batch_size: int):
    """Row selectors: contiguous slices for a whole evalset, index chunks for a split."""
    if idx is None:
        for i in range(0, n, batch_size):
            yield slice(i, min(i + batch_size, n))
    else:
        for i in range(0, len(idx), batch_size):
            yield idx[i:i + batch_size]


@register_metric("cka")
class CKA(Metric):
    """Linear CKA between the model and each reference (``original``, ``retrain``) per layer.

    Splits: the upstream splits in ``upstream_splits`` (default forget_train on the train evalset,
    forget_test and retain_test on the test evalset) and every downstream evalset as a whole (split
    ``"all"``); the same samples are taken from the model's and the reference's features (never
    batch-averaged; see the module docstring for formulas and citations).

    Per layer in ``ctx.layers``:

    * stages with a stored flattened-map Gram: variants ``"biased"`` (Kornblith et al. 2019) / ``"debiased"``
      (Song et al. 2012 HSIC_1) of the full activation maps, on the Gram subset's examples in the split
      (``n`` of them, ``dim`` = C·H·W; fewer than 4 give no rows);
    * the pooled stage vectors (global average pool): ``"biased_pooled"`` / ``"debiased_pooled"``, feature
      space, whole split; none for a stage whose pooled vector is stored as an alias of ``pre_logits``;
    * ``pre_logits`` and any other vector layer: ``"biased"`` / ``"debiased"``, feature space, whole split.

    ``reference`` names the reference role; absent references/evalsets and splits with fewer than 4 samples
    give no rows. Non-finite features or Grams of the model (or reference) give value NaN. ``variants``
    selects the estimators of every kind above.

    Parameters: ``variants`` subset of ("biased", "debiased"); ``compute_dtype`` in ("auto", "float32",
    "float64") — precision of the per-batch feature-space Gram products (accumulation is always float64);
    ``batch_size`` >= 1 rows per streamed batch; ``upstream_splits`` subset of (forget_train, retain_train,
    forget_test, retain_test).
    """

    def __init__(self, *, variants: Sequence[str] = _VARIANTS, compute_dtype: str = "auto",
                 batch_size: int = 8192,
                 upstream_splits: Sequence[str] = ("forget_train", "forget_test", "retain_test")) -> None:
        self.variants = tuple(variants) if not isinstance(variants, str) else (variants,)
        if not self.variants or any(v not in _VARIANTS for v in self.variants):
            raise ValueError(f"variants must be a non-empty subset of {list(_VARIANTS)}, got {variants!r}")
        self.compute_dtype = check_choice("compute_dtype", compute_dtype, _COMPUTE_DTYPES)
        self.batch_size = check_int("batch_size", batch_size, 1)
        ups = tuple(upstream_splits) if not isinstance(upstream_splits, str) else (upstream_splits,)
        if any(s not in _UPSTREAM for s in ups):
            raise ValueError(f"upstream_splits must be a subset of {list(_UPSTREAM)}, got {upstream_splits!r}")
        self.upstream_splits = ups

    def _splits(self, ctx: EvalContext):
        for split in self.upstream_splits:
            evalset, attr = _UPSTREAM[split]
            yield evalset, split, getattr(ctx, attr)
        for name in ctx.downstream:
            yield name, "all", None

    def evaluate(self, ctx: EvalContext) -> list[dict]:
        rows: list[dict] = []
        for evalset, split, idx in self._splits(ctx):
            model, refs = ctx.paired(evalset)
            if model is None or not refs:
                continue
            n = len(model) if idx is None else len(idx)
            for layer in ctx.layers:
                if layer in model.grams:
                    rows += self._gram_rows(model, refs, idx, evalset, split, layer)
                vector = layer in model.layers or layer not in model.grams
                if n >= 4 and vector and layer not in model.aliases:
                    rows += self._layer_rows(model, refs, idx, n, evalset, split, layer)
        return rows

    def _gram_rows(self, model, refs, idx, evalset, split, layer) -> list[dict]:
        """Flattened-map CKA from the stored Grams, on the subset examples of the split both models hold."""
        gx, rows = model.grams[layer], []
        for r, fs in refs.items():
            gy = fs.grams.get(layer)
            if gy is None:
                continue
            rx, ry = aligned_rows(gx, gy, idx)
            if len(rx) < MIN_ROWS:
                continue
            k, l_ = gx.matrix(rx), gy.matrix(ry)
            for variant in self.variants:
                rows.append(self.row(variant=variant, evalset=evalset, split=split, layer=layer, reference=r,
                                     value=cka_from_grams(k, l_, debiased=variant == "debiased"), n=len(rx),
                                     dim=gx.dim))
        return rows

    def _layer_rows(self, model, refs, idx, n, evalset, split, layer) -> list[dict]:
        """Feature-space CKA of a vector layer (pooled stage or pre-logits) over the whole split."""
        x = model.feature(layer)
        ys = {r: fs.feature(layer) for r, fs in refs.items()}
        sx = RepresentationStats(self.compute_dtype)
        sy = {r: RepresentationStats(self.compute_dtype) for r in ys}
        cross = {r: CrossStats() for r in ys}
        finite = {"model": True, **{r: True for r in ys}}
        for sel in _chunks(idx, n, self.batch_size):
            xb = np.asarray(x[sel])
            finite["model"] = finite["model"] and bool(np.isfinite(xb).all())
            if not finite["model"]:
                break
            xs, nx = sx.prepare(xb)
            sx.update_prepared(xs, nx)
            for r, y in ys.items():
                yb = np.asarray(y[sel])
                finite[r] = finite[r] and bool(np.isfinite(yb).all())
                if finite[r]:
                    ysb, ny = sy[r].prepare(yb)
                    sy[r].update_prepared(ysb, ny)
                    cross[r].update_prepared(xs, nx, ysb, ny)
        rows, suffix = [], "_pooled" if _STAGE.fullmatch(layer) else ""
        for r in ys:
            ok = finite["model"] and finite[r]
            for variant in self.variants:
                value = cka_from_stats(sx, sy[r], cross[r], debiased=variant == "debiased") if ok else float("nan")
                rows.append(self.row(variant=variant + suffix, evalset=evalset, split=split, layer=layer,
                                     reference=r, value=value, n=n, dim=int(np.shape(x)[1])))
        return rows
