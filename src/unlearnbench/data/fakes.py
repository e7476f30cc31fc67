"""Tiny stand-ins for the real datasets, in their real on-disk layouts (for tests and preset smoke runs).

Each writer produces the exact layout the adapter reads — CIFAR python pickles (numpy arrays pickled like the
official files, referencing ``numpy.core.multiarray._reconstruct``), ImageFolder class folders of PNG/JPEG
files, DomainNet list files — with a few procedurally coloured images per class. ``python -m
unlearnbench.data.fakes CONFIG [--root DIR]`` writes a stand-in for every dataset (and a placeholder for
``model.pretrained``) that a preset names, under DIR (default: the current folder, where relative preset
paths resolve), so that ``snakemake -n --configfile CONFIG`` can be tried before downloading anything. It
refuses to write where something already exists: it never touches real data.
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
import tarfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np


def _images(n: int, size: int, label: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` size×size RGB uint8 images: a class-coloured square on noise (visibly different per class)."""
    hue = np.array([(label * 67) % 256, (label * 131 + 80) % 256, (label * 29 + 160) % 256], dtype=np.float64)
    x = rng.integers(0, 60, size=(n, size, size, 3)).astype(np.float64)
    lo, hi = size // 4, size - size // 4
    x[:, lo:hi, lo:hi] = 0.7 * hue + 0.3 * x[:, lo:hi, lo:hi]
    return x.clip(0, 255).astype(np.uint8)


def _pickle_like_official(obj: dict[str, Any]) -> bytes:
    """A pickle whose array globals name ``numpy.core.multiarray`` as the official files do.

    Protocol 3: its GLOBAL opcode spells module names as newline-terminated text (safe to rename) and it has a
    native bytes type (protocol 2 from Python 3 would route bytes through ``_codecs.encode``, which the
    official Python-2 files never reference and the restricted unpickler rightly refuses).
    """
    return pickle.dumps(obj, protocol=3).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def write_cifar(dest: str | Path, variant: str = "cifar100", *, train_per_class: int = 3, test_per_class: int = 2,
                seed: int = 0, tar: bool = False) -> Path:
    """A fake ``cifar-10-batches-py/`` or ``cifar-100-python/`` folder (or ``.tar.gz``) under ``dest``.

    CIFAR-100's fine class ``i`` belongs to coarse class ``i % 20`` (5 per coarse class, not contiguous, like
    the real mapping). Returns the folder (or the archive).
    """
    rng = np.random.default_rng(seed)
    n_classes = 100 if variant == "cifar100" else 10
    folder_name = "cifar-100-python" if variant == "cifar100" else "cifar-10-batches-py"
    root = Path(dest)
    folder = root / folder_name
    folder.mkdir(parents=True, exist_ok=True)

    def batch(per_class: int, label: str, shuffle_seed: int) -> dict[str, Any]:
        y = np.repeat(np.arange(n_classes), per_class)
        np.random.default_rng(shuffle_seed).shuffle(y)
        x = np.concatenate([_images(1, 32, int(c), rng) for c in y]) if len(y) else np.zeros((0, 32, 32, 3), np.uint8)
        data = np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(y), 3072))
        out: dict[str, Any] = {"batch_label": label, "data": data, "filenames": [f"img_{i}.png" for i in range(len(y))]}
        if variant == "cifar100":
            out["fine_labels"] = [int(c) for c in y]
            out["coarse_labels"] = [int(c) % 20 for c in y]
        else:
            out["labels"] = [int(c) for c in y]
        return out

    files: dict[str, dict[str, Any]] = {}
    if variant == "cifar100":
        files["train"] = batch(train_per_class, "training batch 1 of 1", 1)
        files["test"] = batch(test_per_class, "testing batch 1 of 1", 2)
        files["meta"] = {"fine_label_names": [f"fine{i:02d}" for i in range(100)],
                         "coarse_label_names": [f"coarse{i:02d}" for i in range(20)]}
    else:
        for i in range(1, 6):  # the training images are spread over 5 batches
            b = batch(train_per_class, f"training batch {i} of 5", 10 + i)
            keep = np.arange(len(b["labels"])) % 5 == i - 1
            b["data"], b["labels"] = b["data"][keep], [c for c, k in zip(b["labels"], keep) if k]
            b["filenames"] = [f for f, k in zip(b["filenames"], keep) if k]
            files[f"data_batch_{i}"] = b
        files["test_batch"] = batch(test_per_class, "testing batch 1 of 1", 20)
        files["batches.meta"] = {"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": 10,
                                 "num_vis": 3072}
    for name, obj in files.items():
        (folder / name).write_bytes(_pickle_like_official(obj))
    if not tar:
        return folder
    archive = root / f"{folder_name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname=folder_name)
    return archive


