"""EU-k, CF-k (Goel et al. 2022/2023) and gradient-free SVD class forgetting (Kodge et al. 2024).

Registry round trip, the layers each method may move, determinism, NaN → ``status: diverged``. The tiny problem
(4 colour-blob classes, a pretrained CIFAR ResNet-8, class 0 forgotten) is the one of ``tests/test_methods.py``.
"""
from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from test_methods import CPU, TINY, build_problem, state  # the shared tiny problem and its fast settings
from unlearnbench.methods import METHODS, create_method, grid_points, method_module, method_schema
from unlearnbench.methods.base import BLOCK_KEYS
from unlearnbench.methods.common import make_generator
from unlearnbench.methods.eu_k import count_weight_layers, last_k_layers, reinitialise, sgdr_lr
from unlearnbench.models import create_model
from unlearnbench.training import accuracy

NEW = ("eu_k", "cf_k", "svd_forget")
MODULES = {"eu_k": "unlearnbench.methods.eu_k", "cf_k": "unlearnbench.methods.cf_k",
           "svd_forget": "unlearnbench.methods.svd_forget"}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def problem(one_thread):
    return build_problem()


def run(name: str, problem, scenario: str = "class", model: torch.nn.Module | None = None, **overrides):
    method = METHODS[name](**{**TINY[name], **overrides})
    return method.run(copy.deepcopy(model if model is not None else problem["model"]), problem[scenario])


def owned(model: torch.nn.Module, modules: list[str]) -> set[str]:
    """state_dict keys (parameters and buffers) held directly by the named modules."""
    named = dict(model.named_modules())
    return {f"{m}.{k}" if m else k for m in modules
            for k, _ in list(named[m].named_parameters(recurse=False)) + list(named[m].named_buffers(recurse=False))}


# -------------------------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name", NEW)
def test_registry_round_trip(name):
    cls = METHODS[name]
    method = create_method(f"my_{name}", {"algorithm": name})
    assert type(method) is cls and cls.name == name and method_module(name) == MODULES[name]
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    params = method.get_params()
    assert params == defaults
    assert create_method("again", {"algorithm": name, **params}).get_params() == params
    schema = method_schema(cls)
    assert set(schema["properties"]) == set(defaults) | set(BLOCK_KEYS)
    assert all(schema["properties"][k]["description"] for k in defaults)
    assert any(str(year) in cls.__doc__ for year in (2022, 2023, 2024)) and "github.com/" in cls.__doc__
    points = grid_points(name, {"algorithm": name})
    assert 1 <= len(points) <= 6
    for key, values in cls.tuning_grid.items():  # the grid starts at the published (budget) default
        assert defaults[key] in values, (name, key)
    assert all(create_method(name, {"algorithm": name, **p}) for p in points)
    assert cls.supports == (frozenset({"class"}) if name == "svd_forget" else frozenset({"class", "sample"}))


def test_sgdr_schedule_is_torchs_warm_restarts_stepped_per_epoch():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=1, T_mult=2, eta_min=0.005)
    for epoch in range(20):
        assert math.isclose(sgdr_lr(epoch, 0.1, 0.005), opt.param_groups[0]["lr"], rel_tol=1e-9), epoch
        opt.step()
        sched.step()


def test_last_k_layers_follow_the_reference_definition():
    cifar = create_model("cifar_resnet8", 4)
    assert count_weight_layers(cifar) == 10
    assert [n for n, _ in last_k_layers(cifar, 1)] == ["fc"]
    assert [n for n, _ in last_k_layers(cifar, 3)] == ["fc", "stages.2.0.shortcut.1", "stages.2.0.shortcut.0",
                                                       "stages.2.0.bn2", "stages.2.0.conv2"]
    assert len(last_k_layers(cifar, 99)) == sum(1 for m in cifar.modules()
                                                 if next(m.parameters(recurse=False), None) is not None)
    timm_resnet = create_model("resnet18", 4)
    assert [n for n, _ in last_k_layers(timm_resnet, 3)] == ["fc", "layer4.1.bn2", "layer4.1.conv2",
                                                             "layer4.1.bn1", "layer4.1.conv1"]


