"""CIFAR-10 / CIFAR-100 from the official "python version" (pickled batches), loaded without running code.

Accepted ``path`` layouts (the official archives, https://www.cs.toronto.edu/~kriz/cifar.html):

* ``cifar-10-batches-py/`` with ``data_batch_1`` … ``data_batch_5``, ``test_batch``, ``batches.meta``;
* ``cifar-100-python/`` with ``train``, ``test``, ``meta``;
* the folder's parent (``data/raw`` holding ``cifar-100-python/``), or the ``.tar.gz`` itself (read in
  place, nothing extracted).

The batches are pickles of plain dicts of numpy arrays and lists. They are read with
:class:`NumpyOnlyUnpickler`, whose ``find_class`` resolves numpy's array reconstruction
(``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``) and nothing else, so a
tampered file cannot run code: any other global raises :class:`DatasetError`.

The result is an in-memory :class:`~unlearnbench.data.arrays.ArrayDataset` (32×32 pixels: the fast path).
Options (both datasets):

* ``classes``: a subset (list of names or indices, or N = the first N classes), relabelled 0…K−1 in the
  original label order;
* ``holdout`` + ``holdout_seed`` + ``part``: hold classes out of the upstream dataset to serve as a
  downstream set. CIFAR-100: ``holdout: h`` draws h of the (selected) fine classes of **every** coarse class
  (seeded per coarse class, in coarse-label order), so each held-out class has siblings left upstream and a
  ``top`` scenario has similar classes to find; CIFAR-10: h classes in total. ``part: kept`` (default) is
  the rest, ``part: heldout`` the held-out classes — configure the downstream set with the *same*
  ``path/classes/holdout/holdout_seed`` and ``part: heldout``.

CIFAR-100's coarse labels become ``superclass`` (coarse index per class); CIFAR-10's ``superclass`` is the
class itself. ``source_class`` is -1 (no class is derived from another).
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.data.arrays import ArrayDataset, DatasetError
from unlearnbench.data.files import select_classes
from unlearnbench.data.registry import register_dataset


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else (no other global can be named)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: a CIFAR batch holds only "
                                         "numpy arrays, lists and strings")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct

            return _reconstruct
        return getattr(np, name)


def safe_unpickle(data: bytes, where: str) -> dict[str, Any]:
    """Unpickle one CIFAR batch (latin-1 for Python 2 pickles); keys become ``str``."""
    try:
        obj = NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DatasetError(f"{where} is not a CIFAR python batch (numpy-only pickle): {exc}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{where} is not a CIFAR python batch: expected a dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _text(values) -> list[str]:
    return [v.decode("latin1") if isinstance(v, bytes) else str(v) for v in values]


class _Layout:
    """The files of one CIFAR variant."""

    def __init__(self, name: str, folder: str, train: list[str], test: str, meta: str, label_key: str,
                 names_key: str, n_classes: int):
        self.name, self.folder, self.train, self.test, self.meta = name, folder, train, test, meta
        self.label_key, self.names_key, self.n_classes = label_key, names_key, n_classes

    @property
    def files(self) -> list[str]:
        return [*self.train, self.test, self.meta]

    def expected(self) -> str:
        return (f"the official {self.name} python version: a folder {self.folder}/ with "
                f"{', '.join(self.files)} (or its parent, or {self.folder}.tar.gz)")


CIFAR10 = _Layout("CIFAR-10", "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                  "batches.meta", "labels", "label_names", 10)
CIFAR100 = _Layout("CIFAR-100", "cifar-100-python", ["train"], "test", "meta", "fine_labels",
                   "fine_label_names", 100)


class _Source:
    """Reads member files of a CIFAR folder or tarball (the tarball is scanned once, lazily)."""

    def __init__(self, path: str | Path, layout: _Layout):
        self.layout = layout
        p = Path(path)
        self.tar: Path | None = None
        self.folder: Path | None = None
        if p.is_file() and (p.name.endswith((".tar.gz", ".tgz", ".tar"))):
            self.tar = p
        elif p.is_dir() and (p / layout.folder).is_dir() and not (p / layout.meta).exists():
            self.folder = p / layout.folder
        elif p.is_dir():
            self.folder = p
        elif p.exists():
            raise DatasetError(f"{p} is neither a folder nor a .tar.gz archive; expected {layout.expected()}")
        else:
            raise DatasetError(f"{layout.name} path {p} does not exist; expected {layout.expected()}")
        self._members: dict[str, bytes] | None = None

    def check(self) -> None:
        """Every expected file is there (DatasetError names the first missing one)."""
        if self.folder is not None:
            missing = [f for f in self.layout.files if not (self.folder / f).is_file()]
            if missing:
                raise DatasetError(f"{self.layout.name} folder {self.folder} lacks {missing}; expected "
                                   f"{self.layout.expected()}")
        else:
            try:
                with tarfile.open(self.tar) as tf:
                    names = set(tf.getnames())
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise DatasetError(f"{self.tar} is not a readable tar archive: {exc}") from None
            missing = [f for f in self.layout.files if f"{self.layout.folder}/{f}" not in names]
            if missing:
                raise DatasetError(f"{self.layout.name} archive {self.tar} lacks {self.layout.folder}/{missing}; "
                                   f"expected {self.layout.expected()}")

    def read(self, name: str) -> dict[str, Any]:
        if self.folder is not None:
            path = self.folder / name
            if not path.is_file():
                raise DatasetError(f"{self.layout.name} folder {self.folder} lacks {name}; expected "
                                   f"{self.layout.expected()}")
            return safe_unpickle(path.read_bytes(), str(path))
        if self._members is None:
            self._members = {}
            wanted = {f"{self.layout.folder}/{f}" for f in self.layout.files}
            try:
                with tarfile.open(self.tar) as tf:
                    for member in tf:
                        if member.name in wanted and member.isfile():
                            self._members[member.name.split("/", 1)[1]] = tf.extractfile(member).read()
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise DatasetError(f"{self.tar} is not a readable tar archive: {exc}") from None
        if name not in self._members:
            raise DatasetError(f"{self.layout.name} archive {self.tar} lacks {self.layout.folder}/{name}; "
                               f"expected {self.layout.expected()}")
        return safe_unpickle(self._members[name], f"{self.tar}:{self.layout.folder}/{name}")

    def class_names(self) -> list[str]:
        meta = self.read(self.layout.meta)
        if self.layout.names_key not in meta:
            raise DatasetError(f"{self.layout.name} {self.layout.meta} lacks {self.layout.names_key!r}")
        names = _text(meta[self.layout.names_key])
        if len(names) != self.layout.n_classes:
            raise DatasetError(f"{self.layout.name} {self.layout.meta}: {len(names)} class names, expected "
                               f"{self.layout.n_classes}")
        return names

    def batch(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(images N×32×32×3 uint8, labels, coarse labels or None)`` of one batch file."""
        d = self.read(name)
        where = f"{self.layout.name} batch {name!r}"
        if "data" not in d or self.layout.label_key not in d:
            raise DatasetError(f"{where} lacks 'data' or {self.layout.label_key!r} (keys: {sorted(d)})")
        x = np.asarray(d["data"])
        y = np.asarray(d[self.layout.label_key], dtype=np.int64)
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or len(y) != len(x):
            raise DatasetError(f"{where}: expected uint8 data N×3072 and N labels, got {x.dtype} {x.shape} and "
                               f"{len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= self.layout.n_classes):
            raise DatasetError(f"{where}: labels outside 0…{self.layout.n_classes - 1}")
        coarse = np.asarray(d["coarse_labels"], dtype=np.int64) if "coarse_labels" in d else None
        return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y, coarse


def _selection(layout: _Layout, names: list[str], coarse_of: np.ndarray | None, classes: Any, holdout: int | None,
               holdout_seed: int, part: str) -> list[int]:
    """Original class indices of this dataset (sorted)."""
    if part not in ("kept", "heldout"):
        raise DatasetError(f"part: expected 'kept' or 'heldout', got {part!r}")
    chosen = select_classes(names, classes, "")
    if holdout is None:
        if part == "heldout":
            raise DatasetError("part: 'heldout' needs a `holdout` count")
        return chosen
    if isinstance(holdout, bool) or not isinstance(holdout, int) or holdout < 1:
        raise DatasetError(f"holdout: expected a positive integer, got {holdout!r}")
    rng = np.random.default_rng(holdout_seed)
    held: list[int] = []
    if coarse_of is not None:  # CIFAR-100: h fine classes of every coarse class
        for c in sorted(set(int(coarse_of[i]) for i in chosen)):
            fine = [i for i in chosen if coarse_of[i] == c]
            if holdout >= len(fine):
                raise DatasetError(f"holdout: {holdout} of the {len(fine)} selected fine classes of superclass {c} "
                                   "would leave none upstream; expected holdout < fine classes per superclass")
            held += [int(i) for i in rng.choice(fine, size=holdout, replace=False)]
    else:
        if holdout >= len(chosen):
            raise DatasetError(f"holdout: {holdout} of {len(chosen)} classes would leave none upstream")
        held = [int(i) for i in rng.choice(chosen, size=holdout, replace=False)]
    held_set = set(held)
    return sorted(held_set) if part == "heldout" else [i for i in chosen if i not in held_set]


def _coarse_map(src: _Source) -> tuple[np.ndarray | None, list[str] | None]:
    """CIFAR-100: coarse index of each fine class (from the test batch) and the coarse names."""
    if src.layout is not CIFAR100:
        return None, None
    _, y, coarse = src.batch(src.layout.test)
    if coarse is None:
        raise DatasetError(f"CIFAR-100 batch {src.layout.test!r} lacks 'coarse_labels'")
    coarse_of = np.full(100, -1, dtype=np.int64)
    coarse_of[y] = coarse
    if (coarse_of < 0).any():
        raise DatasetError(f"CIFAR-100 batch {src.layout.test!r} does not contain every fine class")
    meta = src.read(src.layout.meta)
    return coarse_of, _text(meta.get("coarse_label_names", [])) or None


def _names(layout: _Layout, path: str, classes: Any, holdout: int | None, holdout_seed: int, part: str) -> list[str]:
    """Names of the selected classes in label order (the metadata batch; no image batch is read)."""
    src = _Source(path, layout)
    src.check()
    names = src.class_names()
    coarse_of = _coarse_map(src)[0] if holdout is not None else None
    if layout is CIFAR100 and holdout is not None and coarse_of is None:
        raise DatasetError("CIFAR-100 coarse labels missing")
    return [names[i] for i in _selection(layout, names, coarse_of, classes, holdout, holdout_seed, part)]


def _count(layout: _Layout, path: str, classes: Any, holdout: int | None, holdout_seed: int, part: str) -> int:
    return len(_names(layout, path, classes, holdout, holdout_seed, part))


def load_cifar(layout: _Layout, path: str, classes: Any = None, holdout: int | None = None, holdout_seed: int = 0,
               part: str = "kept") -> ArrayDataset:
    src = _Source(path, layout)
    names = src.class_names()
    coarse_of, _ = _coarse_map(src)
    keep = _selection(layout, names, coarse_of, classes, holdout, holdout_seed, part)
    remap = np.full(layout.n_classes, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    splits = {}
    for split, files in (("train", layout.train), ("test", [layout.test])):
        xs, ys = zip(*[src.batch(f)[:2] for f in files])
        x, y = np.concatenate(xs), remap[np.concatenate(ys)]
        mask = y >= 0
        splits[split] = (np.ascontiguousarray(x[mask]), y[mask])
    superclass = coarse_of[keep] if coarse_of is not None else np.asarray(keep, dtype=np.int64)
    return ArrayDataset(x_train=splits["train"][0], y_train=splits["train"][1], x_test=splits["test"][0],
                        y_test=splits["test"][1], class_names=[names[i] for i in keep],
                        superclass=np.asarray(superclass, dtype=np.int64),
                        source_class=np.full(len(keep), -1, dtype=np.int64))


def _names_fn(layout: _Layout):
    def class_names(spec: dict[str, Any]) -> list[str]:
        return _names(layout, spec["path"], spec.get("classes"), spec.get("holdout"), spec.get("holdout_seed", 0),
                      spec.get("part", "kept"))

    return class_names


def _count_fn(layout: _Layout):
    def count(spec: dict[str, Any]) -> int:
        return _count(layout, spec["path"], spec.get("classes"), spec.get("holdout"), spec.get("holdout_seed", 0),
                      spec.get("part", "kept"))

    return count


#: training images per class of the official releases (50 000 training images)
TRAIN_PER_CLASS = {"CIFAR-10": 5000, "CIFAR-100": 500}


def _train_counts_fn(layout: _Layout):
    def train_counts(spec: dict[str, Any]) -> np.ndarray:
        n = _count(layout, spec["path"], spec.get("classes"), spec.get("holdout"), spec.get("holdout_seed", 0),
                   spec.get("part", "kept"))
        return np.full(n, TRAIN_PER_CLASS[layout.name], dtype=np.int64)

    return train_counts


@register_dataset("cifar10", num_classes=_count_fn(CIFAR10), train_counts=_train_counts_fn(CIFAR10),
                  class_names=_names_fn(CIFAR10))
def cifar10(*, path: str, classes: Any = None, holdout: int | None = None, holdout_seed: int = 0,
            part: str = "kept") -> ArrayDataset:
    """CIFAR-10 (``cifar-10-batches-py`` folder or tarball); see the module docstring for the options."""
    return load_cifar(CIFAR10, path, classes, holdout, holdout_seed, part)


@register_dataset("cifar100", num_classes=_count_fn(CIFAR100), train_counts=_train_counts_fn(CIFAR100),
                  class_names=_names_fn(CIFAR100))
def cifar100(*, path: str, classes: Any = None, holdout: int | None = None, holdout_seed: int = 0,
             part: str = "kept") -> ArrayDataset:
    """CIFAR-100 (``cifar-100-python`` folder or tarball), coarse labels as superclasses; see the module
    docstring for ``classes`` and the per-superclass ``holdout``."""
    return load_cifar(CIFAR100, path, classes, holdout, holdout_seed, part)
