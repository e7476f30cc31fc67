"""File-backed image datasets: paths + labels on disk, decoded lazily, with the API of ``ImageArraySet``.

Large datasets (ImageNet, CUB-200, Office-Home, DomainNet) do not fit the in-memory ``.npz`` pixel format,
so their prepared form holds *paths*. The prepared-dataset contract is the same file for both storages:
``prepare_data`` writes ``{OUT}/data/{name}.npz`` (+ ``.json`` manifest + contact sheet). A file-backed
``.npz`` holds, and only holds (``allow_pickle=False``, no pixels)::

    root          str   absolute folder the paths are relative to
    paths_train   str   N_train image paths relative to ``root``
    paths_test    str   N_test image paths relative to ``root``
    y_train       int64 labels
    y_test        int64 labels
    class_names   str   one per class
    superclass    int64 one per class
    source_class  int64 one per class (-1: not derived from an upstream class)
    image_size    int64 side of the (square) network input, pixels

:func:`load_prepared` reads either kind: a pixel ``.npz`` becomes an in-memory
:class:`~unlearnbench.data.arrays.ArrayDataset` (the fast default, unchanged), a paths ``.npz`` a
:class:`FileDataset`. Both expose ``.split("train"|"test")``, ``.evalset(name)``, ``.y_train``,
``.y_test``, ``.num_classes``, ``.class_names``, ``.superclass``, ``.source_class`` and
``.for_model(model)``; the image sets they hand out share one API (``len``, ``.labels``, ``.num_classes``,
``.subset``, ``.with_labels``, ``.concat``, ``.batches``, ``.mean``/``.std``).

Transforms (:class:`FileImageSet`) are timm's (``timm.data.create_transform``): training =
RandomResizedCrop(scale 0.08–1, ratio 3/4–4/3) + horizontal flip, evaluation = resize to
``image_size / crop_pct`` + centre crop; both normalised with the model's ``pretrained_cfg`` mean/std
(ImageNet defaults when it has none) — :meth:`FileDataset.for_model` resolves them with
``timm.data.resolve_data_config``. The input side is the dataset's ``image_size``.

Determinism: the batch order comes from a ``torch.Generator`` seeded by ``(seed, epoch)`` exactly as for
in-memory sets, and every training sample's augmentation is drawn from RNGs seeded by
``(seed, epoch, index)`` (``index`` = the sample's position in the set) inside the process that decodes
it, with the caller's RNG state restored afterwards. Batches are therefore bit-identical whatever the
number of DataLoader workers (0 decodes in the main process). Workers: ``UNLEARNBENCH_NUM_WORKERS`` when
set, else up to 8 on CUDA (with pinned memory) and up to 2 spare cores on CPU; the count never changes
numbers.
"""
from __future__ import annotations

import contextlib
import os
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from unlearnbench.data.arrays import (ArrayDataset, ClassMetadata, DatasetError, Normalised, load_npz,
                                      read_npz_arrays)

if TYPE_CHECKING:  # torch is imported when batches are made, so that preparing data stays torch-free
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CROP_PCT = 0.875
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
FILE_KEYS = ("root", "paths_train", "paths_test", "y_train", "y_test")


# --------------------------------------------------------------------------------------------- transforms
@dataclass(frozen=True)
class TransformConfig:
    """What decodes a file into a network input (resolved from the model's pretrained_cfg)."""

    image_size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    crop_pct: float = DEFAULT_CROP_PCT

    def build(self, train: bool):
        """The timm transform (PIL image → normalised float C×H×W tensor)."""
        import unlearnbench._torchvision_shim  # noqa: F401  (before timm/torchvision)
        from timm.data import create_transform

        return create_transform(input_size=(3, self.image_size, self.image_size), is_training=train,
                                interpolation=self.interpolation, mean=self.mean, std=self.std,
                                crop_pct=self.crop_pct, color_jitter=None, hflip=0.5)


def data_config(model: "torch.nn.Module | None", image_size: int) -> TransformConfig:
    """Mean/std/interpolation/crop_pct of ``model`` (``timm.data.resolve_data_config``), at ``image_size``."""
    if model is None:
        return TransformConfig(image_size=int(image_size))
    import unlearnbench._torchvision_shim  # noqa: F401  (before timm/torchvision)
    from timm.data import resolve_data_config

    cfg = resolve_data_config({}, model=model)
    return TransformConfig(image_size=int(image_size), mean=tuple(float(m) for m in cfg["mean"]),
                           std=tuple(float(s) for s in cfg["std"]), interpolation=str(cfg["interpolation"]),
                           crop_pct=float(cfg.get("crop_pct") or DEFAULT_CROP_PCT))


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for one sample's augmentation, from ``(seed, epoch, index)`` (no Python ``hash``)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, int(index)]).generate_state(
        2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


