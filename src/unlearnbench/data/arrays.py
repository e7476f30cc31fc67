"""In-memory image datasets: uint8 N×H×W×C arrays, the `.npz` interchange format, and fast batching.

An ``.npz`` dataset holds ``x_train, y_train, x_test, y_test`` (uint8 images N×H×W×C, integer labels)
and optionally ``class_names`` (str array), ``superclass`` (int per class) and ``source_class`` (int per
class, the upstream class a downstream class was derived from; -1 when none). It is read with
``allow_pickle=False``: a dataset file can never run code.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:  # torch is imported when batches are made: preparing and reading data stays torch-free
    import torch

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")
#: the fixed normalisation of in-memory pixels (a model trained here learns with it)
DEFAULT_NORM = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
#: attribute of a model whose weights were imported (``model.pretrained``, ``retrain.pretrained``) or derived
#: from imported ones: the ``(mean, std)`` its inputs are normalised with — its timm ``pretrained_cfg``'s,
#: recorded in the checkpoint sidecar as ``input_norm`` (:func:`unlearnbench.models.set_input_norm`)
INPUT_NORM_ATTR = "unlearnbench_input_norm"


def model_norm(model: object) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The ``(mean, std)`` a model's pixel inputs are normalised with, when it is not :data:`DEFAULT_NORM`."""
    return getattr(model, INPUT_NORM_ATTR, None) if model is not None else None


class DatasetError(ValueError):
    """A dataset file or folder is missing or malformed; the message names it and the expected layout."""


class ClassMetadata:
    """Shared by the prepared datasets (pixels here, files in ``data/files.py``): labels ``y_train``/``y_test``,
    the class count, and default per-class metadata (names, superclass = own class, source_class = -1)."""

    @property
    def num_classes(self) -> int:
        n = int(max(self.y_train.max(initial=-1), self.y_test.max(initial=-1))) + 1
        return max(n, len(self.class_names))

    def _fill_class_metadata(self) -> None:
        self.y_train = np.asarray(self.y_train, dtype=np.int64)
        self.y_test = np.asarray(self.y_test, dtype=np.int64)
        if not self.class_names:
            self.class_names = [f"class_{i}" for i in range(self.num_classes)]
        if self.superclass is None:
            self.superclass = np.arange(self.num_classes, dtype=np.int64)
        if self.source_class is None:
            self.source_class = np.full(self.num_classes, -1, dtype=np.int64)


