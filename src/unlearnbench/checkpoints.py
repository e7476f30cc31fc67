"""Checkpoints: ``safetensors`` weights + a JSON sidecar. Loading never unpickles.

``save_checkpoint(path, model, meta)`` writes ``path`` (``.safetensors``) and ``path.json`` (arch,
num_classes, seed, config hash, data hashes, training curve, wall time, status, …) as **one unit**: both
are written to temporary names, the sidecar records the SHA-256 of the weights file (``weights_sha256``),
then the sidecar is renamed into place and the weights last. A writer killed between the two renames
leaves a sidecar that does not describe the weights beside it (or no weights at all), and every reader
(:func:`read_meta`, :func:`load_checkpoint`) rejects such a pair with a :class:`CheckpointError` naming
the file — a half-written checkpoint never looks complete. ``load_checkpoint`` builds the model through the
timm factory.

Weights trained elsewhere (``model.pretrained``, ``retrain.pretrained``, the ``external`` method) are read by
:func:`read_weights`: a ``.safetensors`` file, or a PyTorch ``.pth``/``.pt`` file loaded **only** with
``torch.load(path, map_location="cpu", weights_only=True)`` — tensors and plain containers, never a pickled
class or function: such a file is refused with a :class:`CheckpointError` naming it, and nothing in it runs.
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
    """Rebuild the model from the sidecar's arch/num_classes and load the weights (strict); a sidecar's
    ``input_norm`` (imported weights) marks the model's input normalisation (``models.set_input_norm``)."""
    from unlearnbench.models import create_model, set_input_norm

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
    set_input_norm(model, meta.get("input_norm"))  # imported weights: their pretrained_cfg's mean/std
    return model.to(device), meta


#: file names read as PyTorch (``torch.save``) files; any other name is read as safetensors unless its first
#: bytes are a zip archive's or a pickle's (what ``torch.save`` writes)
TORCH_SUFFIXES = (".pth", ".pt", ".pth.tar", ".bin", ".ckpt")
#: where training scripts put the state dict inside a checkpoint dict, in the order tried: timm's
#: ``load_state_dict`` looks for ``state_dict`` then ``model`` (SalUn's and SCRUB's scripts save
#: ``{"state_dict": …}``); ``net`` is the pytorch-cifar convention. EMA copies are not preferred.
STATE_DICT_KEYS = ("state_dict", "model", "net")
EXPECTED = "a .safetensors file or a PyTorch .pth/.pt state dict"


def weights_format(path: str | Path) -> str:
    """``"safetensors"`` or ``"torch"``: by the file name (:data:`TORCH_SUFFIXES`, ``.safetensors``), else
    by the first bytes (``torch.save`` writes a zip archive, or a pickle in its legacy format)."""
    name = Path(path).name.lower()
    if name.endswith(".safetensors"):
        return "safetensors"
    if name.endswith(TORCH_SUFFIXES):
        return "torch"
    with open(path, "rb") as fh:
        head = fh.read(4)
    return "torch" if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80" else "safetensors"


