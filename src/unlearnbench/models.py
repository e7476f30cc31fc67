"""Model factory over timm, plus small-input (32×32) architectures registered into timm's own registry.

Any timm architecture works by name (``create_model("resnet50", num_classes=100)``). The CIFAR-style
ResNets of He et al. 2016 (§4.2: 3 stages of 2n basic blocks, 16/32/64 channels, stride-1 3×3 stem) are
registered as ``cifar_resnet{8,14,20,32}`` with ``@register_model`` and implement timm's uniform API:
``forward_features``, ``forward_head(pre_logits=True)``, ``forward_intermediates``, ``get_classifier``,
``reset_classifier``, ``feature_info``.

``feature_layers(model)`` names the layers unlearnbench extracts: every stage (global-average-pooled)
plus ``pre_logits``; ``extract(model, x, layers)`` returns them with the logits in one forward pass, and
``forward_layers(..., maps=stages)`` also the stages' unpooled activation maps from that same pass.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

import unlearnbench._torchvision_shim  # noqa: F401  (before timm)
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models import register_model

from unlearnbench.archs import CIFAR_RESNETS


class ModelError(ValueError):
    """Unknown architecture or layer; the message lists what is valid."""


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """Small-input ResNet with timm's feature API: a 3×3 stride-1 stem, one stage of basic blocks per width
    (stride 2 from the second stage on), global average pooling, one linear head — He et al.'s CIFAR ResNets
    (§4.2) and the CIFAR ResNet-18 of the unlearning literature (:data:`unlearnbench.archs.CIFAR_RESNETS`)."""

    def __init__(self, blocks_per_stage: int | tuple[int, ...] = 3, widths: tuple[int, ...] = (16, 32, 64),
                 num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0, **_: object):
        super().__init__()
        self.num_classes = num_classes
        self.num_features = self.head_hidden_size = widths[-1]
        self.drop_rate = drop_rate
        self.stem = nn.Sequential(nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        stages, in_ch = [], widths[0]
        self.feature_info = []
        blocks = (blocks_per_stage,) * len(widths) if isinstance(blocks_per_stage, int) else tuple(blocks_per_stage)
        if len(blocks) != len(widths):
            raise ModelError(f"blocks_per_stage {blocks} and widths {widths} differ in length")
        for i, (w, n_blocks) in enumerate(zip(widths, blocks)):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(in_ch if j == 0 else w, w, stride if j == 0 else 1) for j in range(n_blocks)]
            stages.append(nn.Sequential(*layers))
            in_ch = w
            self.feature_info.append(dict(num_chs=w, reduction=2 ** i, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(in_ch, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(2, 3))
        if self.drop_rate:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.fc(x)

    def forward_intermediates(self, x: torch.Tensor, indices: int | list[int] | None = None,
                              intermediates_only: bool = False, **_: object):
        n = len(self.stages)
        take = list(range(n)) if indices is None else (
            list(range(n - indices, n)) if isinstance(indices, int) else [i % n for i in indices])
        x = self.stem(x)
        intermediates = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in take:
                intermediates.append(x)
        return intermediates if intermediates_only else (x, intermediates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _cifar_resnet(blocks: tuple[int, ...], widths: tuple[int, ...], pretrained: bool = False,
                  **kwargs) -> CifarResNet:
    if pretrained:
        raise ModelError("cifar_resnet models have no published weights; pass a local checkpoint instead")
    kwargs.pop("pretrained_cfg", None), kwargs.pop("pretrained_cfg_overlay", None)
    return CifarResNet(blocks_per_stage=blocks, widths=widths, **kwargs)


def _register_cifar_resnet(name: str, blocks: tuple[int, ...], widths: tuple[int, ...]) -> None:
    def entrypoint(pretrained: bool = False, **kwargs) -> CifarResNet:
        return _cifar_resnet(blocks, widths, pretrained, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"Small-input ResNet {name}: basic blocks {blocks} at widths {widths} (archs.CIFAR_RESNETS)."
    globals()[name] = register_model(entrypoint)


for _name, (_blocks, _widths) in CIFAR_RESNETS.items():  # cifar_resnet8 (the fast default) … cifar_resnet18
    _register_cifar_resnet(_name, _blocks, _widths)


def check_arch(arch: str) -> None:
    """Raise :class:`ModelError` unless ``arch`` is a timm architecture name."""
    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch.split('.')[0][:6]}*")[:10]
        raise ModelError(f"model.arch: unknown architecture {arch!r}; expected a timm model name"
                         + (f" (close matches: {', '.join(close)})" if close else ""))


def create_model(arch: str, num_classes: int, **kwargs) -> nn.Module:
    """One factory for every architecture: ``timm.create_model`` with validation."""
    check_arch(arch)
    return timm.create_model(arch, pretrained=False, num_classes=num_classes, **kwargs)


def pretrained_norm(model: nn.Module) -> dict[str, list[float]] | None:
    """``{"mean": […], "std": […]}`` of ``model``'s timm ``pretrained_cfg`` (the input normalisation its
    published weights expect; the tag of ``arch`` selects it, e.g. ``vit_base_patch16_224.augreg_in21k``), or
    None when it has none (the small-input ResNets registered here)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean, std = cfg.get("mean"), cfg.get("std")
    if not mean or not std:
        return None
    return {"mean": [float(m) for m in mean], "std": [float(s) for s in std]}


