"""Atomic file writes: write to a temp file in the destination folder, fsync, then ``os.replace``.

A killed job therefore never leaves a file that looks complete: either the old file (or none) exists, or
the whole new one. A data file with a JSON sidecar (checkpoints, feature caches) is written as one unit by
:func:`atomic_pair`: the sidecar records the data file's SHA-256, is renamed first, the data file last;
:func:`pair_matches` tells a reader whether the two belong together (a writer killed between the renames
leaves a sidecar describing another file).

Modes: ``tempfile.mkstemp`` creates its file 0600 whatever the umask; every file renamed into place here gets
the mode ``open()`` would have given it (``0o666 & ~umask``: 0644 under the usual umask 022), so outputs
on a shared file system or pushed with DVC stay readable by the group as usual (:func:`default_file_mode`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def current_umask() -> int:
    """The process umask, read without changing it where possible (``/proc/self/status`` on Linux):
    ``os.umask(x)`` sets it process-wide, which would race with jobs creating files in other threads."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # fallback (not Linux): set and restore at once
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def publish(tmp: str | Path, path: str | Path) -> None:
    """Rename the finished temporary file ``tmp`` to ``path`` with the mode of a plain ``open()``
    (:func:`default_file_mode`) instead of ``mkstemp``'s 0600."""
    os.chmod(tmp, default_file_mode())
    os.replace(tmp, path)


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
        publish(tmp_path, path)
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
