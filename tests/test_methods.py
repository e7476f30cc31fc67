"""Unlearning-method zoo: registry contract and, for every registered method, its behaviour on a tiny problem.

The tiny problem: 4 classes of 8×8 colour-blob images (each class its own RGB colour, Gaussian pixel
noise), a CIFAR ResNet-8 pretrained once per module to ~100 % accuracy. Class 0 is forgotten.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from unlearnbench.data.arrays import ImageArraySet
from unlearnbench.methods import (METHODS, MethodConfigError, UnlearnTask, UnlearningMethod, create_method, grid_points,
                                  method_schema, register_method)
from unlearnbench.methods.base import BLOCK_KEYS
from unlearnbench.methods.salun import saliency_mask
from unlearnbench.models import create_model
from unlearnbench.training import TrainConfig, accuracy, train_model

CPU = torch.device("cpu")
NUM_CLASSES = 4
FORGET_CLASS = 0
COLOURS = np.array([[220, 40, 40], [40, 200, 40], [40, 60, 220], [210, 200, 50]], dtype=np.float64)

# Fast settings for the tiny problem (same algorithms; fewer/larger steps than the 32×32 defaults).
TINY = {
    "finetune": dict(epochs=4, lr=0.05, batch_size=32, retain_fraction=1.0),
    "l1_sparse": dict(epochs=4, lr=0.05, batch_size=32, retain_fraction=1.0, l1_weight=5e-4),
    "gradient_ascent": dict(epochs=3, lr=0.01, batch_size=16),
    "neggrad_plus": dict(epochs=4, lr=0.05, alpha=0.9, batch_size=32, forget_batch_size=16, momentum=0.9),
    "random_label": dict(epochs=4, lr=0.05, batch_size=32),
    "salun": dict(epochs=4, lr=0.05, batch_size=32, mask_ratio=0.5),
    "scrub": dict(epochs=3, max_epochs=2, lr=0.005, batch_size=32, forget_batch_size=16),
    # the colour blobs sit far from their neighbours: a 0.1 FGSM step rarely flips one (the faithful default keeps
    # the true label then), so the tiny problem takes larger steps; both train with augmentation here
    "boundary_shrink": dict(epochs=3, lr=0.02, batch_size=16, bound=0.2, augment=True),
    "boundary_expand": dict(epochs=3, lr=0.02, batch_size=16, augment=True),
    "ssd": dict(selection_weighting=3.9, dampening_constant=1.0, batch_size=16, train_fraction=1.0),
    "last_layer": dict(epochs=10, lr=0.1, batch_size=32, retain_fraction=1.0),
    "bad_teacher": dict(epochs=3, lr=1e-3, batch_size=32, retain_fraction=0.5),
    "eu_k": dict(epochs=3),
    "cf_k": dict(epochs=3),
    "svd_forget": dict(samples=90),
    "delete": dict(epochs=5, lr=0.01, batch_size=16),
    "scar": dict(epochs=4, lr=2e-3, batch_size=64, surrogate_batch_size=64, surrogate_steps=3),
    "unsir": dict(noise_steps=20, noise_copies=60, batch_size=32, impair_lr=0.02, repair_lr=0.002),
}
# Methods that train on (or protect) the retain set promise to keep it; gradient ascent does not.
RETAIN_FLOOR = {name: 0.8 for name in TINY if name != "gradient_ascent"}


def blob_images(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(NUM_CLASSES), n_per_class)
    images = COLOURS[labels][:, None, None, :] + rng.normal(0, 25, (len(labels), 8, 8, 3))
    return np.clip(images, 0, 255).astype(np.uint8), labels


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def problem(one_thread):
    return build_problem()


def build_problem() -> dict:
    """The pretrained tiny model, a class-forgetting task (class 0) and a sample-forgetting task."""
    torch.manual_seed(0)
    x_train, y_train = blob_images(48, seed=1)
    x_test, y_test = blob_images(16, seed=2)
    train = ImageArraySet(x_train, y_train, NUM_CLASSES)
    test = ImageArraySet(x_test, y_test, NUM_CLASSES)
    model = create_model("cifar_resnet8", NUM_CLASSES)
    train_model(model, train, TrainConfig(epochs=6, batch_size=32, lr=0.05), seed=0, device=CPU, desc="pretrain")
    model.eval()
    forget_idx = np.flatnonzero(y_train == FORGET_CLASS)
    retain_idx = np.flatnonzero(y_train != FORGET_CLASS)
    monitor = {"forget": train.subset(forget_idx), "retain_test": test.subset(np.flatnonzero(y_test != FORGET_CLASS))}
    class_task = UnlearnTask(forget=train.subset(forget_idx), retain=train.subset(retain_idx),
                             num_classes=NUM_CLASSES, forget_classes=[FORGET_CLASS], device=CPU, seed=3,
                             monitor=monitor)
    sample_idx = np.random.default_rng(4).permutation(len(y_train))
    sample_task = UnlearnTask(forget=train.subset(np.sort(sample_idx[:24])),
                              retain=train.subset(np.sort(sample_idx[24:])), num_classes=NUM_CLASSES,
                              forget_classes=None, device=CPU, seed=3)
    original = {
        "forget_acc": accuracy(model, class_task.forget, CPU),
        "retain_acc": accuracy(model, class_task.retain, CPU),
    }
    assert original["forget_acc"] > 0.95 and original["retain_acc"] > 0.95, original
    return {"model": model, "class": class_task, "sample": sample_task, "original": original}


def run(name: str, problem, scenario: str = "class", **overrides):
    method = METHODS[name](**{**TINY[name], **overrides})
    model = copy.deepcopy(problem["model"])
    return method.run(model, problem[scenario])


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_every_method_has_tiny_settings():
    # `external` runs no algorithm (it imports a model unlearned elsewhere: tests/test_bring_your_own.py)
    algorithms = {name for name, cls in METHODS.items() if cls.runs_algorithm}
    assert set(TINY) == algorithms, "add fast settings for every registered method to TINY"
    assert set(METHODS) - algorithms == {"external"}


# -------------------------------------------------------------------------------------------- registry
def test_duplicate_and_reserved_names_are_rejected():
    @dataclasses.dataclass
    class Dummy(UnlearningMethod):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_method("finetune")(Dummy)
    with pytest.raises(ValueError, match="reserved"):
        register_method("retrain")(Dummy)
    assert METHODS["finetune"].__name__ == "Finetune"


@pytest.mark.parametrize("name", sorted(TINY))
def test_schema_is_derived_from_fields(name):
    cls = METHODS[name]
    schema = method_schema(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(schema["properties"]) == set(fields) | set(BLOCK_KEYS)
    assert schema["properties"]["algorithm"] == {"const": name}
    for key, f in fields.items():
        assert schema["properties"][key]["default"] == f.default
        assert schema["properties"][key]["description"], f"{name}.{key} lacks a help text"
    assert schema["description"], f"{name} lacks a docstring"
    assert cls.__doc__ and any(str(y) in cls.__doc__ for y in range(2014, 2026)), "docstring must cite a paper"
    points = grid_points(name, {"algorithm": name})  # the declared grid is valid and small
    assert 1 <= len(points) <= 6 and all(create_method(name, {"algorithm": name, **p}) for p in points)


def test_unknown_algorithm_lists_registered():
    with pytest.raises(MethodConfigError) as err:
        create_method("mine", {"algorithm": "nope"})
    for name in METHODS:
        assert name in str(err.value)
    assert "methods.mine.algorithm" in str(err.value)


def test_out_of_range_hyperparameter_names_instance_key_and_range():
    with pytest.raises(MethodConfigError) as err:
        create_method("fast_ga", {"algorithm": "gradient_ascent", "lr": -1.0})
    msg = str(err.value)
    assert "methods.fast_ga.lr" in msg and "(0, inf)" in msg
    with pytest.raises(MethodConfigError, match=r"methods\.sal\.mask_ratio.*\(0, 1\]"):
        create_method("sal", {"algorithm": "salun", "mask_ratio": 1.5})
    with pytest.raises(MethodConfigError, match="label_pool"):
        create_method("rl", {"algorithm": "random_label", "label_pool": "nonsense"})
    with pytest.raises(MethodConfigError, match="unknown hyper-parameter"):
        create_method("rl", {"algorithm": "random_label", "learning_rate": 0.1})


# ------------------------------------------------------------------------------------ every method, class
@pytest.mark.parametrize("name", sorted(TINY))
def test_class_forgetting_changes_weights_forgets_and_is_deterministic(name, problem):
    first = run(name, problem)
    second = run(name, problem)
    assert first.status == "ok", first.log
    before, after, again = state(problem["model"]), state(first.model), state(second.model)
    assert before.keys() == after.keys() == again.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before), f"{name} did not change the weights"
    for k in after:
        assert torch.equal(after[k], again[k]), f"{name} is not deterministic: {k} differs between runs"
    forget_acc = accuracy(first.model, problem["class"].forget, CPU)
    assert forget_acc < problem["original"]["forget_acc"] - 0.3, (name, forget_acc, problem["original"])
    if name in RETAIN_FLOOR:
        retain_acc = accuracy(first.model, problem["class"].retain, CPU)
        assert retain_acc >= RETAIN_FLOOR[name], (name, retain_acc)
    log = first.log
    assert log["curve"] and "wall_time_s" in log and log["images"] > 0
    assert {"forget_acc", "retain_test_acc"} <= set(log["curve"][-1]), log["curve"][-1]


@pytest.mark.parametrize("name", sorted(TINY))
def test_sample_forgetting_runs_or_is_declared_unsupported(name, problem):
    cls = METHODS[name]
    if "sample" not in cls.supports:
        with pytest.raises(ValueError, match="whole classes"):
            cls(**TINY[name]).unlearn(copy.deepcopy(problem["model"]), problem["sample"])
        return
    outcome = run(name, problem, scenario="sample")
    assert outcome.status == "ok", outcome.log
    before, after = state(problem["model"]), state(outcome.model)
    assert any(not torch.equal(before[k], after[k]) for k in before)


# ------------------------------------------------------------------------------------- method specifics
def test_salun_leaves_every_weight_outside_its_mask_bit_identical(problem):
    task = problem["class"]
    method = METHODS["salun"](**TINY["salun"])
    assert method.weight_decay > 0 and method.momentum > 0
    mask = saliency_mask(copy.deepcopy(problem["model"]), task, ratio=method.mask_ratio,
                         batch_size=method.saliency_batch_size)
    total = sum(m.numel() for m in mask.values())
    assert sum(int(m.sum()) for m in mask.values()) == int(total * method.mask_ratio)
    outcome = run("salun", problem)
    original = dict(problem["model"].named_parameters())
    moved = 0
    for name, param in outcome.model.named_parameters():
        frozen = ~mask[name]
        assert torch.equal(param.detach()[frozen], original[name].detach()[frozen]), f"{name} moved outside mask"
        moved += int((param.detach() != original[name].detach())[mask[name]].sum())
    assert moved > 0
    assert outcome.log["mask_fraction"] == pytest.approx(method.mask_ratio, abs=1e-4)


def test_last_layer_changes_only_the_head(problem):
    outcome = run("last_layer", problem)
    head_names = {f"fc.{k}" for k in problem["model"].get_classifier().state_dict()}
    before, after = state(problem["model"]), state(outcome.model)
    assert any(not torch.equal(before[k], after[k]) for k in head_names)
    for key in before:
        if key not in head_names:  # every backbone weight and every BN buffer (running mean/var, count)
            assert torch.equal(before[key], after[key]), f"last_layer changed {key}"
    assert any("running_mean" in k for k in before)
    # its monitor reads cached features; it must equal a full forward pass of the final model
    final = outcome.log["curve"][-1]
    for name, subset in problem["class"].monitor.items():
        assert final[f"{name}_acc"] == pytest.approx(accuracy(outcome.model, subset, CPU), abs=1e-9)


# Boundary Shrink's exact FGSM relabel and Boundary Expand's shadow class and pruning:
# tests/test_method_behaviour.py


def test_diverging_configuration_reports_diverged(problem):
    outcome = run("gradient_ascent", problem, lr=1e12, epochs=5)
    assert outcome.status == "diverged"
    assert "reason" in outcome.log and "wall_time_s" in outcome.log


# ------------------------------------------------------------------------------------------ shared helpers
def test_random_other_labels_never_keep_the_true_label():
    from unlearnbench.methods.common import make_generator, random_other_labels

    labels = np.repeat(np.arange(5), 200)
    out = random_other_labels(labels, make_generator(0, "t"), range(5))
    assert (out != labels).all() and set(out) == set(range(5))
    again = random_other_labels(labels, make_generator(0, "t"), range(5))
    assert np.array_equal(out, again)
    counts = np.bincount(out[labels == 0], minlength=5)
    assert counts[0] == 0 and counts[1:].min() > 30  # uniform over the 4 other classes
    restricted = random_other_labels(labels, make_generator(1, "t"), [1, 2, 3, 4])
    assert set(restricted) <= {1, 2, 3, 4} and (restricted != labels).all()
    with pytest.raises(ValueError):
        random_other_labels(np.array([0]), make_generator(0, "t"), [0])


def test_distill_kl_is_zero_for_identical_logits_and_positive_otherwise():
    from unlearnbench.methods.common import distill_kl

    logits = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))
    assert distill_kl(logits, logits, 4.0).abs() < 1e-6
    assert distill_kl(logits, logits.flip(1), 4.0) > 0


def test_parameter_mask_survives_weight_decay_and_momentum():
    from unlearnbench.methods.common import ParameterMask

    net = torch.nn.Linear(6, 3)
    mask = {"weight": torch.rand(3, 6, generator=torch.Generator().manual_seed(0)) > 0.5,
            "bias": torch.tensor([True, False, False])}
    start = {k: v.detach().clone() for k, v in net.named_parameters()}
    guard = ParameterMask(net, mask)
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    for _ in range(5):
        opt.zero_grad()
        net(torch.randn(4, 6)).pow(2).sum().backward()
        guard.mask_gradients(net)
        opt.step()
        guard.restore(opt)
    for name, p in net.named_parameters():
        assert torch.equal(p.detach()[~mask[name]], start[name][~mask[name]])
        assert not torch.equal(p.detach()[mask[name]], start[name][mask[name]])
