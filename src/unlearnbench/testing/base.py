"""What every fake dataset writer shares: the registry by dataset ``type``, the never-overwrite rule, class
names, and the procedurally coloured images."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

#: dataset ``type`` → writer of a stand-in for one spec: ``(spec, root, n_classes) -> written paths``
FAKES: dict[str, Callable[[dict[str, Any], Path, int], list[Path]]] = {}


def register_fake(*types: str) -> Callable:
    """Register a spec writer for the dataset types it fakes (one module per adapter)."""
    def register(writer: Callable[[dict[str, Any], Path, int], list[Path]]) -> Callable:
        for kind in types:
            if kind in FAKES:
                raise ValueError(f"a fake of dataset type {kind!r} is already registered")
            FAKES[kind] = writer
        return writer

    return register


def fresh(root: Path, path: str) -> Path:
    """``root / path``, refused when it exists: a fake is never written over anything (real data included)."""
    target = root / path
    if target.exists():
        raise FileExistsError(f"{target} exists: refusing to write a fake dataset over it")
    return target


def class_names(spec: dict[str, Any], prefix: str, n_classes: int) -> list[str]:
    """The spec's class list when it names one, else ``prefix0000, …`` for at least ``n_classes`` classes (more
    when the spec asks for the first N)."""
    classes = spec.get("classes")
    if isinstance(classes, list):
        return [str(c) for c in classes]
    n = classes if isinstance(classes, int) and not isinstance(classes, bool) else 0
    return [f"{prefix}{i:04d}" for i in range(max(n_classes, n))]


def coloured_images(n: int, size: int, label: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` size×size RGB uint8 images: a class-coloured square on noise (visibly different per class)."""
    hue = np.array([(label * 67) % 256, (label * 131 + 80) % 256, (label * 29 + 160) % 256], dtype=np.float64)
    x = rng.integers(0, 60, size=(n, size, size, 3)).astype(np.float64)
    lo, hi = size // 4, size - size // 4
    x[:, lo:hi, lo:hi] = 0.7 * hue + 0.3 * x[:, lo:hi, lo:hi]
    return x.clip(0, 255).astype(np.uint8)
