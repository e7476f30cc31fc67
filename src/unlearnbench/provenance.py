"""Hashes and provenance: what a result row cites so that a number can be traced to its inputs.

- ``config_hash``: SHA-256 of the canonical JSON of a config (sub)tree.
- ``file_hash``: SHA-256 of a file's bytes (datasets, forget sets).
- ``code_hash``: SHA-256 of the source of package modules (the whole package for ``code_version``'s
  fallback). Rules' ``code`` params come from the import graph instead (:mod:`unlearnbench.codegraph`).
- ``code_version``: ``git describe`` of the checkout when available, plus the package version.
- ``package_versions`` / ``device_name``: the software and hardware a number was produced on.
"""
from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

PACKAGE_DIR = Path(__file__).resolve().parent
TRACKED_PACKAGES = ("torch", "timm", "numpy", "scikit-learn", "pandas", "pyarrow", "safetensors", "snakemake")


def config_hash(obj: Any, length: int = 16) -> str:
    """Hash of the canonical (sorted-key) JSON of ``obj``."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def file_hash(path: str | Path, length: int = 16) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def code_hash(*modules: str, files: Iterable[str | Path] = (), length: int = 16) -> str:
    """Hash of package source files/folders given relative to the package (``"training"``, ``"methods/scrub"``),
    plus any other ``files`` (e.g. the rule's workflow script, hashed by name and content).

    A folder hashes every ``.py`` below it; a bare name resolves to ``name.py`` or the folder ``name``.
    """
    h = hashlib.sha256()
    for path in sorted(_module_files(modules)):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    for path in sorted(Path(f) for f in files):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:length]


def _module_files(modules: Iterable[str]) -> set[Path]:
    files: set[Path] = set()
    for name in modules:
        base = PACKAGE_DIR / name
        if base.with_suffix(".py").is_file():
            files.add(base.with_suffix(".py"))
        elif base.is_dir():
            files.update(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)
        elif base.is_file():
            files.add(base)
        else:
            raise FileNotFoundError(f"code_hash: no module {name!r} under {PACKAGE_DIR}")
    return files


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    from unlearnbench import __version__

    try:
        desc = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=PACKAGE_DIR,
                              capture_output=True, text=True, timeout=10)
        if desc.returncode == 0 and desc.stdout.strip():
            return f"{__version__}+g{desc.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"{__version__}+code.{code_hash('.')}"


@functools.lru_cache(maxsize=1)
def package_versions() -> str:
    """``name==version`` for the packages that determine numbers, ``;``-joined (plus Python)."""
    parts = [f"python=={platform.python_version()}"]
    for name in TRACKED_PACKAGES:
        try:
            parts.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ";".join(parts)


def device_name(device: Any) -> str:
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()}:{torch.get_num_threads()}threads"
