"""Checkpoints: ``safetensors`` weights + a JSON sidecar. Loading never unpickles.

``save_checkpoint(path, model, meta)`` writes ``path`` (``.safetensors``) and ``path.json`` (arch,
num_classes, seed, config hash, data hashes, training curve, wall time, status, …) atomically, sidecar
last, so a checkpoint whose sidecar exists is complete. ``load_checkpoint`` validates both and builds the
model through the timm factory.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from unlearnbench.atomic import atomic_path, write_json

REQUIRED_META = ("arch", "num_classes")


class CheckpointError(ValueError):
    """A checkpoint or its sidecar is missing, corrupt or inconsistent; the message names the file."""


def sidecar_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json") if path.suffix != ".json" else path


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"checkpoint metadata lacks {missing}")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, suffix=".tmp.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"arch": str(meta["arch"]), "num_classes": str(meta["num_classes"])})
    write_json(sidecar_path(path), meta)


def read_meta(path: str | Path) -> dict[str, Any]:
    side = sidecar_path(path)
    if not side.is_file():
        raise CheckpointError(f"checkpoint sidecar {side} is missing (expected JSON with {list(REQUIRED_META)})")
    try:
        meta = json.loads(side.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint sidecar {side} is not valid JSON: {exc}") from None
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint sidecar {side} lacks keys {missing}")
    return meta


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {exc}") from None


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model from the sidecar's arch/num_classes and load the weights (strict)."""
    from unlearnbench.models import create_model

    meta = read_meta(path)
    state = load_state(path)
    model = create_model(meta["arch"], num_classes=int(meta["num_classes"]), **meta.get("model_kwargs", {}))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match architecture {meta['arch']}: {exc}") from None
    return model.to(device), meta
