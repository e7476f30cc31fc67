"""Pretrained originals: a local safetensors file (never a download) becomes the original model, with
the classifier reset and fine-tuned when the class counts differ; validation names a bad file."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from unlearnbench.checkpoints import CheckpointError, load_checkpoint, load_pretrained_weights
from unlearnbench.config import ConfigError, validate_config
from unlearnbench.data import ArrayDataset
from unlearnbench.testing import write_weights
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
    assert load_pretrained_weights(model, weights) == {"head": "kept", "weights_num_classes": 4,
                                                        "format": "safetensors", "wrapper": None}
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
    with pytest.raises(ConfigError, match="model.pretrained: weights file .*model.pt is not a readable PyTorch state dict"):
        validate_config({**base, "model": {"arch": ARCH, "pretrained": str(bad)}})


def _import(tiny_data, tmp_path, weights, finetune="head", epochs=2):
    out = tmp_path / "original.safetensors"
    train_reference(tiny_data / "up.npz", tiny_data / "up.json", out,
                    model={"arch": ARCH, "kwargs": {}, "pretrained": str(weights), "finetune": finetune},
                    train={"epochs": epochs, "batch_size": 8, "lr": 0.05}, seed=0, threads=1, device="cpu")
    model, meta = load_checkpoint(out)
    return model, meta


def train_ce(net, data) -> float:
    """Mean cross-entropy of ``net`` on the whole (un-augmented) set, in eval mode; the mode is restored."""
    was_training = net.training
    net.eval()
    with torch.no_grad():
        x, y = next(data.batches(len(data)))
        loss = float(F.cross_entropy(net(x), y))
    net.train(was_training)
    return loss


@pytest.fixture
def before_training(monkeypatch):
    """Records, at the moment the import job starts fine-tuning (``finetune_head`` for ``head``,
    ``train_model`` for ``all``), the network's state — the imported backbone and the reset head — and its
    training-set cross-entropy; then trains as usual (nothing else draws random numbers in between)."""
    import unlearnbench.heads as heads
    import unlearnbench.training as training

    seen = {}

    def wrap(real, scope):
        def wrapper(net, train_set, cfg, **kwargs):
            seen.update(scope=scope, state={k: v.detach().clone() for k, v in net.state_dict().items()},
                        ce=train_ce(net, train_set), train_set=train_set, head=net.get_classifier())
            return real(net, train_set, cfg, **kwargs)
        return wrapper

    monkeypatch.setattr(heads, "finetune_head", wrap(heads.finetune_head, "head"))
    monkeypatch.setattr(training, "train_model", wrap(training.train_model, "all"))
    return seen


def test_import_job_fine_tunes_a_reset_head_only(tiny_data, tmp_path, weights, before_training):
    model, meta = _import(tiny_data, tmp_path, weights, epochs=8)
    assert meta["source"] == "import" and meta["role"] == "original" and meta["num_classes"] == 3
    assert meta["pretrained"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert meta["pretrained"]["head"] == "reset" and meta["pretrained"]["finetune"] == "head"
    assert len(meta["curve"]) == 8 and 0 <= meta["final_accuracy"]["test"] <= 1
    assert before_training["scope"] == "head"
    saved, start, after = load_file(str(weights)), before_training["state"], model.state_dict()
    head_keys = {k for k in after if k.startswith("fc.")}
    assert head_keys == {"fc.weight", "fc.bias"} and start["fc.weight"].shape == (3, 64)
    for k, v in after.items():  # backbone (weights and BN statistics) bit-identical to the imported file
        if k not in head_keys:
            assert torch.equal(start[k], saved[k]) and torch.equal(v, saved[k]), k
    # the head trained away from its reset values (every entry), and the training-set CE fell
    for k in head_keys:
        assert saved[k].shape[0] == 4 and start[k].shape[0] == 3  # the file's 4-class head was not loaded
        assert (after[k] != start[k]).all(), f"{k}: some entries never moved from the reset head"
    assert train_ce(model, before_training["train_set"]) < before_training["ce"] - 0.01
    again, _ = _import(tiny_data, tmp_path / "again", weights, epochs=8)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_import_job_can_fine_tune_everything(tiny_data, tmp_path, weights, before_training):
    model, meta = _import(tiny_data, tmp_path, weights, finetune="all", epochs=2)
    assert meta["pretrained"]["finetune"] == "all" and len(meta["curve"]) == 2
    assert before_training["scope"] == "all"
    saved, start = load_file(str(weights)), before_training["state"]
    for k, v in start.items():  # training starts from the imported backbone and a reset head
        assert torch.equal(v, saved[k]) if not k.startswith("fc.") else saved[k].shape != v.shape, k
    after = dict(model.named_parameters())
    for k, p in after.items():  # every parameter trained, the head away from its reset values
        assert not torch.equal(p.detach(), start[k]), f"{k} was not fine-tuned"
    assert (after["fc.weight"].detach() != start["fc.weight"]).all()
    assert train_ce(model, before_training["train_set"]) < before_training["ce"] - 0.005


def test_matching_head_is_imported_without_training(tiny_data, tmp_path):
    path = write_weights(tmp_path / "r8_3.safetensors", ARCH, num_classes=3)
    model, meta = _import(tiny_data, tmp_path, path)
    assert meta["pretrained"]["head"] == "kept" and meta["curve"] == [] and meta["pretrained"]["finetune"] is None
    saved = load_file(str(path))
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