def _torch_load(path: Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``: tensors and plain containers only.

    ``argparse.Namespace`` (the ``args`` timm's and many training scripts store beside the weights) is
    allowlisted as timm's own loader does: a plain attribute bag, no code. A zip-format file is memory-mapped,
    so validating a large file reads little more than its index. A file that needs any other global (a
    pickled class or function) is refused: the unpickler stops at the global, before anything is built."""
    import argparse
    import pickle

    import torch

    with open(path, "rb") as fh:
        zipped = fh.read(4).startswith(b"PK\x03\x04")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as exc:
        try:  # a static scan of the pickle's GLOBAL opcodes (torch's own): names what it would import
            unsafe = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        except Exception:  # noqa: BLE001 - legacy (non-zip) files cannot be scanned; the refusal stands
            unsafe = []
        needs = f"needs {', '.join(unsafe)}" if unsafe else f"needs code ({str(exc).splitlines()[-1].strip()[:200]})"
        raise CheckpointError(
            f"weights file {path} is not a weights-only state dict: unpickling it {needs}, and only tensors and "
            "plain containers are loaded (torch.load weights_only=True); it was refused and nothing in it ran. "
            "Re-save the weights alone (torch.save(model.state_dict(), path), or safetensors) where the file "
            "was made") from None
    except (RuntimeError, OSError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise CheckpointError(f"weights file {path} is not a readable PyTorch state dict: "
                              f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__}"
                              ) from None


def _is_state_dict(obj: Any) -> bool:
    import torch

    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in obj.items())


def _unwrap(obj: Any, path: Path, where: str = "") -> tuple[dict[str, "torch.Tensor"], str | None]:
    """The state dict inside a loaded checkpoint: the object itself, or the first of :data:`STATE_DICT_KEYS`
    holding one (nested wrappers followed: ``{"model": {"state_dict": …}}``). Returns it and the key path."""
    if _is_state_dict(obj):
        return dict(obj), where or None
    if isinstance(obj, dict):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), dict) and len(where.split(".")) < 3:
                try:
                    return _unwrap(obj[key], path, f"{where}.{key}" if where else key)
                except CheckpointError:
                    continue
        found = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(obj.items())[:8])
        raise CheckpointError(f"weights file {path} holds no state dict{' under ' + repr(where) if where else ''}: "
                              f"expected tensors by name, or a dict of them under one of {list(STATE_DICT_KEYS)}; "
                              f"found {{{found}{', …' if len(obj) > 8 else ''}}}")
    raise CheckpointError(f"weights file {path} holds a {type(obj).__name__}, not a state dict (tensors by name, "
                          f"or a dict of them under one of {list(STATE_DICT_KEYS)})")


def read_weights(path: str | Path) -> tuple[dict[str, "torch.Tensor"], dict[str, Any]]:
    """The tensors of a weights file made anywhere (module docstring) and ``{"format", "wrapper"}``: which
    reader, and the key of the checkpoint dict they were found under (None: the file is the state dict).
    Keys are returned as stored (:func:`clean_keys` strips wrapper prefixes). Raises :class:`CheckpointError`
    naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist (expected {EXPECTED})")
    if weights_format(path) == "torch":
        state, wrapper = _unwrap(_torch_load(path), path)
        return state, {"format": "torch", "wrapper": wrapper}
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"weights file {path} is not a readable safetensors file: {exc}") from None
    if not state:
        raise CheckpointError(f"weights file {path} holds no tensors")
    return state, {"format": "safetensors", "wrapper": None}


def clean_keys(state: dict[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
    """Strip the wrapper prefixes of saved keys with timm's own ``clean_state_dict`` (``module.`` of
    DataParallel/DDP, ``_orig_mod.`` of ``torch.compile``, in either order)."""
    import unlearnbench._torchvision_shim  # noqa: F401  (before timm)
    from timm.models import clean_state_dict

    return clean_state_dict(state)


def check_weights_file(path: str | Path) -> list[str]:
    """Raise :class:`CheckpointError` unless ``path`` is a readable weights file (:func:`read_weights`);
    return its tensor names.

    Cheap: of a safetensors file only the header is read; a PyTorch zip file is memory-mapped under
    ``weights_only=True`` (its tensors are not read, but a pickled class is refused here already).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist (expected {EXPECTED})")
    if weights_format(path) == "torch":
        return list(_unwrap(_torch_load(path), path)[0])
    try:
        with safe_open(str(path), framework="pt") as fh:
            keys = list(fh.keys())
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"weights file {path} is not a readable safetensors file: {exc}") from None
    if not keys:
        raise CheckpointError(f"weights file {path} holds no tensors")
    return keys


def weights_provenance(path: str | Path, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a sidecar records of an imported weights file: its path, SHA-256 (full), format and wrapper key."""
    from unlearnbench.provenance import file_hash

    return {"path": str(path), "sha256": file_hash(path, length=64), **(info or {})}


def _classifier_prefix(model: torch.nn.Module) -> str:
    head = model.get_classifier()
    for name, module in model.named_modules():
        if module is head:
            return name
    raise CheckpointError(f"cannot locate the classifier of {type(model).__name__}")


def load_pretrained_weights(model: torch.nn.Module, path: str | Path, *, reset_head: bool = True) -> dict[str, Any]:
    """Load a weights file made anywhere (:func:`read_weights`) into ``model`` (built with the upstream class
    count), with timm's key cleaning (:func:`clean_keys`: ``module.``/``_orig_mod.`` prefixes).

    When the file's classifier does not match the model's (another class count), the classifier is left
    freshly initialised (``head: "reset"``) and every other tensor must match exactly; otherwise the whole
    state dict loads strictly (``head: "kept"``). ``reset_head=False`` (a retrained reference or an unlearned
    model: same architecture *and* class count) makes a classifier mismatch an error too.
    Returns ``{"head": "kept"|"reset", "weights_num_classes": …, "format", "wrapper"}``; raises
    :class:`CheckpointError` naming the file and the mismatching keys.
    """
    raw, info = read_weights(path)
    state = clean_keys(raw)
    own = model.state_dict()
    prefix = _classifier_prefix(model)
    head_keys = {k for k in own if prefix and k.startswith(prefix + ".")}
    file_head = {k: v for k, v in state.items() if k in head_keys}
    reset = not head_keys or any(k not in file_head or file_head[k].shape != own[k].shape for k in head_keys)
    weights_classes = next((int(v.shape[0]) for k, v in file_head.items() if k.endswith("weight")), None)
    if reset and not reset_head:
        theirs = f"a {weights_classes}-class classifier" if weights_classes is not None else "no classifier " + repr(prefix)
        raise CheckpointError(f"weights file {path} does not fit {type(model).__name__} with "
                              f"{model.get_classifier().out_features} classes: it has {theirs}; expected the "
                              "same architecture and class count as the original model")
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
    return {"head": "reset" if reset else "kept", "weights_num_classes": weights_classes, **info}


def expand_weights_path(template: str, *, scenario: str, seed: int) -> str:
    """A per-run weights path from a template naming ``{scenario}`` and/or ``{seed}`` (``str.format``); raises
    ``ValueError`` for any other field (check a template once with :func:`check_template`)."""
    check_template(template)
    return template.format(scenario=scenario, seed=seed)


def check_template(template: str) -> None:
    """Raise ``ValueError`` unless ``template`` is a path whose only format fields are ``{scenario}`` and
    ``{seed}`` (braces in a file name are written ``{{``/``}}``)."""
    import string

    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"path template {template!r} is malformed: {exc}") from None
    bad = sorted(fields - {"scenario", "seed"})
    if bad or not template:
        raise ValueError(f"path template {template!r}: only {{scenario}} and {{seed}} may be filled in, "
                         f"got {bad or 'an empty path'}")
