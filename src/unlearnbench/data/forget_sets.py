"""Forget sets: which upstream training data a scenario asks the model to forget.

Scenario kinds (class forgetting: ``random``, ``top``, ``classes``; sample forgetting: ``samples``,
``indices`` — :func:`forget_mode`), each a module of :mod:`unlearnbench.scenario_kinds` (its keys, checks and
how it draws the set); this module holds what they share:

- ``random``: ``k`` classes drawn uniformly without replacement (``numpy.random.default_rng(seed)``).
- ``top``: the ``k`` upstream classes most similar to a named downstream dataset, ranked with the
  **original** model. Similarity = cosine similarity between the class-mean penultimate (pre-logit)
  features of each upstream class (on the upstream training set) and of each downstream class. Selection
  is round-robin: in round r = 0, 1, …, each downstream class in label order contributes its r-th most
  similar upstream class that is not selected yet, until ``k`` classes are chosen. The full similarity
  ranking is written beside the forget set (CSV) so the choice can be audited.
- ``classes``: the named classes, each entry a class name (the upstream dataset's ``class_names``, as in
  its prepared ``.json``) or a class index (:func:`resolve_classes`).
- ``samples``: ``n`` training samples — or ``round(fraction × training samples)`` — drawn uniformly without
  replacement from the training set the models train on (after the tuning validation split is carved out);
  no forget classes.
- ``indices``: the training samples listed in a file (:func:`read_index_file`: plain text, one integer per
  line; ``.npy``; or a ``.json`` list). Indices refer to the upstream training set as the dataset adapter
  builds it — the published numbering, *before* the tuning validation split is carved out. Prepared data
  records where each kept training image came from (``train_index`` in the ``.npz``), so listed samples
  are mapped onto the training set the models train on; listed samples that the carve moved into the
  validation split are in no model's training data and are left out (counted and listed in the forget
  set's ``details``).

The forget set is a JSON file with a content hash (``forget_hash``) over the kind, classes and sample
indices: result rows cite it. Retain = every other training sample; on the test split, forget = test
samples of the forget classes (empty for sample forgetting).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from unlearnbench.atomic import write_json, write_text
from unlearnbench.provenance import config_hash

def forget_mode(kind: str) -> str:
    """``class`` or ``sample``: the forgetting a scenario kind asks for (its registered ``mode``,
    :mod:`unlearnbench.scenario_kinds`) — the one mapping read by method support, attacks and verdicts."""
    from unlearnbench.scenario_kinds import SCENARIO_KINDS

    return SCENARIO_KINDS[kind].mode


class ForgetSetError(ValueError):
    """A scenario's forget set cannot be built; the message names the scenario key and the problem."""


@dataclass(frozen=True)
class ForgetSet:
    scenario: str
    kind: str
    forget_classes: tuple[int, ...] | None  # None for sample forgetting
    forget_indices: tuple[int, ...] | None  # training indices, for sample forgetting
    forget_hash: str
    #: how the set was drawn where the spec alone does not say (e.g. samples left out of an `indices` list)
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

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


def _shown(names: Sequence[str], limit: int = 20) -> str:
    return ", ".join(repr(n) for n in names[:limit]) + (", …" if len(names) > limit else "")


def resolve_classes(entries: Sequence[Any], class_names: Sequence[str] | None, num_classes: int,
                    where: str) -> tuple[int, ...]:
    """Sorted class indices of a ``classes`` scenario: each entry a class name (a string, looked up in
    ``class_names``) or an index (an integer in [0, num_classes)). With ``class_names`` None (an adapter that
    cannot list them cheaply) only indices are checked and names pass unresolved (left out of the result);
    the forget-set job resolves them. ForgetSetError names ``where``, the bad entries and the valid names."""
    if not entries:
        raise ForgetSetError(f"{where}: expected a non-empty list of class names or indices")
    index = {str(n): i for i, n in enumerate(class_names)} if class_names is not None else None
    out, bad = [], []
    for e in entries:
        if isinstance(e, (int, np.integer)) and not isinstance(e, bool) and 0 <= int(e) < num_classes:
            out.append(int(e))
        elif isinstance(e, str) and index is not None and e in index:
            out.append(index[e])
        elif not (isinstance(e, str) and index is None):  # a name is resolved later when names are unknown here
            bad.append(e)
    if bad:
        valid = (f"valid: indices 0…{num_classes - 1} or the class names ({len(class_names)}): "
                 f"{_shown(list(class_names))}" if class_names is not None else
                 f"valid indices: 0…{num_classes - 1} (class names are checked when the forget set is built)")
        raise ForgetSetError(f"{where}: unknown class(es) {bad}; {valid}")
    dupes = sorted({c for c in out if out.count(c) > 1})
    if dupes:
        shown = [class_names[c] for c in dupes] if class_names is not None else dupes
        raise ForgetSetError(f"{where}: class(es) {shown} listed more than once (by name and/or index)")
    if len(out) >= num_classes:
        raise ForgetSetError(f"{where}: all {num_classes} classes listed; something must be retained")
    return tuple(sorted(out))


