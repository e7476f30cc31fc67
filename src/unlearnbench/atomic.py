"""Atomic file writes: write to a temp file in the destination folder, fsync, then ``os.replace``.

A killed job therefore never leaves a file that looks complete: either the old file (or none) exists, or
the whole new one. A data file with a JSON sidecar (checkpoints, feature caches) is written as one unit by
:func:`atomic_pair`: the sidecar records the data file's SHA-256, is renamed first, the data file last;
:func:`pair_matches` tells a reader whether the two belong together (a writer killed between the renames
leaves a sidecar describing another file).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``, else removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_pair(path: str | Path, sidecar: str | Path, meta: dict[str, Any], *, digest_key: str,
                suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path for the data file ``path``; on success write ``sidecar`` (``meta`` plus
    ``digest_key``: the data file's SHA-256) and rename it into place, then rename the data file last."""
    with atomic_path(path, suffix) as tmp:
        yield tmp
        write_json(sidecar, {**meta, digest_key: file_sha256(tmp)})


def pair_matches(path: str | Path, meta: dict[str, Any], digest_key: str) -> bool:
    """Whether the data file ``path`` is the one ``meta`` (its sidecar) was written with; True for sidecars
    that predate the digest."""
    if not meta.get(digest_key):
        return True
    return Path(path).is_file() and file_sha256(path) == meta[digest_key]


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
