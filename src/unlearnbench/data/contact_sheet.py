"""A PNG contact sheet of a dataset: one row per class, its name, and the first training samples."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from unlearnbench.atomic import atomic_path
from unlearnbench.data.arrays import ArrayDataset

PAD = 4          # pixels between cells and around the sheet
MIN_CELL = 64    # images are upscaled (nearest neighbour) by an integer factor to at least this size


class SheetLayout(NamedTuple):
    rows: int          # classes shown
    cell: int          # side of one (upscaled) image, pixels
    zoom: int          # integer upscaling factor
    label_width: int   # width of the name column, pixels
    width: int         # label_width + per_class·(cell + PAD) + PAD
    height: int        # rows·(cell + PAD) + PAD


def sheet_layout(dataset: ArrayDataset, *, per_class: int = 8, max_classes: int | None = None) -> SheetLayout:
    """Geometry of the sheet :func:`write_contact_sheet` draws for these arguments."""
    rows = dataset.num_classes if max_classes is None else min(max_classes, dataset.num_classes)
    h = dataset.x_train.shape[1]
    zoom = max(1, math.ceil(MIN_CELL / h))
    cell = h * zoom
    font = ImageFont.load_default()
    names = [f"{c}: {dataset.class_names[c]}" for c in range(rows)]
    label_w = max([int(math.ceil(font.getlength(n))) for n in names] + [1]) + 2 * PAD
    return SheetLayout(rows, cell, zoom, label_w, label_w + per_class * (cell + PAD) + PAD, rows * (cell + PAD) + PAD)


def write_contact_sheet(dataset: ArrayDataset, path: str | os.PathLike, *, per_class: int = 8,
                        max_classes: int | None = None) -> Path:
    """Write a PNG grid to ``path`` (atomically) and return the path.

    Row ``c`` shows ``"c: class_names[c]"`` then the first ``per_class`` training images of class ``c``
    (empty cells when the class has fewer), upscaled by an integer factor to at least ``MIN_CELL`` pixels.
    The geometry (width ``label_width + per_class·(cell + PAD) + PAD``, height ``rows·(cell + PAD) + PAD``)
    is :func:`sheet_layout`'s.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be an integer >= 1, got {per_class!r}")
    if max_classes is not None and (isinstance(max_classes, bool) or not isinstance(max_classes, int)
                                    or max_classes < 1):
        raise ValueError(f"max_classes must be None or an integer >= 1, got {max_classes!r}")
    path = Path(path)
    rows, cell, _, label_w, width, height = sheet_layout(dataset, per_class=per_class, max_classes=max_classes)
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
    with atomic_path(path) as tmp:  # temp file + rename, mode of a plain open() (unlearnbench.atomic)
        sheet.save(tmp, format="PNG")
    return path
