"""k-NN transfer accuracy on frozen features (cosine similarity, uniform majority vote)."""
from __future__ import annotations

import numpy as np

from unlearnbench.metrics.base import (PRE_LOGITS, EvalContext, Metric, all_finite, check_choice, check_float,
                                       check_int, register_metric)
from unlearnbench.metrics.uncertainty import bootstrap_se

__all__ = ["KNN", "knn_predict", "bank_query_split"]

_FEATURES = {"prelogit": PRE_LOGITS, "logit": ""}


def knn_predict(bank: np.ndarray, bank_labels: np.ndarray, queries: np.ndarray, *, k: int = 5,
                chunk_size: int = 2048) -> np.ndarray:
    """Predict query labels by a uniform majority vote of the ``k`` most cosine-similar bank rows.

    Rows are L2-normalised (a zero row stays zero, i.e. similarity 0 to everything), similarities are
    computed as float32 matmuls of ``chunk_size`` queries at a time, the k neighbours taken with
    ``np.argpartition`` (numpy only: evaluation never imports torch), and votes counted per class; a tie
    between classes goes to the smallest label. This is
    the decision rule of ``sklearn.neighbors.KNeighborsClassifier(n_neighbors=k, metric="cosine",
    weights="uniform")`` (whose ``predict`` takes the first maximum over sorted ``classes_``).
    """
    k = check_int("k", k, 1)
    check_int("chunk_size", chunk_size, 1)
    bank_labels = np.asarray(bank_labels).reshape(-1)
    if len(bank_labels) != np.shape(bank)[0]:
        raise ValueError(f"bank has {np.shape(bank)[0]} rows but {len(bank_labels)} labels")
    if k > len(bank_labels):
        raise ValueError(f"k={k} is larger than the bank size {len(bank_labels)}")
    if np.shape(queries)[1] != np.shape(bank)[1]:
        raise ValueError(f"queries have dimension {np.shape(queries)[1]}, bank {np.shape(bank)[1]}")
    classes, y = np.unique(bank_labels, return_inverse=True)
    b = _normalise(np.asarray(bank, dtype=np.float32))
    out = np.empty(np.shape(queries)[0], dtype=np.int64)
    for i in range(0, len(out), chunk_size):
        sim = _normalise(np.asarray(queries[i:i + chunk_size], dtype=np.float32)) @ b.T
        nbr = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        votes = np.zeros((len(sim), len(classes)), dtype=np.int32)
        np.add.at(votes, (np.arange(len(sim))[:, None], y[nbr]), 1)
        out[i:i + len(sim)] = votes.argmax(axis=1)  # first maximum = smallest label
    return classes[out]


