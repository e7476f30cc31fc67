"""Forget sets: which upstream training data a scenario asks the model to forget.

Scenario kinds:
- ``random``: ``k`` classes drawn uniformly without replacement (``numpy.random.default_rng(seed)``).
- ``top``: the ``k`` upstream classes most similar to a named downstream dataset, ranked with the
  **original** model. Similarity = cosine similarity between the class-mean penultimate (pre-logit)
  features of each upstream class (on the upstream training set) and of each downstream class. Selection
  is round-robin: in round r = 0, 1, …, each downstream class in label order contributes its r-th most
  similar upstream class that is not selected yet, until ``k`` classes are chosen. The full similarity
  ranking is written beside the forget set (CSV) so the choice can be audited.
- ``samples``: ``n`` training samples drawn uniformly without replacement (no forget classes).

The forget set is a JSON file with a content hash (``forget_hash``) over the kind, classes and sample
indices: result rows cite it. Retain = every other training sample; on the test split, forget = test
samples of the forget classes (empty for sample forgetting).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.atomic import write_json, write_text
from unlearnbench.provenance import config_hash


@dataclass(frozen=True)
class ForgetSet:
    scenario: str
    kind: str
    forget_classes: tuple[int, ...] | None  # None for sample forgetting
    forget_indices: tuple[int, ...] | None  # training indices, for sample forgetting
    forget_hash: str

    def splits(self, train_labels: np.ndarray, test_labels: np.ndarray) -> dict[str, np.ndarray]:
        """Index arrays ``forget_train, retain_train, forget_test, retain_test``."""
        if self.forget_classes is not None:
            f_train = np.isin(train_labels, self.forget_classes)
            f_test = np.isin(test_labels, self.forget_classes)
        else:
            f_train = np.zeros(len(train_labels), dtype=bool)
            f_train[list(self.forget_indices or ())] = True
            f_test = np.zeros(len(test_labels), dtype=bool)
        return {"forget_train": np.flatnonzero(f_train), "retain_train": np.flatnonzero(~f_train),
                "forget_test": np.flatnonzero(f_test), "retain_test": np.flatnonzero(~f_test)}


def make_forget_set(scenario: dict[str, Any], train_labels: np.ndarray, num_classes: int,
                    ranking: list[int] | None = None) -> ForgetSet:
    """Build the forget set of a validated scenario; ``top`` needs the ``ranking`` from :func:`rank_top`."""
    kind, rng = scenario["kind"], np.random.default_rng(scenario.get("seed", 0))
    classes = indices = None
    if kind == "random":
        classes = tuple(sorted(int(c) for c in rng.choice(num_classes, size=scenario["k"], replace=False)))
    elif kind == "top":
        if ranking is None:
            raise ValueError("a `top` scenario needs the similarity ranking of the original model")
        classes = tuple(sorted(ranking[: scenario["k"]]))
    elif kind == "samples":
        indices = tuple(sorted(int(i) for i in rng.choice(len(train_labels), size=scenario["n"], replace=False)))
    else:
        raise ValueError(f"unknown scenario kind {kind!r}")
    digest = config_hash({"kind": kind, "classes": classes, "indices": indices, "n_train": len(train_labels)})
    return ForgetSet(scenario["name"], kind, classes, indices, digest)


def class_means(features: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class mean feature vectors (float64), one row per class."""
    sums = np.zeros((num_classes, features.shape[1]))
    np.add.at(sums, labels, features.astype(np.float64))
    counts = np.bincount(labels, minlength=num_classes)[:, None]
    return sums / np.maximum(counts, 1)


def rank_top(up_feats: np.ndarray, up_labels: np.ndarray, up_classes: int, down_feats: np.ndarray,
             down_labels: np.ndarray, down_classes: int) -> tuple[list[int], np.ndarray]:
    """Round-robin similarity ranking of upstream classes (see module docstring).

    Returns ``(order, similarity)`` where ``order`` lists every upstream class, most similar first, and
    ``similarity`` is the downstream × upstream cosine-similarity matrix of class means.
    """
    up = class_means(up_feats, up_labels, up_classes)
    down = class_means(down_feats, down_labels, down_classes)
    up /= np.linalg.norm(up, axis=1, keepdims=True).clip(1e-12)
    down /= np.linalg.norm(down, axis=1, keepdims=True).clip(1e-12)
    sim = down @ up.T  # downstream × upstream
    prefs = np.argsort(-sim, axis=1, kind="stable")
    order: list[int] = []
    for r in range(up_classes):
        for j in range(down_classes):
            c = int(prefs[j, r])
            if c not in order:
                order.append(c)
    order += [c for c in range(up_classes) if c not in order]
    return order, sim


def write_forget_set(path: str | Path, fs: ForgetSet, scenario: dict[str, Any], class_names: list[str]) -> None:
    write_json(path, {"scenario": fs.scenario, "kind": fs.kind, "spec": scenario,
                      "forget_classes": list(fs.forget_classes) if fs.forget_classes is not None else None,
                      "forget_class_names": [class_names[c] for c in fs.forget_classes] if fs.forget_classes else None,
                      "forget_indices": list(fs.forget_indices) if fs.forget_indices is not None else None,
                      "forget_hash": fs.forget_hash})


def write_ranking(path: str | Path, order: list[int], sim: np.ndarray, up_names: list[str],
                  down_names: list[str]) -> None:
    """CSV: rank, upstream class, best-matching downstream class, its similarity, every similarity."""
    header = ["rank", "upstream_class", "upstream_name", "best_downstream", "best_similarity"]
    header += [f"sim_{n}" for n in down_names]
    lines = [",".join(header)]
    for rank, c in enumerate(order):
        j = int(np.argmax(sim[:, c]))
        lines.append(",".join([str(rank), str(c), up_names[c], down_names[j], f"{sim[j, c]:.6f}"]
                              + [f"{s:.6f}" for s in sim[:, c]]))
    write_text(path, "\n".join(lines) + "\n")


def read_forget_set(path: str | Path) -> ForgetSet:
    data = json.loads(Path(path).read_text())
    classes = tuple(data["forget_classes"]) if data["forget_classes"] is not None else None
    indices = tuple(data["forget_indices"]) if data["forget_indices"] is not None else None
    return ForgetSet(data["scenario"], data["kind"], classes, indices, data["forget_hash"])