# ------------------------------------------------------------------------------------------ EU-k / CF-k
@pytest.mark.parametrize("name", ["eu_k", "cf_k"])
def test_only_the_last_k_layers_move(name, problem):
    original = problem["model"]
    k = 3
    first = run(name, problem, k=k)
    second = run(name, problem, k=k)
    assert first.status == "ok", first.log
    selected = [n for n, _ in last_k_layers(original, k)]
    assert first.log["trained_layers"] == selected and first.log["weight_layers_trained"] == k
    before, after, again = state(original), state(first.model), state(second.model)
    trained = owned(original, selected)
    params = {n for n, _ in original.named_parameters()}
    for key in before:
        assert torch.equal(after[key], again[key]), f"{name} is not deterministic: {key}"
        if key in params and key not in trained:
            assert torch.equal(before[key], after[key]), f"{name} moved frozen parameter {key}"
    moved = {key for key in trained & params if not torch.equal(before[key], after[key])}
    assert {"fc.weight", "stages.2.0.conv2.weight", "stages.2.0.shortcut.0.weight"} <= moved
    assert all(p.requires_grad for p in first.model.parameters()), "requires_grad flags must be restored"
    # the reference keeps every BatchNorm in train mode: the frozen layers' running statistics re-estimate on D_r
    assert not torch.equal(before["stem.1.running_mean"], after["stem.1.running_mean"])
    assert accuracy(first.model, problem["class"].forget, CPU) < problem["original"]["forget_acc"] - 0.3
    assert accuracy(first.model, problem["class"].retain, CPU) >= 0.8
    assert first.log["steps"] > 0 and first.log["curve"][-1]["forget_acc"] is not None


@pytest.mark.parametrize("name", ["eu_k", "cf_k"])
def test_freeze_bn_stats_keeps_every_frozen_tensor_bit_identical(name, problem):
    outcome = run(name, problem, k=2, freeze_bn_stats=True)
    assert outcome.status == "ok", outcome.log
    trained = owned(problem["model"], [n for n, _ in last_k_layers(problem["model"], 2)])
    before, after = state(problem["model"]), state(outcome.model)
    assert [key for key in before if key not in trained and not torch.equal(before[key], after[key])] == []
    assert not torch.equal(before["fc.weight"], after["fc.weight"])


def test_eu_k_reinitialises_the_last_k_layers_and_cf_k_does_not(problem):
    """With a vanishing learning rate the trained layers stay where training started: EU-k at the seeded
    Kaiming re-initialisation (uncorrelated with the original weights), CF-k at the original weights."""
    still = dict(lr=1e-12, min_lr=0.0, weight_decay=0.0, epochs=1, k=3, freeze_bn_stats=True)
    eu, cf = run("eu_k", problem, **still), run("cf_k", problem, **still)
    original = problem["model"]
    expected = copy.deepcopy(original)
    gen = make_generator(problem["class"].seed, "eu_k/reinit")
    for name, module in last_k_layers(expected, 3):
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            reinitialise(module, gen)
    modules_eu, modules_cf = dict(eu.model.named_modules()), dict(cf.model.named_modules())
    for name, module in dict(expected.named_modules()).items():
        if name not in ("fc", "stages.2.0.conv2", "stages.2.0.shortcut.0"):
            continue
        w0 = dict(original.named_modules())[name].weight.detach()
        w_eu = modules_eu[name].weight.detach()
        assert torch.allclose(w_eu, module.weight.detach(), atol=1e-6), name
        corr = torch.corrcoef(torch.stack([w0.flatten(), w_eu.flatten()]))[0, 1]
        assert abs(float(corr)) < 0.3, (name, float(corr))
        assert torch.allclose(modules_cf[name].weight.detach(), w0, atol=1e-6), name
    if original.fc.bias is not None:
        assert torch.allclose(eu.model.fc.bias, torch.zeros_like(eu.model.fc.bias), atol=1e-6)