def _normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (``torch.nn.functional.normalize``: a zero row stays zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def bank_query_split(labels: np.ndarray, *, query_fraction: float, seed: int,
                     stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Seeded bank/query split of ``range(len(labels))`` (sorted index arrays).

    ``stratify=True`` uses ``sklearn.model_selection.train_test_split(..., stratify=labels)`` when every
    class has at least 2 samples and both parts can hold every class; otherwise (and with
    ``stratify=False``) it is a plain seeded random split. Same labels + seed -> same split for every model.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    n = len(labels)
    n_query = int(np.ceil(query_fraction * n))
    if n_query < 1 or n - n_query < 1:
        raise ValueError(f"cannot split {n} samples into a non-empty bank and query set "
                         f"(query_fraction={query_fraction})")
    _, counts = np.unique(labels, return_counts=True)
    strat = labels if (stratify and counts.min() >= 2 and min(n_query, n - n_query) >= len(counts)) else None
    bank, query = train_test_split(np.arange(n), test_size=n_query, random_state=seed, stratify=strat)
    return np.sort(bank), np.sort(query)


@register_metric("knn")
class KNN(Metric):
    """k-NN transfer accuracy: do frozen features still carry class information?

    For each downstream evalset, a seeded 80/20 bank/query split (``query_fraction``; stratified by label
    where possible, seed ``split_seed`` — a protocol constant, so every model and run seed is scored on the
    identical split) and the accuracy of :func:`knn_predict` on the queries (split ``"all"``): the k-NN
    transfer evaluation of Kim et al. 2025 ("Are We Truly Forgetting?", arXiv 2503.06991), whose reference
    code uses ``KNeighborsClassifier(n_neighbors=5, metric="cosine")`` on a plain random 80/20 split
    (``stratify=False`` gives a plain seeded split; stratified is the default because it removes the
    class-mix noise between bank and queries). With class forgetting it also scores the
    forget-class test samples as queries against a bank of the upstream training set (retain-train +
    forget-train, seeded subsample of at most ``bank_size``), split ``"forget_test_vs_bank"``: high
    accuracy means the representation still clusters the forgotten classes.

    Every row carries the bootstrap standard error over its queries (bank fixed; ``se``), ``n`` queries and
    the feature ``dim``. ``feature="prelogit"`` uses the ``pre_logits`` layer (row layer ``"pre_logits"``); ``feature="logit"``
    uses the logits (layer ``""``) and is only computed when configured. The row variant names the feature.

    Parameters: ``k`` >= 1; ``feature`` in ("prelogit", "logit"); ``query_fraction`` in (0, 1); ``split_seed``
    >= 0; ``stratify`` bool; ``bank_size`` >= 1; ``chunk_size`` >= 1 (queries per matmul). ``k`` larger than
    a bank raises ValueError naming both.
    """

    def __init__(self, *, k: int = 5, feature: str = "prelogit", query_fraction: float = 0.2,
                 split_seed: int = 0, stratify: bool = True, bank_size: int = 10000,
                 chunk_size: int = 2048) -> None:
        self.k = check_int("k", k, 1)
        self.feature = check_choice("feature", feature, tuple(_FEATURES))
        self.query_fraction = check_float("query_fraction", query_fraction, 0.0, 1.0, lo_open=True, hi_open=True)
        self.split_seed = check_int("split_seed", split_seed, 0)
        if not isinstance(stratify, bool):
            raise ValueError(f"stratify must be True or False, got {stratify!r}")
        self.stratify = stratify
        self.bank_size = check_int("bank_size", bank_size, 1)
        self.chunk_size = check_int("chunk_size", chunk_size, 1)

    def _feats(self, fs) -> np.ndarray:
        return fs.logits if self.feature == "logit" else fs.feature(PRE_LOGITS)

    def _accuracy(self, bank, bank_labels, queries, query_labels) -> dict:
        """value, bootstrap SE over the queries (bank fixed), n queries and feature dim as row fields."""
        n, dim = len(query_labels), int(np.shape(queries)[1])
        if not all_finite(bank, queries):
            return {"value": float("nan"), "n": n, "dim": dim}
        correct = (knn_predict(bank, bank_labels, queries, k=self.k, chunk_size=self.chunk_size)
                   == query_labels).astype(np.float64)
        return {"value": float(correct.mean()), "se": bootstrap_se(correct), "n": n, "dim": dim}

    def evaluate(self, ctx: EvalContext) -> list[dict]:
        rows = []
        layer = _FEATURES[self.feature]
        for name in ctx.downstream:
            fs = ctx.get("model", name)
            if fs is None:
                continue
            bank, query = bank_query_split(fs.labels, query_fraction=self.query_fraction, seed=self.split_seed,
                                           stratify=self.stratify)
            x = self._feats(fs)
            acc = self._accuracy(x[bank], fs.labels[bank], x[query], fs.labels[query])
            rows.append(self.row(variant=self.feature, evalset=name, split="all", layer=layer, **acc))
        train, test = ctx.get("model", "train"), ctx.get("model", "test")
        if len(ctx.forget_test_idx) and train is not None and test is not None:
            bank = np.union1d(ctx.retain_train_idx, ctx.forget_train_idx)
            if len(bank) > self.bank_size:
                rng = np.random.default_rng(self.split_seed)
                bank = np.sort(rng.choice(bank, size=self.bank_size, replace=False))
            xb, xq = self._feats(train), self._feats(test)
            q = ctx.forget_test_idx
            acc = self._accuracy(xb[bank], train.labels[bank], xq[q], test.labels[q])
            rows.append(self.row(variant=self.feature, evalset="test", split="forget_test_vs_bank", layer=layer,
                                 **acc))
        return rows