@contextlib.contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Seed Python's ``random`` and torch's CPU generator (what timm/torchvision transforms draw from),
    and restore the caller's states afterwards (CUDA generators are never touched)."""
    import torch

    py_state, torch_state = random.getstate(), torch.default_generator.get_state()
    random.seed(seed)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        torch.default_generator.set_state(torch_state)


def resolve_workers(device: "torch.device", num_workers: int | None = None) -> int:
    """DataLoader workers: explicit > ``UNLEARNBENCH_NUM_WORKERS`` > 8 on CUDA / spare cores (≤ 2) on CPU."""
    if num_workers is not None:
        return max(0, int(num_workers))
    env = os.environ.get("UNLEARNBENCH_NUM_WORKERS")
    if env not in (None, ""):
        return max(0, int(env))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device.type == "cuda":
        return min(8, max(1, cores - 1))
    import torch

    return min(2, max(0, cores - torch.get_num_threads()))


def decode(path: str) -> Any:
    """Open an image file as RGB (grayscale/CMYK/palette converted); DatasetError names a bad file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"image file {path} cannot be decoded: {exc}") from None


class _BatchDecoder:
    """Decodes one whole batch per item (a DataLoader worker handles whole batches, order preserved); a
    map-style dataset for ``torch.utils.data.DataLoader``.

    Paths stay a fixed-width numpy array (no per-path Python objects whose reference counts would make
    forked workers copy the pages of an ImageNet-size list)."""

    def __init__(self, root: str, paths: np.ndarray, labels: np.ndarray, transform, train: bool, seed: int,
                 epoch: int):
        self.root, self.paths, self.labels, self.transform = root, paths, labels, transform
        self.train, self.seed, self.epoch = train, seed, epoch

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx: np.ndarray) -> tuple["torch.Tensor", "torch.Tensor"]:
        import torch

        xs = []
        for i in idx:
            img = decode(os.path.join(self.root, str(self.paths[i])))
            if self.train:
                with isolated_rng(sample_seed(self.seed, self.epoch, int(i))):
                    xs.append(self.transform(img))
            else:
                xs.append(self.transform(img))
        return torch.stack(xs), torch.from_numpy(self.labels[idx])


class FileImageSet(Normalised):
    """A labelled set of image files, batched as normalised float NCHW tensors (see module docstring)."""

    def __init__(self, paths: Sequence[str], labels: np.ndarray, num_classes: int, *, root: str | Path = "",
                 transform: TransformConfig | None = None, num_workers: int | None = None):
        self.paths = np.asarray(paths, dtype=np.str_)
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.paths) != len(self.labels):
            raise ValueError(f"{len(self.paths)} paths but {len(self.labels)} labels")
        self.num_classes = int(num_classes)
        self.root = str(root)
        self.transform = transform or TransformConfig()
        self.num_workers = num_workers
        self.norm = (tuple(self.transform.mean), tuple(self.transform.std))

    def __len__(self) -> int:
        return len(self.labels)

    def _like(self, paths: np.ndarray, labels: np.ndarray, root: str | None = None) -> "FileImageSet":
        return FileImageSet(paths, labels, self.num_classes, root=self.root if root is None else root,
                            transform=self.transform, num_workers=self.num_workers)

    def full_paths(self) -> list[str]:
        return [os.path.join(self.root, p) for p in self.paths.tolist()]

    def subset(self, indices: np.ndarray) -> "FileImageSet":
        indices = np.asarray(indices, dtype=np.int64)
        return self._like(self.paths[indices], self.labels[indices])

    def with_labels(self, labels: np.ndarray) -> "FileImageSet":
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) != len(self):
            raise ValueError(f"{len(labels)} labels for {len(self)} images")
        return self._like(self.paths.copy(), labels)

    def concat(self, *others: "FileImageSet") -> "FileImageSet":
        """This set followed by ``others`` (same class count and transform; any roots)."""
        sets = [self, *others]
        for other in others:
            if not isinstance(other, FileImageSet):
                raise TypeError(f"cannot concatenate a FileImageSet with {type(other).__name__}")
            if other.num_classes != self.num_classes or other.transform != self.transform:
                raise ValueError("concatenated image sets must share the class count and the transform")
        if all(s.root == self.root for s in sets):
            return self._like(np.concatenate([s.paths for s in sets]), np.concatenate([s.labels for s in sets]))
        paths = np.asarray([p for s in sets for p in s.full_paths()], dtype=np.str_)
        return self._like(paths, np.concatenate([s.labels for s in sets]), root="")

    def batches(self, batch_size: int, *, train: bool = False, shuffle: bool | None = None, seed: int = 0,
                epoch: int = 0, drop_last: bool = False,
                device: "torch.device | str" = "cpu") -> Iterator[tuple["torch.Tensor", "torch.Tensor"]]:
        """Yield ``(x, y)`` like :meth:`ImageArraySet.batches`; decoding runs in DataLoader workers."""
        import torch

        device = torch.device(device)
        shuffle = train if shuffle is None else shuffle
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
        n = len(self)
        order = torch.randperm(n, generator=gen).numpy() if shuffle else np.arange(n)
        stop = n - n % batch_size if drop_last else n
        chunks = [order[s:s + batch_size] for s in range(0, stop, batch_size)]
        if not chunks:
            return
        workers = min(resolve_workers(device, self.num_workers), len(chunks))
        decoder = _BatchDecoder(self.root, self.paths, self.labels, self.transform.build(train), train, seed, epoch)
        loader = torch.utils.data.DataLoader(decoder, batch_size=None, sampler=chunks, num_workers=workers,
                                             pin_memory=device.type == "cuda",
                                             prefetch_factor=2 if workers else None,
                                             generator=torch.Generator().manual_seed(0))  # not the global RNG
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            if device.type == "cuda":  # the model is channels_last on CUDA (training.prepare_model)
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(device, non_blocking=True)


# ------------------------------------------------------------------------------------------ file datasets
@dataclass
class FileDataset(ClassMetadata):
    """Train and test splits of a labelled image dataset stored as files under ``root``."""

    root: str
    paths_train: np.ndarray
    y_train: np.ndarray
    paths_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    superclass: np.ndarray | None = None
    source_class: np.ndarray | None = None
    image_size: int = 224
    transform: TransformConfig | None = None

    def __post_init__(self) -> None:
        self.root = str(self.root)
        self.paths_train = np.asarray(self.paths_train, dtype=np.str_)
        self.paths_test = np.asarray(self.paths_test, dtype=np.str_)
        self.image_size = int(self.image_size)
        self._fill_class_metadata()
        if self.transform is None:
            self.transform = TransformConfig(image_size=self.image_size)

    storage = "files"

    @property
    def image_shape(self) -> list[int]:
        return [self.image_size, self.image_size, 3]

    def for_model(self, model: "torch.nn.Module | None") -> "FileDataset":
        """A view whose image sets normalise with ``model``'s pretrained_cfg (see :func:`data_config`)."""
        out = FileDataset(self.root, self.paths_train, self.y_train, self.paths_test, self.y_test,
                          list(self.class_names), self.superclass, self.source_class, self.image_size,
                          data_config(model, self.image_size))
        return out

    def carve_validation(self, fraction: float, seed: int) -> "FileDataset":
        if fraction > 0:
            raise DatasetError("a validation split (tuning) is not supported for file-backed datasets yet: "
                               "set `tuning.enabled: false` or prepare the dataset as a pixel .npz")
        return self

    def split(self, name: str) -> FileImageSet:
        if name not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {name!r}")
        paths, y = (self.paths_train, self.y_train) if name == "train" else (self.paths_test, self.y_test)
        return FileImageSet(paths, y, self.num_classes, root=self.root, transform=self.transform)

    def evalset(self, name: str) -> FileImageSet:
        """``train``, ``test``, or (any other name) the whole dataset: train then test."""
        if name in ("train", "test"):
            return self.split(name)
        return self.split("train").concat(self.split("test"))

    def save_npz(self, path: str | Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, root=np.asarray(self.root, dtype=np.str_), paths_train=self.paths_train,
                     paths_test=self.paths_test, y_train=self.y_train, y_test=self.y_test,
                     class_names=np.asarray(self.class_names, dtype=np.str_),
                     superclass=np.asarray(self.superclass, dtype=np.int64),
                     source_class=np.asarray(self.source_class, dtype=np.int64),
                     image_size=np.asarray(self.image_size, dtype=np.int64))

    def preview(self, per_class: int = 8, max_classes: int = 100, size: int = 64) -> ArrayDataset:
        """Thumbnails (centre-cropped, ``size``²) of the first ``per_class`` training images of the first
        ``max_classes`` classes, as an in-memory dataset for the contact sheet."""
        from PIL import Image

        rows = min(self.num_classes, max_classes)
        xs, ys = [], []
        for c in range(rows):
            for rel in self.paths_train[self.y_train == c][:per_class]:
                img = decode(os.path.join(self.root, rel))
                side = min(img.size)
                left, top = (img.width - side) // 2, (img.height - side) // 2
                img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
                xs.append(np.asarray(img, dtype=np.uint8))
                ys.append(c)
        x = np.stack(xs) if xs else np.zeros((0, size, size, 3), np.uint8)
        return ArrayDataset(x, np.asarray(ys, np.int64), np.zeros((0, size, size, 3), np.uint8),
                            np.zeros(0, np.int64), class_names=list(self.class_names[:rows]))