def read_index_file(path: str | Path, where: str) -> np.ndarray:
    """The training-sample indices listed in a forget-list file, as given (int64, 1-D).

    Formats by suffix: ``.npy`` (a 1-D integer array, read without unpickling), ``.json`` (a list of
    integers), anything else plain text (one integer per line; blank lines and ``#`` comments ignored).
    Checks: the file exists and parses, the list is non-empty, every index is a non-negative integer and
    appears once. ForgetSetError names ``where`` and the file."""
    path = Path(path)
    head = f"{where}: forget list {path}"
    if not path.is_file():
        raise ForgetSetError(f"{head} does not exist (expected plain text, one index per line; .npy; or .json)")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if not isinstance(arr, np.ndarray) or arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer)
                                                                         or arr.size == 0):
                what = f"{arr.dtype} of shape {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
                raise ForgetSetError(f"{head}: expected a 1-D integer array, got {what}")
            values = arr.astype(np.int64)
        elif suffix == ".json":
            data = json.loads(path.read_text())
            if not isinstance(data, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in data):
                raise ForgetSetError(f"{head}: expected a JSON list of integers")
            values = np.asarray(data, dtype=np.int64)
        else:
            values = []
            for no, line in enumerate(path.read_text().splitlines(), 1):
                text = line.split("#", 1)[0].strip()
                if not text:
                    continue
                try:
                    values.append(int(text))
                except ValueError:
                    raise ForgetSetError(f"{head}, line {no}: expected one integer per line, got {text!r}") from None
            values = np.asarray(values, dtype=np.int64)
    except ForgetSetError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ForgetSetError(f"{head} cannot be read as {suffix or 'text'}: {exc}") from None
    if values.size == 0:
        raise ForgetSetError(f"{head} lists no indices")
    if values.min() < 0:
        raise ForgetSetError(f"{head}: negative indices {sorted(set(values[values < 0].tolist()))[:5]}; "
                             "expected positions in the upstream training set (0-based)")
    uniq, counts = np.unique(values, return_counts=True)
    if (counts > 1).any():
        raise ForgetSetError(f"{head}: indices listed more than once: {uniq[counts > 1][:5].tolist()}")
    return values


def check_index_range(values: np.ndarray, size: int, where: str, path: str | Path, how: str = "") -> None:
    """Every listed index is a position in a training set of ``size`` images, and something is retained."""
    big = values[values >= size]
    if big.size:
        raise ForgetSetError(f"{where}: forget list {path}: indices {np.sort(big)[:5].tolist()} are out of range; "
                             f"the upstream training set has {size} images{how} (valid: 0…{size - 1})")
    if len(values) >= size:
        raise ForgetSetError(f"{where}: forget list {path} lists all {size} training images; something must be "
                             "retained")


def sample_count(scenario: dict[str, Any], available: int) -> int:
    """Training samples a ``samples`` scenario draws: ``n``, or ``round(fraction × available)``."""
    if "n" in scenario:
        return int(scenario["n"])
    return int(round(float(scenario["fraction"]) * available))


def make_forget_set(scenario: dict[str, Any], train_labels: np.ndarray, num_classes: int,
                    ranking: list[int] | None = None, *, class_names: Sequence[str] | None = None,
                    train_index: np.ndarray | None = None, source_size: int | None = None) -> ForgetSet:
    """Build the forget set of a validated scenario; ``top`` needs the ``ranking`` from :func:`rank_top`,
    ``classes`` the dataset's ``class_names`` to resolve names. ``indices``: ``train_index`` (position of
    each training image in the training set before the tuning carve-out; None = the identity) and
    ``source_size`` (that set's size) map the listed indices (see the module docstring)."""
    from unlearnbench.scenario_kinds import ForgetInputs, ScenarioKind

    kind, where = scenario["kind"], f"scenario {scenario['name']!r}"
    inputs = ForgetInputs(np.asarray(train_labels), num_classes, where, np.random.default_rng(scenario.get("seed", 0)),
                          ranking, class_names, train_index, source_size)
    drawn = ScenarioKind.from_spec(scenario, where, validated=True).build(inputs)
    classes, indices, details = drawn.classes, drawn.indices, drawn.details
    digest = config_hash({"kind": kind, "classes": classes, "indices": indices, "n_train": len(train_labels)})
    return ForgetSet(scenario["name"], kind, classes, indices, digest, details)


def listed_indices(scenario: dict[str, Any], n_train: int, train_index: np.ndarray | None,
                    source_size: int | None, where: str) -> tuple[tuple[int, ...], dict[str, Any]]:
    """Positions in the (carved) training set of the samples an ``indices`` file lists, and the details."""
    path = scenario["file"]
    listed = read_index_file(path, where)
    if train_index is None:
        check_index_range(listed, n_train, where, path)
        pos, dropped = np.sort(listed), np.zeros(0, np.int64)
    else:
        train_index = np.asarray(train_index, dtype=np.int64)
        size = int(source_size if source_size is not None else (train_index.max(initial=-1) + 1))
        check_index_range(listed, size, where, path)
        at = np.searchsorted(train_index, listed).clip(max=len(train_index) - 1)
        found = train_index[at] == listed
        pos, dropped = np.sort(at[found]), np.sort(listed[~found])
        if not pos.size:
            raise ForgetSetError(f"{where}: every sample forget list {path} names fell into the tuning validation "
                                 "split, so no model trains on them; nothing is left to forget")
        if pos.size >= n_train:
            raise ForgetSetError(f"{where}: forget list {path} covers the whole training set; something must be "
                                 "retained")
    details = {"file": str(path), "listed": int(listed.size)}
    if dropped.size:
        details["left_out_in_validation"] = dropped.tolist()
    return tuple(int(i) for i in pos), details


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
                      "forget_hash": fs.forget_hash, "details": fs.details})


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
    return ForgetSet(data["scenario"], data["kind"], classes, indices, data["forget_hash"], data.get("details") or {})
