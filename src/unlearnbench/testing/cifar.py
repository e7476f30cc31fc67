"""A fake CIFAR-10 / CIFAR-100 folder (or ``.tar.gz``) in the official python-pickle layout."""
from __future__ import annotations

import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.testing.base import coloured_images, fresh, register_fake

__all__ = ["write_cifar"]


def _pickle_like_official(obj: dict[str, Any]) -> bytes:
    """A pickle whose array globals name ``numpy.core.multiarray`` as the official files do.

    Protocol 3: its GLOBAL opcode spells module names as newline-terminated text (safe to rename) and it has a
    native bytes type (protocol 2 from Python 3 would route bytes through ``_codecs.encode``, which the
    official Python-2 files never reference and the restricted unpickler rightly refuses).
    """
    return pickle.dumps(obj, protocol=3).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def write_cifar(dest: str | Path, variant: str = "cifar100", *, train_per_class: int = 3, test_per_class: int = 2,
                seed: int = 0, tar: bool = False) -> Path:
    """A fake ``cifar-10-batches-py/`` or ``cifar-100-python/`` folder (or ``.tar.gz``) under ``dest``.

    CIFAR-100's fine class ``i`` belongs to coarse class ``i % 20`` (5 per coarse class, not contiguous, like
    the real mapping). Returns the folder (or the archive).
    """
    rng = np.random.default_rng(seed)
    n_classes = 100 if variant == "cifar100" else 10
    folder_name = "cifar-100-python" if variant == "cifar100" else "cifar-10-batches-py"
    root = Path(dest)
    folder = root / folder_name
    folder.mkdir(parents=True, exist_ok=True)

    def batch(per_class: int, label: str, shuffle_seed: int) -> dict[str, Any]:
        y = np.repeat(np.arange(n_classes), per_class)
        np.random.default_rng(shuffle_seed).shuffle(y)
        x = (np.concatenate([coloured_images(1, 32, int(c), rng) for c in y]) if len(y)
             else np.zeros((0, 32, 32, 3), np.uint8))
        data = np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(y), 3072))
        out: dict[str, Any] = {"batch_label": label, "data": data, "filenames": [f"img_{i}.png" for i in range(len(y))]}
        if variant == "cifar100":
            out["fine_labels"] = [int(c) for c in y]
            out["coarse_labels"] = [int(c) % 20 for c in y]
        else:
            out["labels"] = [int(c) for c in y]
        return out

    files: dict[str, dict[str, Any]] = {}
    if variant == "cifar100":
        files["train"] = batch(train_per_class, "training batch 1 of 1", 1)
        files["test"] = batch(test_per_class, "testing batch 1 of 1", 2)
        files["meta"] = {"fine_label_names": [f"fine{i:02d}" for i in range(100)],
                         "coarse_label_names": [f"coarse{i:02d}" for i in range(20)]}
    else:
        for i in range(1, 6):  # the training images are spread over 5 batches
            b = batch(train_per_class, f"training batch {i} of 5", 10 + i)
            keep = np.arange(len(b["labels"])) % 5 == i - 1
            b["data"], b["labels"] = b["data"][keep], [c for c, k in zip(b["labels"], keep) if k]
            b["filenames"] = [f for f, k in zip(b["filenames"], keep) if k]
            files[f"data_batch_{i}"] = b
        files["test_batch"] = batch(test_per_class, "testing batch 1 of 1", 20)
        files["batches.meta"] = {"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": 10,
                                 "num_vis": 3072}
    for name, obj in files.items():
        (folder / name).write_bytes(_pickle_like_official(obj))
    if not tar:
        return folder
    archive = root / f"{folder_name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname=folder_name)
    return archive


@register_fake("cifar10", "cifar100")
def fake_cifar(spec: dict[str, Any], root: Path, n_classes: int) -> list[Path]:
    """The spec's ``path``: an archive (``.tar.gz``), the official folder itself, or a folder holding it."""
    kind = spec["type"]
    target = fresh(root, spec["path"])
    layout = "cifar-100-python" if kind == "cifar100" else "cifar-10-batches-py"
    if target.name.endswith(".tar.gz"):
        return [write_cifar(target.parent, kind, tar=True)]
    if target.name == layout:
        return [write_cifar(target.parent, kind)]
    return [write_cifar(target, kind)]
