"""Linear CKA of flattened activation maps in Gram form, on a seeded per-class subset of an eval set.

Kornblith et al. 2019 ("Similarity of Neural Network Representations Revisited", ICML 2019, §3 and §6.1)
compare convolutional layers on their *full* activation maps, each example's C×H×W output flattened into one
vector, and compute linear CKA from the n×n Gram matrices K = XXᵀ, L = YYᵀ when the dimension far exceeds
the number of examples. A ResNet-50 ``layer1`` map at 224 px is 256·56·56 = 802 816 floats per image, so
neither the maps of a whole eval set nor a d×d feature-space statistic can be kept. Instead the extraction
pass (:mod:`unlearnbench.features`) keeps, for each stage, the flattened maps of a **seeded per-class subset**
of the eval set (:func:`subset_order`; identical for every model of a run: it depends only on the labels and
the seed) and stores their column-centred linear Gram. CKA between two models on a split is then the CKA of
their Grams restricted to the subset rows that fall in that split (:meth:`LayerGram.matrix`).

Estimators, both O(n²) on the Grams (:func:`cka_from_grams`):

* biased: HSIC(K, L) = tr(KHLH)/(n−1)², H = I − 11ᵀ/n, so CKA = ⟨HKH, HLH⟩_F / (‖HKH‖_F ‖HLH‖_F);
* debiased: the unbiased HSIC_1 of Song et al. 2012 (JMLR 13, Thm. 2) as used by Nguyen, Raghu, Kornblith
  2021 (ICLR), with K̃, L̃ the Grams with zeroed diagonals:
  HSIC_1 = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)).

Both are exactly invariant to a common translation of the rows, so a Gram of maps centred by the subset mean
gives the same CKA on every split of the subset as the Gram of the raw maps, without the cancellation of
uncentred ReLU maps. The Gram is computed in float64 and stored as the packed upper triangle in float32
(rounding changes CKA by <= 1e-8 on the default experiment's maps; benchmarks/bench_layer_cka.py).

Size of the subset: ``per_class`` examples per class, lowered for huge maps so that neither the maps held in
memory (m·d·4 bytes) nor the stored triangle (m(m+1)/2·4 bytes) exceeds ``max_bytes`` (:func:`capped_rows`).
The order of :func:`subset_order` is round-robin over classes, so a lowered subset is a prefix of the full one
and stays class-balanced. Sampling error at the default 16 per class, measured against the flattened-map CKA
of the whole split on trained default-experiment models (docs/metrics.md): on a 2-class forget split (32
subset examples) mean |error| <= 0.031 debiased and <= 0.058 biased (a positive bias of the biased estimator
at small n); on retain splits (224 examples) <= 0.009 and <= 0.022.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GramCollector", "LayerGram", "aligned_rows", "capped_rows", "cka_from_grams", "cka_ratio", "packed_size",
           "subset_order"]

#: bytes per value of the held maps and of the stored triangle (float32)
ITEMSIZE = 4
#: the seed stream of the Gram subset, distinct from the per-class cap of the eval set (data.files.cap_per_class)
_STREAM = 0x6772616D  # "gram"
#: fewest subset rows for which a Gram is stored (the debiased estimator needs n >= 4)
MIN_ROWS = 4


def cka_from_grams(k: np.ndarray, l_: np.ndarray, *, debiased: bool = False) -> float:
    """Linear CKA from the n×n Gram matrices K = XXᵀ, L = YYᵀ of the same n examples (module docstring).

    Equals :func:`unlearnbench.metrics.cka.linear_cka` of X, Y (float64). Needs n >= 2 (biased) or n >= 4
    (debiased); a representation without variance gives 0, non-finite Grams give NaN.
    """
    k, l_ = np.asarray(k, dtype=np.float64), np.asarray(l_, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape != l_.shape:
        raise ValueError(f"Gram matrices must be square and of the same shape, got {k.shape} and {l_.shape}")
    n = k.shape[0]
    if n < (4 if debiased else 2):
        raise ValueError(f"{'debiased ' if debiased else ''}linear CKA needs n >= {4 if debiased else 2} "
                         f"samples, got {n}")
    if not (np.isfinite(k).all() and np.isfinite(l_).all()):
        return float("nan")
    if not debiased:
        kc, lc = _centre(k), _centre(l_)
        return cka_ratio(float(np.sum(kc * lc)), float(np.sum(kc * kc)), float(np.sum(lc * lc)))
    kt, lt = _zero_diag(k), _zero_diag(l_)
    return cka_ratio(_hsic1(kt, lt), _hsic1(kt, kt), _hsic1(lt, lt))


def cka_ratio(num: float, den_x: float, den_y: float) -> float:
    """num / sqrt(den_x · den_y), the CKA normalisation of a cross HSIC by the two self HSICs."""
    den = den_x * den_y
    if not np.isfinite(num) or not np.isfinite(den):
        return float("nan")
    if den_x <= 0 or den_y <= 0:  # a representation without variance (or tiny-n negative HSIC_1 estimate)
        return 0.0
    return float(num / np.sqrt(den))


def _centre(k: np.ndarray) -> np.ndarray:
    """HKH: subtract row and column means, add back the grand mean."""
    r = k.mean(axis=0)
    return k - r[None, :] - r[:, None] + r.mean()


def _zero_diag(k: np.ndarray) -> np.ndarray:
    k = k.copy()
    np.fill_diagonal(k, 0.0)
    return k


def _hsic1(kt: np.ndarray, lt: np.ndarray) -> float:
    """Unbiased HSIC_1 (Song et al. 2012) of Grams with zeroed diagonals (symmetric)."""
    n = kt.shape[0]
    k1, l1 = kt.sum(axis=1), lt.sum(axis=1)
    return float((np.sum(kt * lt) + k1.sum() * l1.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (k1 @ l1))
                 / (n * (n - 3)))


def subset_order(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Positions of the Gram subset in ``labels``' eval set, in round-robin class order.

    Each class's positions are permuted with a generator seeded by ``(seed, "gram")``; the subset takes the
    first ``per_class`` of each class (all of a smaller class), ordered by rank within the class, then by a
    seeded class order. Any prefix of the result is therefore as class-balanced as possible, which is what a
    memory cap (:func:`capped_rows`) keeps. Deterministic: same labels and seed give the same positions.
    """
    labels = np.asarray(labels).reshape(-1)
    if per_class <= 0 or labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng([int(seed), _STREAM])
    classes = np.unique(labels)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    class_rank = np.empty(len(classes), dtype=np.int64)
    class_rank[rng.permutation(len(classes))] = np.arange(len(classes))
    pos = np.concatenate(picked).astype(np.int64)
    rank = np.concatenate([np.arange(len(p)) for p in picked])
    cls = np.concatenate([np.full(len(p), class_rank[i]) for i, p in enumerate(picked)])
    return pos[np.lexsort((cls, rank))]


