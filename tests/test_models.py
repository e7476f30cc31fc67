"""Model factory: any timm name, registered small-input variants, a uniform feature API."""
from __future__ import annotations

import pytest
import timm
import torch

from unlearnbench.models import ModelError, check_layers, create_model, extract, feature_layers


@pytest.mark.parametrize("arch", ["cifar_resnet8", "cifar_resnet20", "resnet18", "vit_tiny_patch16_224"])
def test_extract_matches_forward_and_lists_stages(arch):
    kwargs = {"img_size": 32, "patch_size": 8} if arch.startswith("vit") else {}
    model = create_model(arch, 7, **kwargs).eval()
    x = torch.randn(3, 3, 32, 32)
    layers = feature_layers(model)
    assert layers[-1] == "pre_logits" and layers[0] == "stage0"
    with torch.no_grad():
        logits, feats = extract(model, x, layers)
        assert torch.allclose(logits, model(x), atol=1e-5)
        assert torch.allclose(feats["pre_logits"], model.forward_head(model.forward_features(x), pre_logits=True),
                              atol=1e-5)
    assert set(feats) == set(layers) and all(f.shape[0] == 3 and f.ndim == 2 for f in feats.values())


def test_small_input_variants_are_in_timms_registry():
    assert {"cifar_resnet8", "cifar_resnet20"} <= set(timm.list_models("cifar_resnet*"))


def test_unknown_arch_and_layer_errors():
    with pytest.raises(ModelError, match="unknown architecture 'resnet_nope'"):
        create_model("resnet_nope", 3)
    with pytest.raises(ModelError, match="valid layers"):
        check_layers(create_model("cifar_resnet8", 3), ["stage7"])
