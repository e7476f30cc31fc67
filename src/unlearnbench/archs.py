"""The small-input architectures unlearnbench registers into timm, described without importing torch.

``unlearnbench.models`` registers one timm model per entry of :data:`CIFAR_RESNETS`; config validation
reads the same table to accept these names and their layers without importing torch or timm (every
``snakemake`` invocation validates the config, so that import would cost every dry run and no-op seconds).
"""
from __future__ import annotations

#: channels of the three stages of He et al.'s CIFAR ResNets (16/32/64, stride-1 stem)
CIFAR_WIDTHS = (16, 32, 64)
#: small-input ResNets: timm name → (basic blocks per stage, channels per stage). cifar_resnet{8..32}: He et
#: al. 2016, §4.2. cifar_resnet18: the ResNet-18 of the unlearning literature's CIFAR tables (SalUn, SCRUB,
#: l1-sparse: torchvision's ResNet-18 with a 3×3 stride-1 stem and no max-pool; OPTML-Group/Unlearn-Saliency
#: Classification/models/ResNet.py, `imagenet=False`).
CIFAR_RESNETS = {"cifar_resnet8": ((1, 1, 1), CIFAR_WIDTHS), "cifar_resnet14": ((2, 2, 2), CIFAR_WIDTHS),
                 "cifar_resnet20": ((3, 3, 3), CIFAR_WIDTHS), "cifar_resnet32": ((5, 5, 5), CIFAR_WIDTHS),
                 "cifar_resnet18": ((2, 2, 2, 2), (64, 128, 256, 512))}


def known_layers(arch: str, kwargs: dict | None = None) -> list[str] | None:
    """Extractable layer names of a registered small-input ``arch`` built without extra kwargs, or None
    when only building the model can tell (any other timm architecture, or custom kwargs)."""
    if arch not in CIFAR_RESNETS or kwargs:
        return None
    return [f"stage{i}" for i in range(len(CIFAR_RESNETS[arch][1]))] + ["pre_logits"]
