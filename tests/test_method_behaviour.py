"""What the methods' docstrings promise, checked against hand computations — not just "some weight moved".

* Boundary Shrink (Chen et al. 2023, §4.1): the relabel is exactly one FGSM step of size ``bound`` in [0, 1]
  pixel space on the CE of the true label, clamped to [0, 1], rounded to 8 bits, and the label is the
  argmax of the *frozen original* on that image (over the incorrect classes with ``exclude_true``); the
  fine-tuning loss uses exactly those labels.
* Boundary Expand (§4.2): training runs on a K + 1 wide head (the original rows and a seeded Xavier shadow
  row) with every forget image labelled K, and the returned model is the first K rows of that trained head.
* Sample forgetting: on a problem the original has *memorised* (random labels on noise images, held-out
  accuracy at chance), every method that supports sample forgetting raises the loss on the forgotten samples
  clearly more than on the retained ones.
"""
from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from test_methods import CPU, FORGET_CLASS, NUM_CLASSES, TINY, build_problem
from unlearnbench.data.arrays import ImageArraySet
from unlearnbench.methods import METHODS, UnlearnTask, boundary
from unlearnbench.methods.boundary import fgsm_attack, fgsm_nearest_labels
from unlearnbench.methods.common import make_generator
from unlearnbench.models import create_model
from unlearnbench.training import TrainConfig, accuracy, train_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def problem(one_thread):
    return build_problem()


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------------ Boundary Shrink
def hand_fgsm(model: torch.nn.Module, pixels: torch.Tensor, y: torch.Tensor, bound: float, mean: torch.Tensor,
              std: torch.Tensor, exclude_true: bool, sign: float = 1.0, step_in_normalised_units: bool = False,
              discretise: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(adversarial image in [0, 1] pixels, label)`` written out from the docstring, starting from [0, 1] pixels:
    x_adv = round(255 · clamp(p + bound · sign(∇_p CE(model(norm(p)), y)), 0, 1)) / 255, label = argmax of
    ``model`` on norm(x_adv), over the classes other than y when ``exclude_true``. The keyword arguments
    ``sign``/``step_in_normalised_units``/``discretise`` build the plausible wrong variants."""
    p = pixels.detach().clone().requires_grad_(True)
    loss = TF.cross_entropy(model((p - mean) / std), y)
    (grad,) = torch.autograd.grad(loss, p)
    step = bound * std if step_in_normalised_units else bound  # a step of `bound` in normalised units
    adv = (p.detach() + sign * step * grad.sign()).clamp(0.0, 1.0)
    if discretise:
        adv = torch.round(adv * 255.0) / 255.0
    with torch.no_grad():
        logits = model((adv - mean) / std)
    if exclude_true:
        logits[torch.arange(len(y)), y] = -math.inf
    return adv, logits.argmax(dim=1)


class Recorder(torch.nn.Module):
    """Wraps a model and keeps every input it is called with."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model, self.inputs = model, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return self.model(x)


def mixed_batch(problem) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every training image of the tiny problem (all 4 classes) as (pixels in [0, 1], normalised x, y)."""
    task = problem["class"]
    data = task.forget.concat(task.retain)
    pixels = torch.from_numpy(data.images).permute(0, 3, 1, 2).float().div_(255.0)
    x, y = next(data.batches(len(data)))
    return pixels, x, y


# bound 0.21 = 53.55 of 255 levels: off the 8-bit grid (so the rounding shows) and far from a .5 tie (so the
# 8-bit image is defined by the docstring alone, not by float round-off)
@pytest.mark.parametrize("exclude_true", [False, True])
def test_boundary_shrink_relabel_is_exactly_one_fgsm_step_on_the_original(problem, exclude_true):
    model, task, bound = problem["model"].eval(), problem["class"], 0.21
    mean, std = task.forget.mean, task.forget.std
    pixels, x, y = mixed_batch(problem)
    adversarial, expected = hand_fgsm(model, pixels, y, bound, mean, std, exclude_true)

    reference = Recorder(model).eval()
    labels, flipped = fgsm_attack(reference, x, y, bound=bound, mean=mean, std=std, exclude_true=exclude_true)
    assert torch.equal(labels, expected)
    assert torch.equal(fgsm_nearest_labels(model, x, y, bound=bound, mean=mean, std=std, exclude_true=exclude_true),
                       expected)
    # the image the reference classified is the hand-computed 8-bit adversarial image, pixel for pixel
    assert len(reference.inputs) == 2 and torch.equal(reference.inputs[0], x)
    seen = (reference.inputs[1] * std + mean) * 255.0
    assert torch.equal(torch.round(seen), adversarial * 255.0)
    assert (seen - torch.round(seen)).abs().max() < 1e-3  # on the 8-bit grid
    # flipped = the unrestricted prediction left the true class, whatever exclude_true says
    plain = hand_fgsm(model, pixels, y, bound, mean, std, exclude_true=False)[1]
    assert torch.equal(flipped, plain != y)
    if exclude_true:
        assert (labels != y).all()
    else:  # where the one-step attack fails, the reference keeps the true label
        assert torch.equal(labels[~flipped], y[~flipped])

    # the batch separates the plausible wrong implementations (so the equalities above are not vacuous)
    assert 0 < int(flipped.sum()) < len(y), "need samples the attack flips and samples it does not"
    other = hand_fgsm(model, pixels, y, bound, mean, std, not exclude_true)[1]
    assert not torch.equal(other, expected), "exclude_true must matter on this batch"
    for wrong in (dict(sign=-1.0), dict(step_in_normalised_units=True)):
        assert not torch.equal(hand_fgsm(model, pixels, y, bound, mean, std, exclude_true, **wrong)[1], expected)
    unrounded = hand_fgsm(model, pixels, y, bound, mean, std, exclude_true, discretise=False)[0] * 255.0
    assert (unrounded - torch.round(unrounded)).abs().max() > 0.1  # without the 8-bit step it is off the grid


def test_boundary_shrink_trains_on_the_frozen_originals_fgsm_labels(problem, monkeypatch):
    """Through unlearn(): every batch's CE target is fgsm_attack's label, computed by a frozen copy of the
    *original* model in eval mode (not the model being trained), and equal to the hand-computed FGSM label."""
    original = problem["model"]
    before = state(original)
    calls, ce_calls, inside = [], [], [False]

    def recording_attack(reference, x, y, **kw):
        inside[0] = True
        try:
            out = fgsm_attack(reference, x, y, **kw)
        finally:
            inside[0] = False
        calls.append(dict(reference=reference, training=reference.training, x=x.detach().clone(), y=y.clone(),
                          state=state(reference), labels=out[0].clone(), **kw))
        return out

    class RecordingF:
        def __getattr__(self, name):
            return getattr(TF, name)

        @staticmethod
        def cross_entropy(logits, target, *args, **kwargs):
            if not inside[0]:
                ce_calls.append((logits.shape, target.clone()))
            return TF.cross_entropy(logits, target, *args, **kwargs)

    monkeypatch.setattr(boundary, "fgsm_attack", recording_attack)
    monkeypatch.setattr(boundary, "F", RecordingF())
    method = METHODS["boundary_shrink"](**TINY["boundary_shrink"])
    model = copy.deepcopy(original)
    trained, _ = method.unlearn(model, problem["class"])

    task = problem["class"]
    steps = method.epochs * math.ceil(len(task.forget) / method.batch_size)
    assert len(calls) == len(ce_calls) == steps
    mean, std = task.forget.mean, task.forget.std
    for call, (shape, target) in zip(calls, ce_calls):
        ref = call["reference"]
        assert ref is not trained and not call["training"], "labels must come from a frozen copy in eval mode"
        assert all(torch.equal(call["state"][k], before[k]) for k in before), "the reference must be the original"
        assert call["bound"] == method.bound and call["exclude_true"] == method.exclude_true_label
        assert (call["y"] == FORGET_CLASS).all()  # only the forget set is relabelled
        pixels = call["x"] * std + mean  # (augmented) batch in pixel space; bound 0.2 has no rounding ties
        _, expected = hand_fgsm(original.eval(), pixels, call["y"], method.bound, mean, std, method.exclude_true_label)
        assert torch.equal(call["labels"], expected)
        assert shape == (len(target), NUM_CLASSES) and torch.equal(target, call["labels"])
    assert any(not torch.equal(before[k], v) for k, v in state(trained).items())


# ------------------------------------------------------------------------------------------ Boundary Expand
def test_boundary_expand_trains_a_shadow_class_then_prunes_it(problem, monkeypatch):
    task, original = problem["class"], problem["model"]
    head0 = original.get_classifier()
    method = METHODS["boundary_expand"](**{**TINY["boundary_expand"], "augment": False})
    model = copy.deepcopy(original)
    seen = {"heads": [], "inputs": [], "widths": [], "first": None}
    ce_calls = []

    def pre_hook(module, args):
        if module.training:
            head = module.get_classifier()
            if seen["first"] is None:
                seen["first"] = (head.weight.detach().clone(), head.bias.detach().clone())
            seen["heads"].append(head)
            seen["inputs"].append(args[0].detach().clone())

    def hook(module, args, output):
        if module.training:
            seen["widths"].append(output.shape[1])

    class RecordingF:
        def __getattr__(self, name):
            return getattr(TF, name)

        @staticmethod
        def cross_entropy(logits, target, *args, **kwargs):
            ce_calls.append((logits.shape[1], target.clone()))
            return TF.cross_entropy(logits, target, *args, **kwargs)

    model.register_forward_pre_hook(pre_hook)
    model.register_forward_hook(hook)
    monkeypatch.setattr(boundary, "F", RecordingF())
    trained, log = method.unlearn(model, task)

    k, steps = NUM_CLASSES, method.epochs * math.ceil(len(task.forget) / method.batch_size)
    # during unlearning: K + 1 outputs, every target is the shadow class K
    assert seen["widths"] == [k + 1] * steps and len(ce_calls) == steps
    assert all(width == k + 1 and (target == k).all() for width, target in ce_calls)
    # the widened head started as the original rows plus the docstring's Xavier-normal shadow row, zero bias
    w0, b0 = seen["first"]
    assert torch.equal(w0[:k], head0.weight.detach()) and torch.equal(b0[:k], head0.bias.detach())
    gen = make_generator(task.seed, "shadow_init")
    widened = torch.empty(k + 1, head0.in_features).normal_(0.0, math.sqrt(2.0 / (head0.in_features + k + 1)),
                                                            generator=gen)
    assert torch.equal(w0[k], widened[k]) and b0[k] == 0
    # trained on the forget images only, each once per epoch
    forget = next(task.forget.batches(len(task.forget)))[0]
    inputs = torch.cat(seen["inputs"])
    assert len(inputs) == method.epochs * len(forget)
    matches = (inputs[:, None] == forget[None]).flatten(2).all(-1)  # inputs × forget images
    assert (matches.sum(1) == 1).all() and (matches.sum(0) == method.epochs).all()
    # the returned model is the pruned head: exactly the first K rows of the trained wide head
    wide = seen["heads"][-1]
    assert all(h is wide for h in seen["heads"]) and wide.out_features == k + 1
    head = trained.get_classifier()
    assert head.out_features == k and trained.num_classes == k
    assert set(trained.state_dict()) == set(original.state_dict()) and trained.eval()(forget).shape == (len(forget), k)
    assert torch.equal(head.weight, wide.weight.detach()[:k]) and torch.equal(head.bias, wide.bias.detach()[:k])
    assert not torch.equal(wide.weight.detach()[k], w0[k])  # the shadow row itself was trained
    backbone = [n for n in original.state_dict() if not n.startswith("fc.")]
    after = trained.state_dict()
    assert any(not torch.equal(original.state_dict()[n], after[n]) for n in backbone), "whole network fine-tuned"
    assert "after_pruning" in log
    # … and it was trained *towards* the shadow class: the wide model now prefers K on the forget images
    start, end = copy.deepcopy(original), copy.deepcopy(trained)
    for net, (w, b) in ((start, (w0, b0)), (end, (wide.weight.detach(), wide.bias.detach()))):
        boundary.replace_head(net, w.clone(), b.clone())
    with torch.no_grad():
        p_start = torch.softmax(start.eval()(forget), 1)[:, k]
        p_end = torch.softmax(end.eval()(forget), 1)[:, k]
    assert p_start.mean() < 0.01 and p_end.mean() > 0.9, (p_start.mean(), p_end.mean())  # measured: 5e-5 → 0.999


# ------------------------------------------------------------------------------------------ sample forgetting
MEM_N, MEM_FORGET = 96, 24
# Budgets on the memorised problem. TINY's budgets were set for the colour blobs, which generalise; a memorised
# sample is only forgotten by catastrophic interference, which takes more (or larger) steps for the methods
# that never touch D_f. Every value is a hyper-parameter the method declares; `augment` is off everywhere
# (a random crop of a noise image destroys what was memorised, for the retained samples as much as the
# forgotten ones).
SAMPLE_BUDGET = {
    "finetune": dict(epochs=30, lr=0.5, lr_schedule="cosine"),     # TINY: 4 epochs at lr 0.05
    "l1_sparse": dict(epochs=30, lr=0.5, lr_schedule="cosine"),
    "cf_k": dict(epochs=31, lr=0.5, k=9),                          # whole SGDR cycles 1+2+4+8+16
    "eu_k": dict(epochs=15, k=6),                                  # k = 3 keeps the memorising layers (see report)
    "neggrad_plus": dict(epochs=12),
    "gradient_ascent": dict(lr=0.05),
    "scrub": dict(lr=0.05),
    # |D|/|D_f| = 4: α must be below it to select anything (docstring); per-sample importances (batch 1) and a
    # strong dampening (λ 0.1) give the cleanest separation SSD reaches here (see the report: the weakest method)
    "ssd": dict(selection_weighting=1.5, batch_size=1, dampening_constant=0.1),
}
SAMPLE_METHODS = sorted(name for name, cls in METHODS.items() if "sample" in cls.supports and cls.runs_algorithm)


@pytest.fixture(scope="module")
def memorised(one_thread):
    """ResNet-8 trained to 100 % on 96 noise images with random labels (label smoothing 0.1 keeps the logits
    finite, so gradients do not vanish); 24 random samples are forgotten. Held-out noise is at chance."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (MEM_N + 64, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, MEM_N + 64)
    train = ImageArraySet(images[:MEM_N], labels[:MEM_N], NUM_CLASSES)
    heldout = ImageArraySet(images[MEM_N:], labels[MEM_N:], NUM_CLASSES)
    torch.manual_seed(0)
    model = create_model("cifar_resnet8", NUM_CLASSES)
    train_model(model, train, TrainConfig(epochs=30, batch_size=16, lr=0.05, weight_decay=0.0, augment=False,
                                          label_smoothing=0.1), seed=0, device=CPU, desc="memorise")
    model.eval()
    order = np.random.default_rng(1).permutation(MEM_N)
    task = UnlearnTask(forget=train.subset(np.sort(order[:MEM_FORGET])),
                       retain=train.subset(np.sort(order[MEM_FORGET:])), num_classes=NUM_CLASSES,
                       forget_classes=None, device=CPU, seed=3)
    assert accuracy(model, train, CPU) == 1.0
    assert mean_loss(model, heldout) > 1.5 > 0.2 > mean_loss(model, train)  # memorised, not generalised
    return {"model": model, "task": task}


def mean_loss(model: torch.nn.Module, data: ImageArraySet) -> float:
    model.eval()
    with torch.no_grad():
        x, y = next(data.batches(len(data)))
        return float(TF.cross_entropy(model(x), y))


def test_sample_budget_names_only_sample_methods():
    assert set(SAMPLE_BUDGET) <= set(SAMPLE_METHODS)
    assert len(SAMPLE_METHODS) >= 12


@pytest.mark.parametrize("name", SAMPLE_METHODS)
def test_sample_forgetting_raises_forget_loss_more_than_retain_loss(name, memorised):
    cls = METHODS[name]
    params = {**TINY[name], **SAMPLE_BUDGET.get(name, {})}
    if "augment" in {f.name for f in dataclasses.fields(cls)}:
        params["augment"] = False
    model, task = memorised["model"], memorised["task"]
    forget0, retain0 = mean_loss(model, task.forget), mean_loss(model, task.retain)
    outcome = cls(**params).run(copy.deepcopy(model), task)
    assert outcome.status == "ok", outcome.log
    d_forget = mean_loss(outcome.model, task.forget) - forget0
    d_retain = mean_loss(outcome.model, task.retain) - retain0
    # the forgotten samples' loss rises, by clearly more (0.1 nat) than the retained samples' loss
    assert d_forget > 0.1 and d_forget - d_retain > 0.1, (name, d_forget, d_retain)
