"""A PNG contact sheet of a dataset: one row per class, its name, and the first training samples."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from unlearnbench.data.arrays import ArrayDataset

PAD = 4          # pixels between cells and around the sheet
MIN_CELL = 64    # images are upscaled (nearest neighbour) by an integer factor to at least this size


def sheet_layout(dataset: ArrayDataset, *, per_class: int = 8, max_classes: int | None = None
                 ) -> tuple[int, int, int, int]:
    """``(rows, cell, label_width, zoom)`` of the sheet :func:`write_contact_sheet` draws."""
    rows = dataset.num_classes if max_classes is None else min(max_classes, dataset.num_classes)
    h = dataset.x_train.shape[1]
    zoom = max(1, math.ceil(MIN_CELL / h))
    font = ImageFont.load_default()
    names = [f"{c}: {dataset.class_names[c]}" for c in range(rows)]
    label_w = max([int(math.ceil(font.getlength(n))) for n in names] + [1]) + 2 * PAD
    return rows, h * zoom, label_w, zoom


def write_contact_sheet(dataset: ArrayDataset, path: str | os.PathLike, *, per_class: int = 8,
                        max_classes: int | None = None) -> Path:
    """Write a PNG grid to ``path`` (atomically) and return the path.

    Row ``c`` shows ``"c: class_names[c]"`` then the first ``per_class`` training images of class ``c``
    (empty cells when the class has fewer). Size: width ``label_width + per_class·(cell + PAD) + PAD``,
    height ``rows·(cell + PAD) + PAD`` (see :func:`sheet_layout`).
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be an integer >= 1, got {per_class!r}")
    if max_classes is not None and (isinstance(max_classes, bool) or not isinstance(max_classes, int)
                                    or max_classes < 1):
        raise ValueError(f"max_classes must be None or an integer >= 1, got {max_classes!r}")
    path = Path(path)
    rows, cell, label_w, zoom = sheet_layout(dataset, per_class=per_class, max_classes=max_classes)
    width = label_w + per_class * (cell + PAD) + PAD
    height = rows * (cell + PAD) + PAD
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    x, y = dataset.x_train, dataset.y_train
    for c in range(rows):
        top = PAD + c * (cell + PAD)
        draw.text((PAD, top + cell // 2 - 6), f"{c}: {dataset.class_names[c]}", fill=(0, 0, 0), font=font)
        for i, idx in enumerate(np.flatnonzero(y == c)[:per_class]):
            img = x[idx]
            if img.shape[-1] == 1:
                img = np.repeat(img, 3, axis=-1)
            tile = Image.fromarray(np.ascontiguousarray(img)).resize((cell, cell), Image.NEAREST)
            sheet.paste(tile, (label_w + i * (cell + PAD), top))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            sheet.save(fh, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