def write_imagefolder(dest: str | Path, classes: Iterable[str], *, per_class: int = 3, size: int = 24,
                      ext: str = ".png", seed: int = 0) -> Path:
    """``dest/<class>/<i><ext>`` with ``per_class`` images per class (PNG or JPEG by extension)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    dest = Path(dest)
    for label, name in enumerate(classes):
        (dest / name).mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(_images(per_class, size, label, rng)):
            Image.fromarray(img).save(dest / name / f"{name}_{i:04d}{ext}")
    return dest


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
        for i, img in enumerate(_images(train_per_class + test_per_class, size, label, rng)):
            rel = f"{domain}/{name}/{domain}_{label:03d}_{i:06d}.jpg"
            Image.fromarray(img).save(dest / rel, quality=90)
            lines["train" if i < train_per_class else "test"].append(f"{rel} {label}")
    for split, rows in lines.items():
        (dest / f"{domain}_{split}.txt").write_text("\n".join(rows) + "\n")
    return dest


def write_weights(path: str | Path, arch: str | None = None, num_classes: int = 10, **kwargs: Any) -> Path:
    """A state dict of ``arch`` (seeded random init), or, without ``arch``, a one-tensor placeholder that
    passes config validation (a weights file) but fits no model; a safetensors file, or a plain
    ``torch.save`` state dict when the name says PyTorch (``.pth``, ``.pt``, …: checkpoints.TORCH_SUFFIXES)."""
    import torch
    from safetensors.torch import save_file

    from unlearnbench.checkpoints import TORCH_SUFFIXES

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save = ((lambda state: torch.save(state, path)) if path.name.lower().endswith(TORCH_SUFFIXES)
            else (lambda state: save_file(state, str(path))))
    if arch is None:
        save({"placeholder": torch.zeros(1)})
        return path
    from unlearnbench.models import create_model

    torch.manual_seed(0)
    model = create_model(arch, num_classes, **kwargs)
    save({k: v.contiguous() for k, v in model.state_dict().items()})
    return path


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def write_for_spec(spec: dict[str, Any], root: Path, n_classes: int = 12) -> list[Path]:
    """Write a stand-in for one dataset spec (paths resolved under ``root``); returns what was written."""
    kind = spec.get("type")
    written: list[Path] = []

    def fresh(p: str) -> Path:
        target = root / p
        if target.exists():
            raise FileExistsError(f"{target} exists: refusing to write a fake dataset over it")
        return target

    if kind in ("cifar10", "cifar100"):
        target = fresh(spec["path"])
        layout = "cifar-100-python" if kind == "cifar100" else "cifar-10-batches-py"
        if target.name.endswith(".tar.gz"):
            written.append(write_cifar(target.parent, kind, tar=True))
        elif target.name == layout:
            written.append(write_cifar(target.parent, kind))
        else:
            written.append(write_cifar(target, kind))
    elif kind == "imagefolder":
        names = _names("n", max(n_classes, _int(spec.get("classes"))))
        if isinstance(spec.get("classes"), list):
            names = [str(c) for c in spec["classes"]]
        for key, per_class in (("root", 5), ("train", 3), ("test", 2)):
            if spec.get(key):
                written.append(write_imagefolder(fresh(spec[key]), names, per_class=per_class))
    elif kind == "domainnet":
        base = fresh(spec["root"])
        names = (_names("c", max(n_classes, _int(spec.get("classes")))) if not isinstance(spec.get("classes"), list)
                 else [str(c) for c in spec["classes"]])
        written.append(write_domainnet(base, spec["domain"], names))
    return written


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
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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


if __name__ == "__main__":
    sys.exit(main())
