"""The small-input architectures unlearnbench registers into timm, described without importing torch.

``unlearnbench.models`` registers one timm model per entry of :data:`CIFAR_RESNETS`; config validation
reads the same table to accept these names and their layers without importing torch or timm (every
``snakemake`` invocation validates the config, so that import would cost every dry run and no-op seconds).
"""
from __future__ import annotations

#: CIFAR ResNets (He et al. 2016, §4.2): timm name → basic blocks per stage
CIFAR_RESNETS = {"cifar_resnet8": 1, "cifar_resnet14": 2, "cifar_resnet20": 3, "cifar_resnet32": 5}
#: channels of the three stages (16/32/64, stride-1 stem)
CIFAR_WIDTHS = (16, 32, 64)


def known_layers(arch: str, kwargs: dict | None = None) -> list[str] | None:
    """Extractable layer names of a registered small-input ``arch`` built without extra kwargs, or None
    when only building the model can tell (any other timm architecture, or custom kwargs)."""
    if arch not in CIFAR_RESNETS or kwargs:
        return None
    return [f"stage{i}" for i in range(len(CIFAR_WIDTHS))] + ["pre_logits"]
