"""Pretrained originals: a local safetensors file (never a download) becomes the original model, with
the classifier reset and fine-tuned when the class counts differ; validation names a bad file."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from unlearnbench.checkpoints import CheckpointError, load_checkpoint, load_pretrained_weights
from unlearnbench.config import ConfigError, validate_config
from unlearnbench.data import ArrayDataset
from unlearnbench.data.fakes import write_weights
from unlearnbench.models import create_model
from unlearnbench.stages import train_reference

ARCH = "cifar_resnet8"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_weights(tmp_path_factory.mktemp("w") / "r8.safetensors", ARCH, num_classes=4)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("data")
    ds = ArrayDataset(rng.integers(0, 255, (24, 16, 16, 3), dtype=np.uint8), np.arange(24) % 3,
                      rng.integers(0, 255, (9, 16, 16, 3), dtype=np.uint8), np.arange(9) % 3)
    ds.save_npz(root / "up.npz")
    (root / "up.json").write_text(json.dumps({"data_hash": "test"}))
    return root


def test_matching_head_loads_exactly(weights):
    model = create_model(ARCH, 4)
    assert load_pretrained_weights(model, weights) == {"head": "kept", "weights_num_classes": 4}
    saved = load_file(str(weights))
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


def test_other_class_count_resets_only_the_head(weights):
    model = create_model(ARCH, 3)
    assert load_pretrained_weights(model, weights)["head"] == "reset"
    saved = load_file(str(weights))
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]) == (not k.startswith("fc.")), k
    assert model.get_classifier().out_features == 3


def test_same_weights_as_timm_pretrained_cfg_overlay(tmp_path):
    import timm

    path = write_weights(tmp_path / "r10t.safetensors", "resnet10t", num_classes=5)
    ours = create_model("resnet10t", 5)
    load_pretrained_weights(ours, path)
    ref = timm.create_model("resnet10t", pretrained=True, num_classes=5,
                            pretrained_cfg_overlay=dict(file=str(path), num_classes=5))
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), ref.state_dict().values()))


def test_wrong_architecture_is_named(weights):
    with pytest.raises(CheckpointError, match=r"does not fit CifarResNet: missing \[.*shape mismatch"):
        load_pretrained_weights(create_model("cifar_resnet14", 4), weights)


def test_config_validation_of_the_weights_file(tmp_path, weights):
    base = {"data": {"upstream": {"type": "synthetic", "superclasses": 2, "fine_per_superclass": 2},
                     "downstream": {}},
            "scenarios": [{"name": "r1", "kind": "random", "k": 1}]}
    cfg = validate_config({**base, "model": {"arch": ARCH, "pretrained": str(weights)}})
    assert cfg["model"]["finetune"] == "head"
    with pytest.raises(ConfigError, match=r"model.pretrained: weights file .*missing.safetensors does not exist"):
        validate_config({**base, "model": {"arch": ARCH, "pretrained": str(tmp_path / "missing.safetensors")}})
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04 a torch pickle, not safetensors")
    with pytest.raises(ConfigError, match="model.pretrained: weights file .*model.pt is not a readable safetensors"):
        validate_config({**base, "model": {"arch": ARCH, "pretrained": str(bad)}})


def _import(tiny_data, tmp_path, weights, finetune="head", epochs=2):
    out = tmp_path / "original.safetensors"
    train_reference(tiny_data / "up.npz", tiny_data / "up.json", out,
                    model={"arch": ARCH, "kwargs": {}, "pretrained": str(weights), "finetune": finetune},
                    train={"epochs": epochs, "batch_size": 8, "lr": 0.05}, seed=0, threads=1, device="cpu")
    model, meta = load_checkpoint(out)
    return model, meta


def test_import_job_fine_tunes_a_reset_head_only(tiny_data, tmp_path, weights):
    model, meta = _import(tiny_data, tmp_path, weights)
    assert meta["source"] == "import" and meta["role"] == "original" and meta["num_classes"] == 3
    assert meta["pretrained"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert meta["pretrained"]["head"] == "reset" and meta["pretrained"]["finetune"] == "head"
    assert len(meta["curve"]) == 2 and 0 <= meta["final_accuracy"]["test"] <= 1
    saved = load_file(str(weights))
    for k, v in model.state_dict().items():  # backbone (weights and BN statistics) untouched
        if not k.startswith("fc."):
            assert torch.equal(v, saved[k]), k
    again, _ = _import(tiny_data, tmp_path / "again", weights)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_import_job_can_fine_tune_everything(tiny_data, tmp_path, weights):
    model, meta = _import(tiny_data, tmp_path, weights, finetune="all", epochs=1)
    assert meta["pretrained"]["finetune"] == "all" and len(meta["curve"]) == 1
    saved = load_file(str(weights))
    assert not torch.equal(model.state_dict()["stem.0.weight"], saved["stem.0.weight"])


def test_matching_head_is_imported_without_training(tiny_data, tmp_path):
    path = write_weights(tmp_path / "r8_3.safetensors", ARCH, num_classes=3)
    model, meta = _import(tiny_data, tmp_path, path)
    assert meta["pretrained"]["head"] == "kept" and meta["curve"] == [] and meta["pretrained"]["finetune"] is None
    saved = load_file(str(path))
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
