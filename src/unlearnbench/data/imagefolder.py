"""ImageFolder datasets: ``root/<class>/<image>`` (ImageNet-1k, CUB-200-2011 ``images/``, Office-Home domains, …).

Layouts:

* one ``root`` with class folders, split into train/test per class with a seeded ``test_fraction``
  (CUB-200-2011: ``CUB_200_2011/images``; Office-Home: ``OfficeHomeDataset/Art``);
* separate ``train`` and ``test`` roots with the same class folders (ImageNet: ``train/`` and the
  class-foldered ``val/``).

Class folders are sorted by name (for ImageNet, the sorted WordNet ids: the standard label order of
pretrained ImageNet weights); ``classes`` keeps a subset (list of folder names, or N = the first N);
``max_per_class`` keeps a seeded subset of at most N images per class in each split. Images are matched by
extension (case-insensitive; ``extensions`` overrides :data:`IMAGE_EXTENSIONS`) and sorted by name.
The prepared dataset is file-backed (:class:`~unlearnbench.data.files.FileDataset`), decoded at
``image_size``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from unlearnbench.data.arrays import DatasetError
from unlearnbench.data.files import (IMAGE_EXTENSIONS, FileDataset, cap_per_class, common_root, relative_to_root,
                                     select_classes)
from unlearnbench.data.registry import register_dataset

LAYOUT = "root/<class>/<image>.{jpg,jpeg,png,…} (one folder per class)"


def _exts(extensions: Sequence[str] | None) -> tuple[str, ...]:
    exts = extensions or IMAGE_EXTENSIONS
    return tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in exts)


def class_folders(root: str | Path, where: str = "") -> list[str]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{where}image folder {root} does not exist; expected {LAYOUT}")
    names = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not names:
        raise DatasetError(f"{where}image folder {root} has no class folders; expected {LAYOUT}")
    return names


def images_in(folder: Path, exts: tuple[str, ...], first_only: bool = False) -> list[str]:
    out = []
    for e in os.scandir(folder):
        if e.is_file() and os.path.splitext(e.name)[1].lower() in exts:
            out.append(e.path)
            if first_only:
                break
    return sorted(out)


def _resolve(root: str | None, train: str | None, test: str | None, where: str) -> tuple[str, str | None]:
    if train is None and root is None:
        raise DatasetError(f"{where}give `root` (one folder, split by test_fraction) or `train` (+ `test`) folders")
    if train is not None and root is not None:
        raise DatasetError(f"{where}give either `root` or `train`/`test`, not both")
    return (train or root), test


def _check(root: str | None, train: str | None, test: str | None, classes: Any, extensions,
           test_fraction: float, where: str = "") -> int:
    """Cheap layout check (class folders exist and each holds at least one image); the class count."""
    train_root, test_root = _resolve(root, train, test, where)
    exts = _exts(extensions)
    if test_root is None and not 0 < float(test_fraction) < 1:
        raise DatasetError(f"{where}test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    names = class_folders(train_root, where)
    chosen = [names[i] for i in select_classes(names, classes, where)]
    roots = [train_root] + ([test_root] if test_root else [])
    for r in roots:
        present = set(class_folders(r, where)) if r != train_root else set(names)
        absent = [c for c in chosen if c not in present]
        if absent:
            raise DatasetError(f"{where}image folder {r} lacks class folders {absent[:5]}; expected the same classes "
                               f"as {train_root} ({LAYOUT})")
        for c in chosen:
            if not images_in(Path(r) / c, exts, first_only=True):
                raise DatasetError(f"{where}class folder {Path(r) / c} is empty: expected images with extensions "
                                   f"{', '.join(exts)} ({LAYOUT})")
    return len(chosen)


def scan(root: str | Path, names: list[str], exts: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    files, labels = [], []
    for label, name in enumerate(names):
        found = images_in(Path(root) / name, exts)
        if not found:
            raise DatasetError(f"class folder {Path(root) / name} is empty: expected images ({LAYOUT})")
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, dtype=np.int64)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split: round(test_fraction·n) test images per class (≥ 1 when n ≥ 2, < n)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = _n_test(len(idx), test_fraction)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _num_classes(spec: dict[str, Any]) -> int:
    return _check(spec.get("root"), spec.get("train"), spec.get("test"), spec.get("classes"),
                  spec.get("extensions"), spec.get("test_fraction", 0.2))


def count_images(folder: Path, exts: tuple[str, ...]) -> int:
    """Images in one class folder (a directory listing; nothing is opened)."""
    return sum(1 for e in os.scandir(folder) if e.is_file() and os.path.splitext(e.name)[1].lower() in exts)


def _train_counts(spec: dict[str, Any]) -> np.ndarray:
    """Training images per selected class: a listing of the class folders, then the seeded ``test_fraction``
    split (same per-class arithmetic as :func:`stratified_split`) and ``max_per_class``."""
    train_root, test_root = _resolve(spec.get("root"), spec.get("train"), spec.get("test"), "")
    exts = _exts(spec.get("extensions"))
    names = class_folders(train_root)
    chosen = [names[i] for i in select_classes(names, spec.get("classes"), "")]
    counts = np.asarray([count_images(Path(train_root) / c, exts) for c in chosen], dtype=np.int64)
    if test_root is None:
        counts = counts - np.asarray([_n_test(int(n), float(spec.get("test_fraction", 0.2))) for n in counts])
    if spec.get("max_per_class") is not None:
        counts = np.minimum(counts, int(spec["max_per_class"]))
    return counts


def _n_test(n: int, test_fraction: float) -> int:
    return min(max(int(round(test_fraction * n)), 1 if n >= 2 else 0), n - 1)


def _names(spec: dict[str, Any]) -> list[str]:
    """The selected class folders in label order (a listing of the training folder)."""
    train_root, _ = _resolve(spec.get("root"), spec.get("train"), spec.get("test"), "")
    names = class_folders(train_root)
    return [names[i] for i in select_classes(names, spec.get("classes"), "")]


@register_dataset("imagefolder", num_classes=_num_classes, train_counts=_train_counts, class_names=_names)
def imagefolder(*, root: str | None = None, train: str | None = None, test: str | None = None,
                test_fraction: float = 0.2, split_seed: int = 0, classes: Any = None,
                max_per_class: int | None = None, image_size: int = 224,
                extensions: Sequence[str] | None = None) -> FileDataset:
    """Images in class folders; see the module docstring."""
    train_root, test_root = _resolve(root, train, test, "")
    exts = _exts(extensions)
    _check(root, train, test, classes, extensions, test_fraction)
    all_names = class_folders(train_root)
    names = [all_names[i] for i in select_classes(all_names, classes, "")]
    files, labels = scan(train_root, names, exts)
    if test_root is None:
        tr, te = stratified_split(labels, float(test_fraction), split_seed)
        train_files, y_train = [files[i] for i in tr], labels[tr]
        test_files, y_test = [files[i] for i in te], labels[te]
        base = train_root
    else:
        train_files, y_train = files, labels
        test_files, y_test = scan(test_root, names, exts)
        base = common_root(train_root, test_root)
    if max_per_class is not None:
        keep_tr = cap_per_class(y_train, int(max_per_class), split_seed)
        keep_te = cap_per_class(y_test, int(max_per_class), split_seed + 1)
        train_files, y_train = [train_files[i] for i in keep_tr], y_train[keep_tr]
        test_files, y_test = [test_files[i] for i in keep_te], y_test[keep_te]
    return FileDataset(root=os.path.abspath(base), paths_train=relative_to_root(train_files, base), y_train=y_train,
                       paths_test=relative_to_root(test_files, base), y_test=y_test, class_names=names,
                       image_size=int(image_size))
