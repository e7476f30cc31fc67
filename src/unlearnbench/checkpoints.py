"""Checkpoints: ``safetensors`` weights + a JSON sidecar. Loading never unpickles.

``save_checkpoint(path, model, meta)`` writes ``path`` (``.safetensors``) and ``path.json`` (arch,
num_classes, seed, config hash, data hashes, training curve, wall time, status, …) as **one unit**: both
are written to temporary names, the sidecar records the SHA-256 of the weights file (``weights_sha256``),
then the sidecar is renamed into place and the weights last. A writer killed between the two renames
leaves a sidecar that does not describe the weights beside it (or no weights at all), and every reader
(:func:`read_meta`, :func:`load_checkpoint`) rejects such a pair with a :class:`CheckpointError` naming
the file — a half-written checkpoint never looks complete. ``load_checkpoint`` builds the model through the
timm factory.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError

if TYPE_CHECKING:  # torch is imported only by the functions that build or load a model
    import torch

from unlearnbench.atomic import atomic_pair, pair_matches

REQUIRED_META = ("arch", "num_classes")
WEIGHTS_DIGEST = "weights_sha256"


class CheckpointError(ValueError):
    """A checkpoint or its sidecar is missing, corrupt or inconsistent; the message names the file."""


def sidecar_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json") if path.suffix != ".json" else path


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"checkpoint metadata lacks {missing}")
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_pair(path, sidecar_path(path), meta, digest_key=WEIGHTS_DIGEST, suffix=".tmp.safetensors") as tmp:
        # one metadata key: safetensors writes its metadata map in hash order, so two keys would make two
        # saves of the same weights differ in bytes (the sidecar JSON is the full record)
        header = json.dumps({"arch": str(meta["arch"]), "num_classes": int(meta["num_classes"])}, sort_keys=True)
        save_file(state, str(tmp), metadata={"unlearnbench": header})


def read_meta(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """The sidecar of checkpoint ``path``; with ``verify`` (default) also check that it describes the weights
    file beside it (``weights_sha256``; sidecars written before it was recorded are accepted)."""
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
    weights = side.with_name(side.name.removesuffix(".json"))
    if verify and not pair_matches(weights, meta, WEIGHTS_DIGEST):
        raise CheckpointError(f"checkpoint {weights} does not match its sidecar {side.name} (weights "
                              f"{'missing' if not weights.is_file() else 'of another write'}): a write was "
                              "interrupted; rerun the job that makes it")
    return meta


def load_state(path: str | Path, *, sha256: str | None = None) -> dict[str, "torch.Tensor"]:
    """The tensors of a safetensors file, read once; with ``sha256`` (a sidecar's ``weights_sha256``) the
    bytes read must have that digest (the pair check of :func:`read_meta`, without a second read)."""
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    raw = path.read_bytes()
    if sha256 and hashlib.sha256(raw).hexdigest() != sha256:
        raise CheckpointError(f"checkpoint {path} does not match its sidecar {path.name}.json (weights of "
                              "another write): a write was interrupted; rerun the job that makes it")
    try:
        return load(raw)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {exc}") from None


def load_checkpoint(path: str | Path, device: "str | torch.device" = "cpu") -> tuple["torch.nn.Module", dict[str, Any]]:
    """Rebuild the model from the sidecar's arch/num_classes and load the weights (strict)."""
    from unlearnbench.models import create_model

    meta = read_meta(path, verify=False)  # the pair is checked on the bytes load_state reads anyway
    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint {path} does not match its sidecar {Path(path).name}.json (weights "
                              "missing): a write was interrupted; rerun the job that makes it")
    state = load_state(path, sha256=meta.get(WEIGHTS_DIGEST))
    model = create_model(meta["arch"], num_classes=int(meta["num_classes"]), **meta.get("model_kwargs", {}))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match architecture {meta['arch']}: {exc}") from None
    return model.to(device), meta


def check_weights_file(path: str | Path) -> list[str]:
    """Raise :class:`CheckpointError` unless ``path`` is an existing safetensors file; return its tensor names.

    Only the header is read (no tensor data), so validating a 100 MB ResNet-50 file is instantaneous.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist (expected a .safetensors state dict)")
    try:
        with safe_open(str(path), framework="pt") as fh:
            keys = list(fh.keys())
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"weights file {path} is not a readable safetensors file: {exc}") from None
    if not keys:
        raise CheckpointError(f"weights file {path} holds no tensors")
    return keys


def _classifier_prefix(model: torch.nn.Module) -> str:
    head = model.get_classifier()
    for name, module in model.named_modules():
        if module is head:
            return name
    raise CheckpointError(f"cannot locate the classifier of {type(model).__name__}")


def load_pretrained_weights(model: torch.nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a pretrained safetensors state dict into ``model`` (built with the upstream class count).

    Keys may carry a ``module.`` (DataParallel) prefix. When the file's classifier does not match the
    model's (another class count), the classifier is left freshly initialised (``head: "reset"``) and every
    other tensor must match exactly; otherwise the whole state dict loads strictly (``head: "kept"``).
    Returns ``{"head": "kept"|"reset", "weights_num_classes": …}``; raises :class:`CheckpointError` naming
    the file and the mismatching keys.
    """
    check_weights_file(path)
    state = {k.removeprefix("module."): v for k, v in load_state(path).items()}
    own = model.state_dict()
    prefix = _classifier_prefix(model)
    head_keys = {k for k in own if prefix and k.startswith(prefix + ".")}
    file_head = {k: v for k, v in state.items() if k in head_keys}
    reset = not head_keys or any(k not in file_head or file_head[k].shape != own[k].shape for k in head_keys)
    weights_classes = next((int(v.shape[0]) for k, v in file_head.items() if k.endswith("weight")), None)
    if reset:
        state = {k: v for k, v in state.items() if k not in head_keys}
    missing = sorted(set(own) - set(state) - (head_keys if reset else set()))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise CheckpointError(f"weights file {path} does not fit {type(model).__name__}: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}, shape mismatch {wrong[:5]}"
                              + (" …" if len(missing) + len(unexpected) + len(wrong) > 15 else ""))
    model.load_state_dict(state, strict=not reset)
    return {"head": "reset" if reset else "kept", "weights_num_classes": weights_classes}