@dataclass
class ArrayDataset(ClassMetadata):
    """Train and test splits of a labelled image dataset held in memory."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    superclass: np.ndarray | None = None
    source_class: np.ndarray | None = None
    #: a validation split carved from the training data (:meth:`carve_validation`); empty when none
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    #: after :meth:`carve_validation`: the position of each training image in the training set as built (before
    #: the carve; ``indices`` forget lists use that numbering) and that set's size; None when nothing was carved
    train_index: np.ndarray | None = None
    source_train_size: int | None = None
    #: ``(mean, std)`` of the image sets handed out (:meth:`for_model`); None: :data:`DEFAULT_NORM`
    norm: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def __post_init__(self) -> None:
        self._fill_class_metadata()
        if self.x_val is None:
            self.x_val = np.zeros((0, *self.x_train.shape[1:]), dtype=self.x_train.dtype)
        self.y_val = np.zeros(0, np.int64) if self.y_val is None else np.asarray(self.y_val, dtype=np.int64)

    def carve_validation(self, fraction: float, seed: int) -> "ArrayDataset":
        """Move a seeded, per-class stratified ``fraction`` of the training images into the validation split
        (every class with ≥ 2 images keeps ≥ 1 for training and gives ≥ 1). Tuning selects hyper-parameters
        on it; no model ever trains on it, and no reported metric reads it."""
        if fraction <= 0:
            return self
        keep, val = carve_indices(self.y_train, fraction, seed)
        origin = self.train_index if self.train_index is not None else np.arange(len(self.y_train), dtype=np.int64)
        size = self.source_train_size if self.source_train_size is not None else len(self.y_train)
        return ArrayDataset(self.x_train[keep], self.y_train[keep], self.x_test, self.y_test, list(self.class_names),
                            self.superclass, self.source_class, np.concatenate([self.x_val, self.x_train[val]]),
                            np.concatenate([self.y_val, self.y_train[val]]), origin[keep], size, norm=self.norm)

    #: how the prepared dataset stores images (``files`` for :class:`unlearnbench.data.files.FileDataset`)
    storage = "pixels"

    @property
    def image_shape(self) -> list[int]:
        return list(self.x_train.shape[1:])

    def for_model(self, model: object = None) -> "ArrayDataset":
        """A view (arrays shared) whose image sets are normalised for ``model``: the fixed
        :data:`DEFAULT_NORM` that models trained here learn with, or — for a model whose weights were imported
        (or derived from imported ones) and whose timm ``pretrained_cfg`` has a mean/std — that mean/std
        (:data:`INPUT_NORM_ATTR`, :func:`unlearnbench.models.set_input_norm`)."""
        import dataclasses

        norm = model_norm(model)
        return self if norm == self.norm else dataclasses.replace(self, norm=norm)

    def _norm_kwargs(self) -> dict:
        return {} if self.norm is None else {"mean": tuple(self.norm[0]), "std": tuple(self.norm[1])}

    def preview(self, **_: object) -> "ArrayDataset":
        """The dataset the contact sheet draws (itself: its pixels are in memory)."""
        return self

    def evalset(self, name: str) -> "ImageArraySet":
        """``train``, ``test``, or (any other name: a downstream eval set) the whole dataset, train then test."""
        if name in ("train", "test"):
            return self.split(name)
        return ImageArraySet(np.concatenate([self.x_train, self.x_test]),
                             np.concatenate([self.y_train, self.y_test]), self.num_classes, **self._norm_kwargs())

    def split(self, name: str) -> "ImageArraySet":
        """``train``, ``test`` or ``val`` (the carved validation split) as an :class:`ImageArraySet`."""
        splits = {"train": (self.x_train, self.y_train), "test": (self.x_test, self.y_test),
                  "val": (self.x_val, self.y_val)}
        if name not in splits:
            raise ValueError(f"split must be one of {sorted(splits)}, got {name!r}")
        return ImageArraySet(*splits[name], self.num_classes, **self._norm_kwargs())

    def save_npz(self, path: str | Path) -> None:
        """Write the dataset to ``path`` (uncompressed ``.npz``, no pickled objects); a carved dataset adds
        ``train_index`` and ``train_source_size`` (:func:`read_train_index`)."""
        carved = {} if self.train_index is None else {
            "train_index": np.asarray(self.train_index, dtype=np.int64),
            "train_source_size": np.asarray(self.source_train_size, dtype=np.int64)}
        with open(path, "wb") as fh:
            np.savez(
                fh,
                **carved,
                x_train=self.x_train,
                y_train=self.y_train,
                x_test=self.x_test,
                y_test=self.y_test,
                class_names=np.asarray(self.class_names, dtype=np.str_),
                superclass=np.asarray(self.superclass, dtype=np.int64),
                source_class=np.asarray(self.source_class, dtype=np.int64),
                x_val=self.x_val,
                y_val=self.y_val,
            )


def carved_count(n_class: int, fraction: float) -> int:
    """Images one class of ``n_class`` training images gives to the validation split (:func:`carve_indices`)."""
    return min(max(1, int(round(fraction * n_class))), n_class - 1) if n_class >= 2 else 0


def carve_indices(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, val)``: sorted indices; per class ``round(fraction · n_c)`` seeded picks go to ``val``,
    clipped to [1, n_c − 1] for classes with ≥ 2 samples (a single-sample class stays in ``keep``)."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7A1]))
    val = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) >= 2:
            k = carved_count(len(idx), fraction)
            val.append(rng.permutation(idx)[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(len(labels)), val_idx), val_idx


def read_npz_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive (never unpickling); DatasetError names an unreadable file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"dataset file {path} is not a readable .npz archive: {exc}") from None


def read_train_index(path: str | Path) -> tuple[np.ndarray | None, int | None]:
    """``(train_index, source_size)`` of a prepared ``.npz`` whose validation split was carved from the training
    data (:meth:`ArrayDataset.carve_validation`); ``(None, None)`` when nothing was carved (the identity). A
    dataset *loaded* from an ``.npz`` numbers its training images as stored: this is read by the forget-set
    stage only, never by :func:`load_npz`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "train_index" not in data.files:
                return None, None
            return np.asarray(data["train_index"], dtype=np.int64), int(data["train_source_size"])
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise DatasetError(f"dataset file {path} is not a readable .npz archive: {exc}") from None


def read_npz_array(path: str | Path, key: str) -> np.ndarray:
    """One array of an ``.npz`` archive, without reading the others (e.g. the labels, not the pixels)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            array = data[key] if key in data.files else None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"dataset file {path} is not a readable .npz archive: {exc}") from None
    if array is None:
        raise DatasetError(f"dataset file {path} lacks the array {key!r}")
    return array


def load_npz(path: str | Path) -> ArrayDataset:
    """Read and validate an ``.npz`` dataset; raise :class:`DatasetError` naming the file and problem."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"dataset file {path} does not exist (expected an .npz with {', '.join(REQUIRED_KEYS)})")
    arrays = read_npz_arrays(path)
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise DatasetError(f"dataset file {path} lacks arrays {missing}; expected {list(REQUIRED_KEYS)}")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise DatasetError(
                f"dataset file {path}: x_{split} must be uint8 N×H×W×C with C in (1, 3), got {x.dtype} {x.shape}"
            )
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise DatasetError(
                f"dataset file {path}: y_{split} must be non-negative integer labels, one per image of x_{split}"
            )
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DatasetError(f"dataset file {path}: x_train and x_test image shapes differ")
    if ("x_val" in arrays) != ("y_val" in arrays) or ("x_val" in arrays and (
            len(arrays["x_val"]) != len(arrays["y_val"]) or arrays["x_val"].shape[1:] != arrays["x_train"].shape[1:])):
        raise DatasetError(f"dataset file {path}: x_val and y_val must come together, one label per image, "
                           "with the training images' shape")
    names = [str(s) for s in arrays["class_names"]] if "class_names" in arrays else []
    return ArrayDataset(
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        class_names=names,
        superclass=arrays.get("superclass"),
        source_class=arrays.get("source_class"),
        x_val=arrays.get("x_val"),
        y_val=arrays.get("y_val"),
    )


