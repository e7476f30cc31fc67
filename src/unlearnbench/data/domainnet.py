"""DomainNet (Peng et al., ICCV 2019) from its official image-list files.

Layout under ``root`` (the extracted archives + list files of the official release)::

    root/<domain>_train.txt     lines "<domain>/<class>/<file>.jpg <label>"
    root/<domain>_test.txt
    root/<domain>/<class>/<file>.jpg

``lists`` points elsewhere when the list files are not in ``root``. Class names are the ``<class>`` path
components (label order of the lists); ``classes`` keeps a subset (list of names, or N = the first N
labels), relabelled 0…K−1 in label order; ``max_per_class`` keeps a seeded subset of at most N images per
class in each split. The prepared dataset is file-backed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.data.arrays import DatasetError
from unlearnbench.data.files import FileDataset, cap_per_class, select_classes
from unlearnbench.data.registry import register_dataset

LAYOUT = "root/<domain>_{train,test}.txt with lines '<domain>/<class>/<file>.jpg <label>', images under root/"


def read_list(path: Path, *, check_files: Path | None = None, limit: int | None = None
              ) -> tuple[list[str], np.ndarray, dict[int, str]]:
    """``(relative paths, labels, label → class name)`` of one list file (``limit``: first lines only)."""
    if not path.is_file():
        raise DatasetError(f"DomainNet list file {path} does not exist; expected {LAYOUT}")
    paths, labels, names = [], [], {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit() or int(parts[1]) < 0:
                raise DatasetError(f"{path}:{lineno}: expected '<relative/path.jpg> <label>', got {line.strip()!r}")
            rel, label = parts[0], int(parts[1])
            comps = rel.split("/")
            name = comps[-2] if len(comps) >= 2 else f"class_{label}"
            if names.setdefault(label, name) != name:
                raise DatasetError(f"{path}:{lineno}: label {label} is both {names[label]!r} and {name!r}")
            paths.append(rel)
            labels.append(label)
            if limit is not None and len(paths) >= limit:
                break
    if not paths:
        raise DatasetError(f"DomainNet list file {path} is empty; expected {LAYOUT}")
    if check_files is not None:
        for rel in paths if limit is not None else paths[:1]:
            if not (check_files / rel).is_file():
                raise DatasetError(f"{path} lists {rel} but {check_files / rel} does not exist; expected images "
                                   f"under root ({LAYOUT})")
    return paths, np.asarray(labels, dtype=np.int64), names


def _lists(root: str, domain: str, lists: str | None) -> tuple[Path, Path, Path]:
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"DomainNet root {base} does not exist; expected {LAYOUT}")
    folder = Path(lists) if lists else base
    return base, folder / f"{domain}_train.txt", folder / f"{domain}_test.txt"


def _class_names(train_names: dict[int, str], test_names: dict[int, str], where: Path) -> list[str]:
    merged = dict(train_names)
    for k, v in test_names.items():
        if merged.setdefault(k, v) != v:
            raise DatasetError(f"{where}: label {k} names {merged[k]!r} in train and {v!r} in test")
    n = max(merged) + 1
    return [merged.get(i, f"class_{i}") for i in range(n)]


def _num_classes(spec: dict[str, Any]) -> int:
    base, tr, te = _lists(spec["root"], spec["domain"], spec.get("lists"))
    _, _, n_tr = read_list(tr, check_files=base, limit=None)
    _, _, n_te = read_list(te, check_files=base, limit=None)
    names = _class_names(n_tr, n_te, tr)
    return len(select_classes(names, spec.get("classes"), ""))


def _train_counts(spec: dict[str, Any]) -> np.ndarray:
    """Training images per selected class, from the train list file (after ``max_per_class``)."""
    base, tr, te = _lists(spec["root"], spec["domain"], spec.get("lists"))
    _, y_tr, n_tr = read_list(tr)
    _, _, n_te = read_list(te)
    keep = select_classes(_class_names(n_tr, n_te, tr), spec.get("classes"), "")
    counts = np.bincount(y_tr, minlength=max(keep) + 1)[keep]
    if spec.get("max_per_class") is not None:
        counts = np.minimum(counts, int(spec["max_per_class"]))
    return counts


def _names(spec: dict[str, Any]) -> list[str]:
    """The selected class names in label order (from the list files)."""
    _, tr, te = _lists(spec["root"], spec["domain"], spec.get("lists"))
    names = _class_names(read_list(tr)[2], read_list(te)[2], tr)
    return [names[i] for i in select_classes(names, spec.get("classes"), "")]


@register_dataset("domainnet", num_classes=_num_classes, train_counts=_train_counts, class_names=_names)
def domainnet(*, root: str, domain: str, lists: str | None = None, classes: Any = None,
              max_per_class: int | None = None, split_seed: int = 0, image_size: int = 224) -> FileDataset:
    """One DomainNet domain (``clipart``, ``infograph``, ``painting``, ``quickdraw``, ``real``, ``sketch``)."""
    base, tr_list, te_list = _lists(root, domain, lists)
    p_tr, y_tr, n_tr = read_list(tr_list)
    p_te, y_te, n_te = read_list(te_list)
    names = _class_names(n_tr, n_te, tr_list)
    keep = select_classes(names, classes, "")
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    out = {}
    for split, paths, y, seed in (("train", p_tr, y_tr, split_seed), ("test", p_te, y_te, split_seed + 1)):
        y = remap[y]
        idx = np.flatnonzero(y >= 0)
        if max_per_class is not None:
            idx = idx[cap_per_class(y[idx], int(max_per_class), seed)]
        missing = [paths[i] for i in idx if not os.path.isfile(base / paths[i])]
        if missing:
            raise DatasetError(f"DomainNet {split} list names {len(missing)} missing image(s) under {base}, e.g. "
                               f"{missing[0]}; expected {LAYOUT}")
        out[split] = (np.asarray([paths[i] for i in idx], dtype=np.str_), y[idx])
    return FileDataset(root=os.path.abspath(base), paths_train=out["train"][0], y_train=out["train"][1],
                       paths_test=out["test"][0], y_test=out["test"][1], class_names=[names[i] for i in keep],
                       image_size=int(image_size))