def set_input_norm(model: nn.Module, norm: dict[str, list[float]] | None) -> nn.Module:
    """Mark ``model``'s input normalisation (a sidecar's ``input_norm``; None: the fixed default): datasets
    prepared for it (``dataset.for_model(model)``) normalise pixels with it. Returns ``model``."""
    from unlearnbench.data.arrays import INPUT_NORM_ATTR

    if norm:
        setattr(model, INPUT_NORM_ATTR, (tuple(float(m) for m in norm["mean"]), tuple(float(s) for s in norm["std"])))
    elif hasattr(model, INPUT_NORM_ATTR):
        delattr(model, INPUT_NORM_ATTR)
    return model


def stage_count(model: nn.Module) -> int:
    return len(getattr(model, "feature_info", [])) or 0


def feature_layers(model: nn.Module) -> list[str]:
    """Layer names available for extraction: ``stage{i}`` for each feature stage, and ``pre_logits``."""
    return [f"stage{i}" for i in range(stage_count(model))] + ["pre_logits"]


def check_layers(model: nn.Module, layers: Iterable[str], arch: str = "") -> list[str]:
    """Validate requested layer names against the architecture; the error lists the valid ones."""
    valid = feature_layers(model)
    layers = list(layers)
    bad = [name for name in layers if name not in valid]
    if bad:
        raise ModelError(f"evaluation.layers: {bad} not in architecture {arch or type(model).__name__}; "
                         f"valid layers: {valid}")
    return layers


class Extracted(NamedTuple):
    """Outputs of one forward pass: ``logits``, ``pooled`` {layer: N×C}, ``maps`` {stage: N×… unpooled}."""

    logits: torch.Tensor
    pooled: dict[str, torch.Tensor]
    maps: dict[str, torch.Tensor]


def forward_layers(model: nn.Module, x: torch.Tensor, layers: Iterable[str], *,
                   maps: Iterable[str] = ()) -> Extracted:
    """One forward pass → logits, the requested layers pooled (stages: global average pool; ``pre_logits``),
    and the *unpooled* outputs of the stages named in ``maps`` (N×C×H×W, or N×L×C tokens) — the full
    activation maps that layer-wise CKA flattens (Kornblith et al. 2019), returned as views, not copies."""
    layers, maps = list(layers), list(maps)
    bad = [name for name in maps if not name.startswith("stage")]
    if bad:
        raise ModelError(f"activation maps exist for stages only, got {bad}")
    stage_idx = sorted({int(name[5:]) for name in layers + maps if name.startswith("stage")})
    pooled: dict[str, torch.Tensor] = {}
    full: dict[str, torch.Tensor] = {}
    if stage_idx:
        final, inter = model.forward_intermediates(x, indices=stage_idx)
        for i, feat in zip(stage_idx, inter):
            if f"stage{i}" in layers:
                pooled[f"stage{i}"] = _pool(feat)
            if f"stage{i}" in maps:
                full[f"stage{i}"] = feat
    else:
        final = model.forward_features(x)
    pre = model.forward_head(final, pre_logits=True)
    logits = model.get_classifier()(pre)
    if "pre_logits" in layers:
        pooled["pre_logits"] = pre
    return Extracted(logits, pooled, full)


def extract(model: nn.Module, x: torch.Tensor, layers: Iterable[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One forward pass → ``(logits, {layer: N×C pooled features})`` for the requested layers."""
    out = forward_layers(model, x, layers)
    return out.logits, out.pooled


def _pool(feat: torch.Tensor) -> torch.Tensor:
    """Global-average-pool a stage output: N×C×H×W (CNN) or N×L×C (ViT tokens) → N×C."""
    if feat.ndim == 4:
        return feat.mean(dim=(2, 3))
    if feat.ndim == 3:
        return feat.mean(dim=1)
    return feat