class Normalised:
    """Per-channel normalisation ``norm = (mean, std)`` (tuples), exposed as broadcastable 1×C×1×1 tensors."""

    norm: tuple[tuple[float, ...], tuple[float, ...]]

    @property
    def mean(self) -> "torch.Tensor":
        import torch

        return torch.tensor(self.norm[0], dtype=torch.float32).view(1, -1, 1, 1)

    @property
    def std(self) -> "torch.Tensor":
        import torch

        return torch.tensor(self.norm[1], dtype=torch.float32).view(1, -1, 1, 1)


class ImageArraySet(Normalised):
    """A labelled image set backed by uint8 N×H×W×C arrays, batched as normalised float NCHW tensors.

    Training batches use the CIFAR augmentation (4-pixel zero-padded random crop + horizontal flip),
    drawn from a ``torch.Generator`` seeded by ``(seed, epoch)`` so that epochs are reproducible.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, num_classes: int,
                 mean: tuple[float, ...] = DEFAULT_NORM[0], std: tuple[float, ...] = DEFAULT_NORM[1]):
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.num_classes = int(num_classes)
        self.norm = (tuple(float(m) for m in mean), tuple(float(s) for s in std))

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "ImageArraySet":
        """The images at ``indices`` (a view-free copy with the same normalisation)."""
        indices = np.asarray(indices, dtype=np.int64)
        out = ImageArraySet.__new__(ImageArraySet)
        out.images, out.labels, out.num_classes = self.images[indices], self.labels[indices], self.num_classes
        out.norm = self.norm
        return out

    def with_labels(self, labels: np.ndarray) -> "ImageArraySet":
        """The same images with other labels (e.g. random relabelling for unlearning)."""
        out = self.subset(np.arange(len(self)))
        out.labels = np.asarray(labels, dtype=np.int64)
        return out

    def concat(self, *others: "ImageArraySet") -> "ImageArraySet":
        """This set followed by ``others`` (which must share the class count and normalisation)."""
        for other in others:
            if not isinstance(other, ImageArraySet):
                raise TypeError(f"cannot concatenate an ImageArraySet with {type(other).__name__}")
            if other.num_classes != self.num_classes or other.norm != self.norm:
                raise ValueError("concatenated image sets must share the class count and the normalisation")
        out = self.subset(np.arange(0))
        out.images = np.concatenate([self.images, *(o.images for o in others)])
        out.labels = np.concatenate([self.labels, *(o.labels for o in others)])
        return out

    def batches(self, batch_size: int, *, train: bool = False, shuffle: bool | None = None,
                seed: int = 0, epoch: int = 0, drop_last: bool = False,
                device: "torch.device | str" = "cpu") -> Iterator[tuple["torch.Tensor", "torch.Tensor"]]:
        """Yield ``(x, y)``: ``x`` float32 N×C×H×W normalised, ``y`` int64; augmented when ``train``."""
        import torch

        mean, std = self.mean, self.std
        shuffle = train if shuffle is None else shuffle
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
        n = len(self)
        order = torch.randperm(n, generator=gen).numpy() if shuffle else np.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = np.sort(order[start:start + batch_size]) if not shuffle else order[start:start + batch_size]
            x = torch.from_numpy(self.images[idx]).permute(0, 3, 1, 2).float().div_(255.0)
            if train:
                x = _augment(x, gen)
            x = ((x - mean) / std).to(device, non_blocking=True)
            if x.device.type == "cuda":  # the model is channels_last on CUDA (training.prepare_model)
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, torch.from_numpy(self.labels[idx]).to(device, non_blocking=True)


def _augment(x: "torch.Tensor", gen: "torch.Generator", pad: int = 4) -> "torch.Tensor":
    """Random crop of a zero-padded batch plus random horizontal flip, vectorised over the batch."""
    import torch

    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h))  # n×h
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w))  # n×w
    flip = torch.rand(n, generator=gen) < 0.5
    cols = torch.where(flip.view(n, 1), cols.flip(1), cols)
    batch = torch.arange(n).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows.view(n, h, 1), cols.view(n, 1, w)]  # n×h×w×c
    return out.permute(0, 3, 1, 2).contiguous()
