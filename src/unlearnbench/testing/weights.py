"""A fake weights file: a seeded state dict of an architecture, or a placeholder that only passes validation."""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_weights"]


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