def capped_rows(m: int, dim: int, max_bytes: int) -> int:
    """Largest m' <= m with both the held maps (m'·dim) and the packed Gram (m'(m'+1)/2) within ``max_bytes``."""
    by_maps = max_bytes // (ITEMSIZE * max(int(dim), 1))
    by_gram = int((np.sqrt(8 * (max_bytes // ITEMSIZE) + 1) - 1) // 2)
    while by_gram * (by_gram + 1) // 2 * ITEMSIZE > max_bytes:  # guard the float square root
        by_gram -= 1
    return int(max(0, min(m, by_maps, by_gram)))


def packed_size(m: int) -> int:
    return m * (m + 1) // 2


def _packed_positions(rows: np.ndarray, m: int) -> np.ndarray:
    """Indices into the packed upper triangle (row-major, np.triu_indices order) of the rows×rows block."""
    a = np.minimum(rows[:, None], rows[None, :])
    b = np.maximum(rows[:, None], rows[None, :])
    return a * m - a * (a - 1) // 2 + (b - a)


@dataclass
class LayerGram:
    """The stored Gram of one layer's flattened map: ``index`` (m,) positions of the subset rows in the eval
    set's features, ``packed`` the upper triangle (m(m+1)/2,) of the centred Gram, ``dim`` the flattened
    map size (C·H·W, or tokens·width), ``shape`` the per-example map shape."""

    index: np.ndarray
    packed: np.ndarray
    dim: int
    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.index = np.asarray(self.index, dtype=np.int64).reshape(-1)
        self.packed = np.asarray(self.packed).reshape(-1)
        if self.packed.size != packed_size(self.index.size):
            raise ValueError(f"a Gram of {self.index.size} rows has {packed_size(self.index.size)} packed "
                             f"entries, got {self.packed.size}")

    @property
    def n(self) -> int:
        return int(self.index.size)

    def matrix(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The (k, k) float64 Gram of subset rows ``rows`` (positions within the subset; all when None)."""
        rows = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        return self.packed[_packed_positions(rows, self.n)].astype(np.float64)



def aligned_rows(a: LayerGram, b: LayerGram, positions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``a`` and of ``b`` (same order: ascending eval-set position) for the examples both subsets hold
    whose eval-set position is in ``positions`` (a split; every shared example when None)."""
    common = np.intersect1d(a.index, b.index)
    if positions is not None:
        common = common[np.isin(common, np.asarray(positions, dtype=np.int64))]
    return _rows_of(a.index, common), _rows_of(b.index, common)


def _rows_of(index: np.ndarray, positions: np.ndarray) -> np.ndarray:
    order = np.argsort(index, kind="stable")
    return order[np.searchsorted(index[order], positions)]


class GramCollector:
    """Collects the flattened maps of one layer's subset rows during the extraction pass, then their Gram.

    ``order`` is :func:`subset_order`'s output; the first batch fixes the map shape, and with it the number of
    rows kept, ``m = capped_rows(len(order), dim, max_bytes)``. ``add(start, maps)`` takes a batch of
    flattened maps (float32 array, or a callable ``rows -> array`` that computes only the selected rows)
    whose first row is eval-set position ``start``. Memory: m·dim float32.
    """

    def __init__(self, order: np.ndarray, n_eval: int, max_bytes: int) -> None:
        self.order = np.asarray(order, dtype=np.int64)
        self.max_bytes = int(max_bytes)
        self.slot = np.full(int(n_eval), -1, dtype=np.int64)
        self.slot[self.order] = np.arange(self.order.size)
        self.m = 0
        self.shape: tuple[int, ...] | None = None
        self.x: np.ndarray | None = None
        self.filled = 0

    def start(self, shape: tuple[int, ...]) -> None:
        """Fix the per-example map shape (first batch) and allocate the held maps."""
        self.shape = tuple(int(s) for s in shape)
        dim = int(np.prod(self.shape))
        self.m = capped_rows(self.order.size, dim, self.max_bytes)
        if self.m < MIN_ROWS:
            self.m = 0
        self.x = np.empty((self.m, dim), dtype=np.float32)

    def wanted(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``(batch rows, slots)`` of the batch ``[start, start + count)`` that belong to the kept subset."""
        slots = self.slot[start:start + count]
        rows = np.flatnonzero((slots >= 0) & (slots < self.m))
        return rows, slots[rows]

    def put(self, slots: np.ndarray, maps: np.ndarray) -> None:
        self.x[slots] = maps.reshape(len(slots), -1)
        self.filled += len(slots)

    @property
    def held_bytes(self) -> int:
        return 0 if self.x is None else int(self.x.nbytes)

    def packed_gram(self, block_bytes: int = 1 << 26) -> np.ndarray:
        """Packed upper triangle (float32) of Xc Xcᵀ, Xc the maps centred by their mean; float64 arithmetic,
        in column blocks of at most ``block_bytes`` of float64 temporaries."""
        if self.filled != self.m:
            raise RuntimeError(f"Gram subset incomplete: {self.filled} of {self.m} rows seen")
        m, dim = self.x.shape
        k = np.zeros((m, m))
        if m:
            mean = self.x.mean(axis=0, dtype=np.float64)
            step = max(1, block_bytes // (8 * m))
            for j in range(0, dim, step):
                blk = self.x[:, j:j + step].astype(np.float64) - mean[j:j + step]
                k += blk @ blk.T
        return k[np.triu_indices(m)].astype(np.float32)

    def layer_gram(self) -> LayerGram:
        return LayerGram(index=self.order[:self.m], packed=self.packed_gram(), dim=int(np.prod(self.shape)),
                         shape=self.shape)