@pytest.mark.parametrize("name", ["eu_k", "cf_k"])
def test_sample_forgetting_runs(name, problem):
    outcome = run(name, problem, scenario="sample")
    assert outcome.status == "ok", outcome.log
    assert not torch.equal(state(problem["model"])["fc.weight"], state(outcome.model)["fc.weight"])


# ---------------------------------------------------------------------------------------------- SVD
def test_svd_forget_projects_weights_without_any_gradient_step(problem, monkeypatch):
    def forbidden(*_, **__):
        raise AssertionError("svd_forget must not take a gradient step")

    monkeypatch.setattr(torch.optim.Optimizer, "step", forbidden)
    monkeypatch.setattr(torch.Tensor, "backward", forbidden)
    monkeypatch.setattr(torch.autograd, "backward", forbidden)
    first = run("svd_forget", problem)
    second = run("svd_forget", problem)
    assert first.status == "ok", first.log
    assert all(p.grad is None for p in first.model.parameters())
    before, after, again = state(problem["model"]), state(first.model), state(second.model)
    weights = {f"{n}.weight" for n, m in problem["model"].named_modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    for key in before:
        assert torch.equal(after[key], again[key]), f"svd_forget is not deterministic: {key}"
        if key in weights:
            assert not torch.equal(before[key], after[key]), f"{key} was not projected"
        else:  # biases, BatchNorm affine parameters and running statistics
            assert torch.equal(before[key], after[key]), f"svd_forget changed {key}"
    assert set(first.log["projected_layers"]) == {k[:-len(".weight")] for k in weights}
    assert first.log["steps"] == 0
    forget_acc = accuracy(first.model, problem["class"].forget, CPU)
    assert forget_acc < problem["original"]["forget_acc"] - 0.3, forget_acc
    assert accuracy(first.model, problem["class"].retain, CPU) >= 0.8


def test_svd_forget_is_class_forgetting_only(problem):
    with pytest.raises(ValueError, match="whole classes"):
        METHODS["svd_forget"](**TINY["svd_forget"]).unlearn(copy.deepcopy(problem["model"]), problem["sample"])


def test_svd_forget_alpha_f_strengthens_forgetting(problem):
    """A larger α_f gives the forget space more weight: more of the weights is projected away."""
    weak = run("svd_forget", problem, alpha_f=1.0)
    strong = run("svd_forget", problem, alpha_f=30.0)
    assert sum(strong.log["discriminative_norm"].values()) > sum(weak.log["discriminative_norm"].values())
    assert accuracy(strong.model, problem["class"].forget, CPU) <= accuracy(weak.model, problem["class"].forget, CPU)


# ------------------------------------------------------------------------------------------- diverged
@pytest.mark.parametrize("name, where", [("eu_k", "stem.0.weight"), ("cf_k", "stem.0.weight"), ("cf_k", "fc.weight"),
                                         ("svd_forget", "stem.0.weight"), ("svd_forget", "fc.weight")])
def test_non_finite_weights_give_status_diverged(name, where, problem):
    """NaN in a frozen layer (EU-k/CF-k: the stem) or in a trained/projected one → ``status: diverged``.
    (EU-k re-initialises a NaN in its last k layers away: that is the algorithm, not a divergence.)"""
    model = copy.deepcopy(problem["model"])
    with torch.no_grad():
        dict(model.named_parameters())[where].view(-1)[0] = float("nan")
    overrides = {} if name == "svd_forget" else {"k": 1}
    outcome = run(name, problem, model=model, **overrides)
    assert outcome.status == "diverged", (name, where, outcome.log)
    assert "wall_time_s" in outcome.log