def load_files_npz(path: str | Path) -> FileDataset:
    """Read and validate a paths ``.npz`` (module docstring); DatasetError names the file and problem."""
    path = Path(path)
    arrays = read_npz_arrays(path)
    missing = [k for k in FILE_KEYS if k not in arrays]
    if missing:
        raise DatasetError(f"dataset file {path} lacks arrays {missing}; a file-backed dataset holds {list(FILE_KEYS)}")
    for split in ("train", "test"):
        p, y = arrays[f"paths_{split}"], arrays[f"y_{split}"]
        if p.ndim != 1 or y.ndim != 1 or len(p) != len(y) or (len(y) and y.min() < 0):
            raise DatasetError(f"dataset file {path}: paths_{split} and y_{split} must be 1-D, equally long, "
                               "with non-negative labels")
    names = [str(s) for s in arrays["class_names"]] if "class_names" in arrays else []
    return FileDataset(root=str(arrays["root"]), paths_train=arrays["paths_train"], y_train=arrays["y_train"],
                       paths_test=arrays["paths_test"], y_test=arrays["y_test"], class_names=names,
                       superclass=arrays.get("superclass"), source_class=arrays.get("source_class"),
                       image_size=int(arrays["image_size"]) if "image_size" in arrays else 224)


def load_prepared(path: str | Path) -> ArrayDataset | FileDataset:
    """A prepared dataset: pixels (:class:`ArrayDataset`, in memory) or paths (:class:`FileDataset`)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"dataset file {path} does not exist (expected a prepared .npz: pixels "
                           "x_train/y_train/x_test/y_test, or paths paths_train/paths_test/y_train/y_test/root)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n.removesuffix(".npy") for n in zf.namelist()}
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"dataset file {path} is not a readable .npz archive: {exc}") from None
    return load_files_npz(path) if "paths_train" in names else load_npz(path)


def relative_to_root(files: Sequence[str | Path], root: str | Path) -> np.ndarray:
    root = os.path.abspath(root)
    return np.asarray([os.path.relpath(os.path.abspath(f), root) for f in files], dtype=np.str_)


def common_root(*folders: str | Path) -> str:
    return os.path.commonpath([os.path.abspath(f) for f in folders])


def cap_per_class(labels: np.ndarray, max_per_class: int | None, seed: int) -> np.ndarray:
    """Sorted indices keeping at most ``max_per_class`` (seeded) samples of each class; all when None."""
    labels = np.asarray(labels)
    if max_per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == c))[:max_per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep)) if keep else np.arange(0)


def select_classes(available: list[str], classes: Any, where: str) -> list[int]:
    """Indices into ``available`` of a ``classes:`` option: None (all), an int N (the first N), or a list of
    names (or integer indices), kept in ``available`` order."""
    if classes is None:
        return list(range(len(available)))
    if isinstance(classes, bool):
        raise DatasetError(f"{where}classes: expected a list of class names or a number, got {classes!r}")
    if isinstance(classes, int):
        if not 1 <= classes <= len(available):
            raise DatasetError(f"{where}classes: {classes} classes requested but {len(available)} are available")
        return list(range(classes))
    if not isinstance(classes, (list, tuple)) or not classes:
        raise DatasetError(f"{where}classes: expected a non-empty list of class names or a number, got {classes!r}")
    index = {name: i for i, name in enumerate(available)}
    out, unknown = set(), []
    for c in classes:
        if isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(available):
            out.add(c)
        elif str(c) in index:
            out.add(index[str(c)])
        else:
            unknown.append(c)
    if unknown:
        shown = ", ".join(available[:8]) + (", …" if len(available) > 8 else "")
        raise DatasetError(f"{where}classes: unknown class(es) {unknown[:5]}; available ({len(available)}): {shown}")
    if len(out) != len(classes):
        raise DatasetError(f"{where}classes: duplicate entries in {classes}")
    return sorted(out)
