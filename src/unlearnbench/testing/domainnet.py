"""A fake DomainNet domain: ``<domain>/<class>/*.jpg`` and the official ``<domain>_{train,test}.txt`` lists."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from unlearnbench.testing.base import class_names, coloured_images, fresh, register_fake

__all__ = ["write_domainnet"]


def write_domainnet(dest: str | Path, domain: str, classes: Iterable[str], *, train_per_class: int = 3,
                    test_per_class: int = 2, size: int = 24, seed: int = 0) -> Path:
    """``dest/<domain>/<class>/*.jpg`` plus ``dest/<domain>_{train,test}.txt`` in the official format."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    dest = Path(dest)
    lines = {"train": [], "test": []}
    for label, name in enumerate(classes):
        folder = dest / domain / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(coloured_images(train_per_class + test_per_class, size, label, rng)):
            rel = f"{domain}/{name}/{domain}_{label:03d}_{i:06d}.jpg"
            Image.fromarray(img).save(dest / rel, quality=90)
            lines["train" if i < train_per_class else "test"].append(f"{rel} {label}")
    for split, rows in lines.items():
        (dest / f"{domain}_{split}.txt").write_text("\n".join(rows) + "\n")
    return dest


@register_fake("domainnet")
def fake_domainnet(spec: dict[str, Any], root: Path, n_classes: int) -> list[Path]:
    """The spec's ``domain`` under its ``root``."""
    return [write_domainnet(fresh(root, spec["root"]), spec["domain"], class_names(spec, "c", n_classes))]
