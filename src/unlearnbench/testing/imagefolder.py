"""A fake ImageFolder tree: ``<class>/<image>`` files, one folder per class (PNG or JPEG)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from unlearnbench.testing.base import class_names, coloured_images, fresh, register_fake

__all__ = ["write_imagefolder"]


def write_imagefolder(dest: str | Path, classes: Iterable[str], *, per_class: int = 3, size: int = 24,
                      ext: str = ".png", seed: int = 0) -> Path:
    """``dest/<class>/<i><ext>`` with ``per_class`` images per class (PNG or JPEG by extension)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    dest = Path(dest)
    for label, name in enumerate(classes):
        (dest / name).mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(coloured_images(per_class, size, label, rng)):
            Image.fromarray(img).save(dest / name / f"{name}_{i:04d}{ext}")
    return dest


@register_fake("imagefolder")
def fake_imagefolder(spec: dict[str, Any], root: Path, n_classes: int) -> list[Path]:
    """One tree per folder the spec names (``root``, or ``train`` and ``test``)."""
    names = class_names(spec, "n", n_classes)
    return [write_imagefolder(fresh(root, spec[key]), names, per_class=per_class)
            for key, per_class in (("root", 5), ("train", 3), ("test", 2)) if spec.get(key)]
