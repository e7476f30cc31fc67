"""Config validation: defaults are filled, and each kind of bad input is rejected with a message that
names the key or file and what was expected — before any job runs."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from conftest import REPO
from unlearnbench.config import ConfigError, load_yaml, validate_config


def quick():
    return load_yaml(REPO / "configs" / "quick.yaml")


def reject(cfg, *fragments):
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)
    return str(err.value)


def test_defaults_are_filled_from_the_schema():
    cfg = validate_config({})
    assert cfg["model"]["arch"] == "cifar_resnet8"
    assert cfg["train"]["lr"] > 0 and cfg["train"]["momentum"] == 0.9
    assert cfg["evaluation"]["layers"] == "all"
    assert {s["kind"] for s in cfg["scenarios"]} == {"random", "top", "samples"}
    assert cfg["scenarios"][0]["seed"] == 0  # nested defaults inside list items


def test_every_shipped_config_validates(tmp_path, monkeypatch):
    """Presets for real datasets validate once stand-in files of the right layout exist at their paths."""
    from unlearnbench.testing import write_for_config

    monkeypatch.chdir(tmp_path)
    for path in [REPO / "config.yaml", *sorted((REPO / "configs").glob("*.yaml"))]:
        if path.name == "schema.yaml":
            continue
        cfg = load_yaml(path)
        write_for_config(cfg, tmp_path, skip_existing=True)  # cifar10's downstream is cifar100's folder
        validate_config(cfg)


def test_unknown_top_level_key():
    reject({**quick(), "epochz": 3}, "<top level>", "epochz")


def test_unknown_nested_key():
    cfg = quick()
    cfg["train"]["learning_rate"] = 0.1
    reject(cfg, "train", "learning_rate", "valid keys here")


@pytest.mark.parametrize("lr", [0, -0.1])
def test_non_positive_learning_rate(lr):
    cfg = quick()
    cfg["train"]["lr"] = lr
    reject(cfg, "train.lr", str(lr))


def test_unknown_architecture():
    cfg = quick()
    cfg["model"]["arch"] = "resnet_does_not_exist"
    reject(cfg, "model.arch", "resnet_does_not_exist", "timm")


def test_unknown_downstream_in_top_scenario():
    cfg = quick()
    cfg["scenarios"] = [{"name": "t", "kind": "top", "k": 1, "downstream": "imagenet_sketch"}]
    reject(cfg, "scenarios[0]", "downstream", "imagenet_sketch", "similar")


def test_k_larger_than_number_of_classes():
    cfg = quick()
    cfg["scenarios"] = [{"name": "r", "kind": "random", "k": 50}]
    reject(cfg, "scenarios[0]", ".k", "50", "6")


def test_samples_scenario_needs_n():
    cfg = quick()
    cfg["scenarios"] = [{"name": "s", "kind": "samples"}]
    reject(cfg, "scenarios[0]", ".n", "required")


def test_duplicate_scenario_names():
    cfg = quick()
    cfg["scenarios"] = [{"name": "a", "kind": "random", "k": 1}, {"name": "a", "kind": "random", "k": 2}]
    reject(cfg, "duplicate", "'a'")


def test_unknown_dataset_type():
    cfg = quick()
    cfg["data"]["upstream"] = {"type": "mnist_from_the_web"}
    reject(cfg, "data.upstream.type", "mnist_from_the_web", "npz")


def test_missing_npz(tmp_path):
    cfg = quick()
    cfg["data"]["upstream"] = {"type": "npz", "path": str(tmp_path / "absent.npz")}
    cfg["data"]["downstream"] = {}
    cfg["scenarios"] = [{"name": "r", "kind": "random", "k": 1}]
    reject(cfg, "data.upstream", "absent.npz", "does not exist")


def test_corrupt_npz(tmp_path):
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    cfg = quick()
    cfg["data"]["upstream"] = {"type": "npz", "path": str(bad)}
    cfg["data"]["downstream"] = {}
    cfg["scenarios"] = [{"name": "r", "kind": "random", "k": 1}]
    reject(cfg, "data.upstream", "corrupt.npz", "not a readable .npz")


def test_npz_with_wrong_arrays(tmp_path):
    path = tmp_path / "floats.npz"
    np.savez(path, x_train=np.zeros((4, 8, 8, 3), np.float32), y_train=np.zeros(4, int),
             x_test=np.zeros((2, 8, 8, 3), np.float32), y_test=np.zeros(2, int))
    cfg = {"data": {"upstream": {"type": "npz", "path": str(path)}, "downstream": {}},
           "scenarios": [{"name": "r", "kind": "random", "k": 1}]}
    reject(cfg, "floats.npz", "uint8")


def test_valid_npz_dataset_is_accepted(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=rng.integers(0, 255, (20, 8, 8, 3), dtype=np.uint8), y_train=np.arange(20) % 4,
             x_test=rng.integers(0, 255, (8, 8, 8, 3), dtype=np.uint8), y_test=np.arange(8) % 4)
    cfg = validate_config({"data": {"upstream": {"type": "npz", "path": str(path)}, "downstream": {}},
                           "scenarios": [{"name": "r", "kind": "random", "k": 3}]})
    assert cfg["data"]["upstream"]["path"] == str(path)
    reject({"data": {"upstream": {"type": "npz", "path": str(path)}, "downstream": {}},
            "scenarios": [{"name": "r", "kind": "random", "k": 4}]}, ".k", "has 4")


def test_unknown_layer_lists_valid_layers():
    cfg = quick()
    cfg["evaluation"]["layers"] = ["stage0", "layer9"]
    reject(cfg, "evaluation.layers", "layer9", "pre_logits")


def test_validation_does_not_mutate_input():
    cfg = quick()
    before = copy.deepcopy(cfg)
    validate_config(cfg)
    assert cfg == before


def test_config_yaml_is_valid_yaml():
    assert yaml.safe_load((REPO / "config.yaml").read_text())["experiment"] == "default"


@pytest.mark.parametrize("key,value", [("confidence", 1.0), ("confidence", 0), ("min_effect", -0.1)])
def test_verdict_rule_out_of_range(key, value):
    cfg = quick()
    cfg["verdicts"] = {key: value}
    reject(cfg, f"verdicts.{key}", str(value))


def test_monitor_images_must_be_positive():
    cfg = quick()
    cfg["monitor_images"] = 0
    reject(cfg, "monitor_images", "0")


def test_a_value_for_a_tuned_key_is_rejected_unless_tuning_is_off():
    from unlearnbench.config import TUNING_DEFAULT, load_schema

    assert load_schema()["properties"]["tuning"]["properties"]["enabled"]["default"] is TUNING_DEFAULT
    cfg = load_yaml(REPO / "config.yaml")
    import re

    from unlearnbench.methods import METHODS

    cfg["methods"]["finetune"]["lr"] = 0.01  # lr is in finetune's tuning grid
    searched = re.escape(str(list(METHODS["finetune"].tuning_grid["lr"])))
    with pytest.raises(ConfigError, match=rf"methods\.finetune\.lr: the tune stage searches lr over {searched}"):
        validate_config(cfg)
    validate_config({**cfg, "tuning": {"enabled": False}})  # fixed hyper-parameters: the value is used
    cfg["methods"]["finetune"]["tune"] = False
    validate_config(cfg)
