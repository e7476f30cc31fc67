"""The training loop reduces the loss and is bit-reproducible; checkpoints round-trip without pickle."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from unlearnbench.checkpoints import CheckpointError, load_checkpoint, read_meta, save_checkpoint
from unlearnbench.data.arrays import ImageArraySet
from unlearnbench.models import create_model
from unlearnbench.training import Diverged, TrainConfig, accuracy, setup_torch, train_model


def blobs(n_per_class=48, classes=3, size=16, seed=0):
    """Images whose class is a bright quadrant: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, (n_per_class * classes, size, size, 3)).astype(np.uint8)
    y = np.repeat(np.arange(classes), n_per_class)
    h = size // 2
    for c in range(classes):
        r, q = divmod(c, 2)
        x[y == c, r * h:(r + 1) * h, q * h:(q + 1) * h, c % 3] = 230
    return ImageArraySet(x, y, classes)


def train_once(cfg, data, seed=0):
    dev = setup_torch(seed, threads=2, device="cpu")
    model = create_model("cifar_resnet8", data.num_classes)
    curve = train_model(model, data, cfg, seed=seed, device=dev)
    return model, curve


def test_training_reduces_loss_and_learns():
    data = blobs()
    model, curve = train_once(TrainConfig(epochs=4, batch_size=32, lr=0.05, warmup_epochs=0), data)
    assert curve[-1]["loss"] < curve[0]["loss"] * 0.7
    assert accuracy(model, data, torch.device("cpu")) > 0.8


def test_training_is_bit_reproducible():
    data = blobs(n_per_class=16)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=0.05)
    a, _ = train_once(cfg, data, seed=3)
    b, _ = train_once(cfg, data, seed=3)
    c, _ = train_once(cfg, data, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


def test_augmentation_is_seeded_and_shape_preserving():
    data = blobs(n_per_class=4)
    x1, _ = next(data.batches(8, train=True, seed=1, epoch=2))
    x2, _ = next(data.batches(8, train=True, seed=1, epoch=2))
    x3, _ = next(data.batches(8, train=True, seed=1, epoch=3))
    assert x1.shape == (8, 3, 16, 16) and torch.equal(x1, x2) and not torch.equal(x1, x3)


def test_non_finite_loss_raises_diverged():
    data = blobs(n_per_class=8)
    dev = setup_torch(0, 2, "cpu")
    model = create_model("cifar_resnet8", 3)
    with pytest.raises(Diverged) as err:
        train_model(model, data, TrainConfig(epochs=1, batch_size=8), seed=0, device=dev,
                    extra_loss=lambda m, p: torch.tensor(float("nan")))
    assert err.value.epoch == 0


@pytest.mark.parametrize("bad", [{"lr": 0}, {"lr": -1.0}, {"batch_size": 0}, {"momentum": 1.0}])
def test_train_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrainConfig(**bad)


def test_checkpoint_round_trip(tmp_path):
    model = create_model("cifar_resnet8", 5)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, {"arch": "cifar_resnet8", "num_classes": 5, "seed": 1, "curve": [{"loss": 1.0}]})
    loaded, meta = load_checkpoint(path)
    assert meta["seed"] == 1 and meta["curve"] == [{"loss": 1.0}]
    ref, new = model.state_dict(), loaded.state_dict()
    assert ref.keys() == new.keys() and all(torch.equal(ref[k], new[k]) for k in ref)
    assert path.read_bytes()[:8] != b"\x80\x02\x8a\nl\xfc\x9cF"  # not a torch pickle
    assert not list(tmp_path.glob(".*tmp*"))  # no temp files left behind


def test_corrupt_checkpoint_is_rejected_with_its_path(tmp_path):
    model = create_model("cifar_resnet8", 5)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, {"arch": "cifar_resnet8", "num_classes": 5})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="m.safetensors"):
        load_checkpoint(path)


def test_checkpoint_sidecar_problems(tmp_path):
    model = create_model("cifar_resnet8", 5)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, {"arch": "cifar_resnet8", "num_classes": 5})
    side = tmp_path / "m.safetensors.json"
    side.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_meta(path)
    side.write_text(json.dumps({"arch": "cifar_resnet8", "num_classes": 7}))
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(path)
    side.unlink()
    with pytest.raises(CheckpointError, match="sidecar .* is missing"):
        load_checkpoint(path)


def test_pickle_checkpoint_is_never_loaded(tmp_path):
    path = tmp_path / "evil.safetensors"
    torch.save({"weight": torch.zeros(1)}, path)  # a pickle in disguise
    (tmp_path / "evil.safetensors.json").write_text(json.dumps({"arch": "cifar_resnet8", "num_classes": 5}))
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(path)


def test_multistep_and_constant_schedules():
    from unlearnbench.training import TrainConfig, scheduled_lr

    cfg = TrainConfig(epochs=182, lr=0.1, schedule="multistep", milestones=(91, 136))  # SalUn's CIFAR recipe
    spe = 10
    lrs = [scheduled_lr(cfg, s, 182 * spe, 0, spe) for s in (0, 91 * spe - 1, 91 * spe, 136 * spe, 181 * spe)]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.001, 0.001])
    flat = TrainConfig(epochs=5, lr=0.02, schedule="constant", warmup_epochs=1)
    assert [scheduled_lr(flat, s, 50, 10, 10) for s in (0, 9, 10, 49)] == pytest.approx([0.002, 0.02, 0.02, 0.02])
    for bad in (dict(schedule="multistep"), dict(milestones=(3,)), dict(schedule="step"),
                dict(schedule="multistep", milestones=(5, 2))):
        with pytest.raises(ValueError, match="invalid training hyper-parameter"):
            TrainConfig(epochs=10, **bad)


def test_library_defaults_are_the_schema_defaults():
    """TrainConfig() and the features' Gram settings default to what a config without them gets."""
    import dataclasses

    import yaml

    from unlearnbench.config import schema_text
    from unlearnbench.features import GRAM_MAX_BYTES, GRAM_PER_CLASS

    schema = yaml.safe_load(schema_text())
    train = schema["$defs"]["train"]["properties"]
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()} == \
        {k: p["default"] for k, p in train.items()}
    evaluation = schema["properties"]["evaluation"]["properties"]
    assert (GRAM_PER_CLASS, GRAM_MAX_BYTES) == (evaluation["gram_per_class"]["default"],
                                                evaluation["gram_max_bytes"]["default"])


def test_head_fine_tuning_follows_the_recipe_and_leaves_the_backbone(tmp_path):
    """heads.finetune_head: only the classifier moves (BN statistics included), with the recipe's schedule."""
    from unlearnbench.heads import finetune_head

    data = blobs(n_per_class=8)
    dev = setup_torch(0, threads=2, device="cpu")
    model = create_model("cifar_resnet8", data.num_classes)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flat = finetune_head(model, data, TrainConfig(epochs=3, batch_size=8, lr=0.05, schedule="constant"), seed=0,
                         device=dev)
    assert [e["lr"] for e in flat] == [0.05] * 3 and {e["scope"] for e in flat} == {"head"}
    assert flat[-1]["loss"] < flat[0]["loss"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]) == (not key.startswith("fc.")), key
    cosine = finetune_head(create_model("cifar_resnet8", data.num_classes), data,
                           TrainConfig(epochs=3, batch_size=8, lr=0.05), seed=0, device=dev)
    assert cosine[-1]["lr"] < 0.05 / 10
