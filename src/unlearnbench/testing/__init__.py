"""Tiny stand-ins for the real datasets, in their real on-disk layouts (for tests and preset smoke runs).

Test scaffolding, never imported by a stage. One module per dataset adapter writes the exact layout that
adapter reads — CIFAR python pickles (:mod:`.cifar`: numpy arrays pickled like the official files), ImageFolder
class folders of PNG/JPEG files (:mod:`.imagefolder`), DomainNet list files (:mod:`.domainnet`) — with a few
procedurally coloured images per class, and registers itself for its dataset types (:data:`.base.FAKES`);
:mod:`.weights` writes weights files. ``python -m unlearnbench.testing CONFIG [--root DIR]`` writes a stand-in
for every dataset (and a placeholder for ``model.pretrained``) that a preset names, under DIR (default: the
current folder, where relative preset paths resolve), so that ``snakemake -n --configfile CONFIG`` can be
tried before downloading anything. It refuses to write where something already exists: it never touches
real data.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from unlearnbench.testing import cifar, domainnet, imagefolder  # noqa: F401  (register the fakes)
from unlearnbench.testing.base import FAKES
from unlearnbench.testing.cifar import write_cifar
from unlearnbench.testing.domainnet import write_domainnet
from unlearnbench.testing.imagefolder import write_imagefolder
from unlearnbench.testing.weights import write_weights

__all__ = ["FAKES", "main", "write_cifar", "write_domainnet", "write_for_config", "write_for_spec",
           "write_imagefolder", "write_weights"]


def write_for_spec(spec: dict[str, Any], root: Path, n_classes: int = 12) -> list[Path]:
    """Write a stand-in for one dataset spec (paths resolved under ``root``); returns what was written. A type
    without a fake (the procedural and ``.npz`` sets need no files) writes nothing."""
    writer = FAKES.get(spec.get("type"))
    return writer(spec, Path(root), n_classes) if writer else []


def write_for_config(cfg: dict[str, Any], root: str | Path = ".", n_classes: int = 12,
                     skip_existing: bool = False) -> list[Path]:
    """Stand-ins for every dataset and the pretrained weights file a config names (see module docstring).
    ``skip_existing``: leave a dataset whose path already exists alone (several presets sharing a folder)
    instead of refusing; nothing is ever written over an existing path."""
    root = Path(root)
    data = cfg.get("data", {})
    # the upstream stand-in needs more classes than the largest class-forgetting scenario
    upstream_classes = max([n_classes] + [int(s.get("k", 0)) + 2 for s in cfg.get("scenarios") or []])
    specs = [(data.get("upstream", {}), upstream_classes)]
    specs += [(spec, n_classes) for spec in (data.get("downstream") or {}).values()]
    written: list[Path] = []
    seen: set[str] = set()
    for spec, classes in specs:
        key = repr(sorted((k, str(v)) for k, v in spec.items() if k in ("path", "root", "train", "test")))
        if key in seen:  # e.g. the CIFAR-100 held-out part reads the upstream folder
            continue
        seen.add(key)
        try:
            written += write_for_spec(spec, root, classes)
        except FileExistsError:
            if not skip_existing:
                raise
    weights = (cfg.get("model") or {}).get("pretrained")
    if weights and not (root / weights).exists():
        written.append(write_weights(root / weights))
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m unlearnbench.testing CONFIG [--root DIR] [--classes N]``: prints what it wrote; 1 when a
    path exists."""
    import yaml

    parser = argparse.ArgumentParser(prog="python -m unlearnbench.testing", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a preset, e.g. configs/imagenet.yaml")
    parser.add_argument("--root", default=".", help="folder the preset's relative paths resolve against")
    parser.add_argument("--classes", type=int, default=12, help="classes per fake image-folder dataset")
    args = parser.parse_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text()) or {}
    try:
        written = write_for_config(cfg, args.root, args.classes)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(os.path.relpath(path, args.root))
    return 0
