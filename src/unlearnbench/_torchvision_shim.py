"""Make ``import torchvision`` (and so ``import timm``) work with the CPU torch wheel.

The registry's torchvision 0.28.0 is a CUDA build. Its ``_meta_registrations`` module registers fake
kernels for ``torchvision::nms`` / ``torchvision::qnms``, which fails with "operator torchvision::nms does
not exist" when the compiled C++ ops could not be loaded (CPU torch). Defining the two schemas ourselves
before the first torchvision import lets it import; unlearnbench never calls these ops (we decode images
with PIL). On a matching CUDA torch/torchvision pair the ops already exist and this module does nothing.

Import this module before ``timm`` or ``torchvision``; ``unlearnbench.models`` (the only place that
imports timm, with ``data/files.py``) does it first.
"""
from __future__ import annotations

import sys

_LIB = None


def install() -> None:
    """Define placeholder ``torchvision::nms``/``qnms`` schemas if torchvision's C++ ops are missing."""
    global _LIB
    if _LIB is not None or "torchvision" in sys.modules:
        return
    import torch

    if hasattr(torch.ops, "torchvision") and _has_op("nms"):
        return
    try:
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    except RuntimeError:  # already defined (the real extension loaded): nothing to do
        return
    _LIB = lib  # keep the Library alive: dropping it unregisters the schemas


def _has_op(name: str) -> bool:
    import torch

    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


install()
