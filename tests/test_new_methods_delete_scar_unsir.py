"""DELETE, SCAR and UNSIR: registry round trip, a tiny run that changes the model where each algorithm
says it does, determinism, class-only scenario support, and NaN → ``status: diverged``.

The tiny problem is the one of ``tests/test_methods.py`` (4 colour-blob classes of 8×8 images, a pretrained
CIFAR ResNet-8, class 0 forgotten), with the fast settings of ``test_methods.TINY`` (whose generic tests
cover these methods too).
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from test_methods import CPU, FORGET_CLASS, TINY, build_problem, state  # the shared tiny problem
from unlearnbench.data.arrays import ImageArraySet
from unlearnbench.methods import METHODS, MethodConfigError, create_method, grid_points, method_schema
from unlearnbench.methods.base import BLOCK_KEYS
from unlearnbench.training import accuracy

NEW = ("delete", "scar", "unsir")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def problem(one_thread):
    return build_problem()


def run(name: str, problem, **overrides):
    method = METHODS[name](**{**TINY[name], **overrides})
    return method.run(copy.deepcopy(problem["model"]), problem["class"])


@torch.no_grad()
def forget_probability(model: torch.nn.Module, data: ImageArraySet) -> float:
    """Mean softmax probability of the forget class on ``data`` (eval mode)."""
    model.eval()
    x, _ = next(data.batches(len(data)))
    return float(F.softmax(model(x), dim=1)[:, FORGET_CLASS].mean())


# -------------------------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name", NEW)
def test_registry_round_trip(name):
    cls = METHODS[name]
    assert cls.name == name and cls.__module__ == f"unlearnbench.methods.{name}"
    default = create_method(f"my_{name}", {"algorithm": name})
    params = default.get_params()
    assert params == {f.name: f.default for f in dataclasses.fields(cls)}
    again = create_method(f"my_{name}", {"algorithm": name, **params, "scenarios": ["random2"], "tune": True})
    assert again == default and again.get_params() == params
    schema = method_schema(cls)
    assert set(schema["properties"]) == set(params) | set(BLOCK_KEYS)
    for key, value in params.items():
        assert schema["properties"][key]["default"] == value and schema["properties"][key]["description"]
    assert any(str(y) in cls.__doc__ for y in (2023, 2024, 2025)) and "github.com/" in cls.__doc__
    points = grid_points(name, {"algorithm": name})
    assert 1 <= len(points) <= 6 and all(create_method(name, {"algorithm": name, **p}) for p in points)
    assert any(all(p[k] == params[k] for k in p) for p in points), "the grid must contain the published default"
    assert cls.supports == frozenset({"class"})


@pytest.mark.parametrize("name", NEW)
def test_sample_forgetting_is_declared_unsupported(name, problem):
    with pytest.raises(ValueError, match="whole classes"):
        METHODS[name](**TINY[name]).unlearn(copy.deepcopy(problem["model"]), problem["sample"])


@pytest.mark.parametrize("name", NEW)
def test_out_of_range_values_are_rejected(name):
    key = {"delete": "mask", "scar": "surrogate", "unsir": "noise_copies"}[name]
    with pytest.raises(MethodConfigError, match=f"methods.bad.{key}"):
        create_method("bad", {"algorithm": name, key: 0 if name == "unsir" else "nonsense"})


# ------------------------------------------------------------------------------------------- tiny runs
@pytest.mark.parametrize("name", NEW)
def test_tiny_run_forgets_keeps_retain_and_is_deterministic(name, problem):
    first, second = run(name, problem), run(name, problem)
    assert first.status == "ok", first.log
    before, after, again = state(problem["model"]), state(first.model), state(second.model)
    assert any(not torch.equal(before[k], after[k]) for k in before), f"{name} did not change the weights"
    for k in after:
        assert torch.equal(after[k], again[k]), f"{name} is not deterministic: {k} differs between runs"
    task = problem["class"]
    forget_acc, retain_acc = accuracy(first.model, task.forget, CPU), accuracy(first.model, task.retain, CPU)
    assert forget_acc < problem["original"]["forget_acc"] - 0.3, (name, forget_acc)
    assert retain_acc >= 0.8, (name, retain_acc)
    log = first.log
    assert log["curve"] and log["images"] > 0 and "wall_time_s" in log
    assert {"forget_acc", "retain_test_acc"} <= set(log["curve"][-1])


def test_images_seen_match_what_each_algorithm_reads(problem):
    """DELETE trains on D_f only; SCAR reads D_r once, for its class statistics, and never trains on it;
    UNSIR never reads D_f (the learnt noise stands in for it) and passes over its retain subset twice."""
    task = problem["class"]
    n_forget, n_retain = len(task.forget), len(task.retain)
    delete = run("delete", problem)
    assert (delete.log["forget_images_seen"], delete.log["retain_images_seen"]) == (5 * n_forget, 0)
    scar = run("scar", problem)
    # nearest-class features (1 pass) + 3 steps per forget batch for 4 epochs + the stop checks (epochs 3, 4)
    assert (scar.log["forget_images_seen"], scar.log["retain_images_seen"]) == ((1 + 4 * 3 + 2) * n_forget, n_retain)
    unsir = run("unsir", problem)
    assert (unsir.log["forget_images_seen"], unsir.log["retain_images_seen"]) == (0, 2 * n_retain)


def test_scar_freeze_bn_keeps_the_batchnorm_statistics(problem):
    outcome = run("scar", problem, freeze_bn=True)
    assert outcome.status == "ok"
    before, after = state(problem["model"]), state(outcome.model)
    stats = [k for k in before if "running_" in k or "num_batches_tracked" in k]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)
    assert any(not torch.equal(before[k], after[k]) for k in before if k not in stats)
    moved = state(run("scar", problem).model)  # the reference's train mode moves them
    assert any(not torch.equal(before[k], moved[k]) for k in stats)


def test_delete_target_has_no_mass_on_the_masked_classes():
    from unlearnbench.methods.delete import masked_teacher_probs

    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 0, 2, 0, 1])
    own = masked_teacher_probs(logits, labels, "label", [0, 1])
    assert torch.allclose(own.sum(1), torch.ones(6)) and (own[torch.arange(6), labels] == 0).all()
    # the remaining classes keep the teacher's relative probabilities ("dark knowledge")
    keep = torch.tensor([1, 2, 3, 4])  # row 0 has label 0: only class 0 is masked
    assert torch.allclose(own[0, keep], F.softmax(logits[0, keep], dim=0), atol=1e-6)
    every = masked_teacher_probs(logits, labels, "forget_classes", [0, 1])
    assert (every[:, :2] == 0).all() and torch.allclose(every.sum(1), torch.ones(6))
    assert torch.allclose(every[:, 2:], F.softmax(logits[:, 2:], dim=1), atol=1e-6)


def test_delete_lowers_the_forget_class_probability(problem):
    task = problem["class"]
    before = forget_probability(problem["model"], task.forget)
    outcome = run("delete", problem)
    after = forget_probability(outcome.model, task.forget)
    assert before > 0.9 and after < 0.2, (before, after)
    # the mass went to the retain classes: the forget images are now predicted as a kept class
    assert outcome.log["curve"][-1]["forget_prob"] < outcome.log["curve"][0]["forget_prob"]


def test_unsir_noise_is_error_maximising(problem):
    from unlearnbench.methods.common import make_generator
    from unlearnbench.methods.unsir import learn_error_maximising_noise

    model = copy.deepcopy(problem["model"])
    reference = state(model)
    noise, losses = learn_error_maximising_noise(model, FORGET_CLASS, (32, 3, 8, 8), steps=20, lr=0.1, weight=0.1,
                                                 device=CPU, generator=make_generator(0, "noise"))
    assert all(torch.equal(v, reference[k]) for k, v in state(model).items()), "learning the noise changed the model"
    random = torch.randn(32, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.full((32,), FORGET_CLASS)
    with torch.no_grad():
        ce_learnt = F.cross_entropy(model.eval()(noise), labels)
        ce_random = F.cross_entropy(model(random), labels)
    assert ce_learnt > ce_random + 1.0, (float(ce_learnt), float(ce_random))
    assert losses[-1] < losses[0]


def test_unsir_learning_a_prefix_of_the_reference_batch_gives_the_same_images(problem):
    """The reference learns 256 noise images and uses the first 3; learning only those 3 with the loss
    averaged over 256 gives the same images (the images do not interact)."""
    from unlearnbench.methods.common import make_generator
    from unlearnbench.methods.unsir import learn_error_maximising_noise

    kw = dict(steps=15, lr=0.1, weight=0.1, device=CPU)
    full, _ = learn_error_maximising_noise(problem["model"], FORGET_CLASS, (64, 3, 8, 8),
                                           generator=make_generator(0, "n"), **kw)
    prefix, _ = learn_error_maximising_noise(problem["model"], FORGET_CLASS, (3, 3, 8, 8),
                                             generator=make_generator(0, "n"), average_over=64, **kw)
    assert torch.allclose(full[:3], prefix, atol=1e-5)


def test_unsir_log_reports_noise_and_both_phases(problem):
    outcome = run("unsir", problem)
    log = outcome.log
    assert log["noise"][str(FORGET_CLASS)]["last_loss"] < log["noise"][str(FORGET_CLASS)]["first_loss"]
    method = METHODS["unsir"](**TINY["unsir"])
    assert log["noise_samples"] == method.noise_images * method.noise_copies  # one forget class
    assert [e["phase"] for e in log["curve"]] == [0.0, 1.0]
    assert "impair_loss" in log["curve"][0] and "repair_loss" in log["curve"][1]


def test_scar_moves_forget_features_towards_the_nearest_wrong_class(problem):
    from unlearnbench.methods.scar import distance_to_targets, embed, nearest_wrong_classes

    task, method = problem["class"], METHODS["scar"](**TINY["scar"])
    original = copy.deepcopy(problem["model"])
    rows, classes, means, inv_covs = nearest_wrong_classes(original, task, [FORGET_CLASS], delta=method.delta,
                                                           gamma1=method.gamma1, gamma2=method.gamma2,
                                                           max_per_class=0, batch_size=64)
    assert FORGET_CLASS not in classes and len(rows) == len(task.forget)
    rows_t = torch.as_tensor(rows)
    before = distance_to_targets(embed(original, task.forget, CPU), rows_t, means, inv_covs, method.delta).mean()
    outcome = method.run(copy.deepcopy(problem["model"]), task)
    after = distance_to_targets(embed(outcome.model, task.forget, CPU), rows_t, means, inv_covs, method.delta).mean()
    assert after < 0.75 * before, (float(before), float(after))
    assert set(outcome.log["target_classes"]) == {str(c) for c in classes}
    # the model now predicts the forget images as their target classes, mostly
    with torch.no_grad():
        x, _ = next(task.forget.batches(len(task.forget)))
        pred = outcome.model.eval()(x).argmax(1).numpy()
    assert (pred == np.asarray(classes)[rows]).mean() > 0.5


def test_scar_surrogate_sources_are_seeded_and_distinct():
    from unlearnbench.methods.scar import surrogate_batch

    mean, std = torch.full((1, 3, 1, 1), 0.5), torch.full((1, 3, 1, 1), 0.25)
    a = surrogate_batch("gaussian_noise", 8, (3, 4, 4), mean, std, seed=0, purpose="p", device=CPU)
    b = surrogate_batch("gaussian_noise", 8, (3, 4, 4), mean, std, seed=0, purpose="p", device=CPU)
    c = surrogate_batch("gaussian_noise", 8, (3, 4, 4), mean, std, seed=0, purpose="q", device=CPU)
    u = surrogate_batch("uniform_noise", 8, (3, 4, 4), mean, std, seed=0, purpose="p", device=CPU)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert u.min() >= -2.0 - 1e-6 and u.max() <= 2.0 + 1e-6  # (0 − 0.5)/0.25 … (1 − 0.5)/0.25


def test_scar_surrogate_distillation_drops_forget_predictions():
    from unlearnbench.methods.scar import surrogate_distillation

    teacher = torch.tensor([[5.0, 0.0, 1.0], [0.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
    kl, kept = surrogate_distillation(teacher.clone(), teacher, [0], 1.0)
    assert float(kept) == pytest.approx(2 / 3)
    # the kept teacher rows have their forget logit at the batch minimum (0 here), so the student that
    # equals the unmasked teacher is already at zero KL only because those logits were 0 already
    assert float(kl) == pytest.approx(0.0, abs=1e-6)
    kl_all, kept_all = surrogate_distillation(teacher[:1], teacher[:1], [0], 1.0)
    assert float(kept_all) == 0.0 and float(kl_all) == 0.0


# ------------------------------------------------------------------------------------------- divergence
@pytest.mark.parametrize("name", NEW)
def test_nan_loss_reports_diverged(name, problem):
    overrides = {"delete": dict(lr=1e12), "scar": dict(lr=1e12, epochs=2),
                 "unsir": dict(impair_lr=1e12)}[name]
    outcome = run(name, problem, **overrides)
    assert outcome.status == "diverged", outcome.log
    assert "reason" in outcome.log and "wall_time_s" in outcome.log


def test_scar_distils_on_the_configured_out_of_distribution_set(problem):
    """`surrogate: task` reads the images of `methods.<instance>.surrogate_set` (task.surrogate): the run
    differs from the noise surrogate's, and without a set the error names the key."""
    from test_methods import blob_images

    task = problem["class"]
    x, y = blob_images(8, seed=7)  # stand-in natural images of other content
    ood = ImageArraySet(255 - x, y, 4)
    with_set = dataclasses.replace(task, surrogate=ood)
    natural = run("scar", {**problem, "class": with_set}, surrogate="task", epochs=2)
    noise = run("scar", problem, epochs=2)
    assert natural.status == "ok" and not all(torch.equal(a, b) for a, b in zip(
        state(natural.model).values(), state(noise.model).values()))
    with pytest.raises(ValueError, match="surrogate_set"):
        run("scar", problem, surrogate="task", epochs=1)


def test_surrogate_set_must_name_a_downstream_dataset():
    import yaml

    from conftest import REPO
    from unlearnbench.config import ConfigError, validate_config

    cfg = yaml.safe_load((REPO / "configs" / "quick.yaml").read_text())
    cfg["methods"]["scar"] = {"algorithm": "scar", "surrogate": "task", "surrogate_set": "unrelated"}
    validate_config(cfg)
    cfg["methods"]["scar"]["surrogate_set"] = "imagenet"
    with pytest.raises(ConfigError, match=r"methods\.scar\.surrogate_set: unknown downstream dataset 'imagenet'"):
        validate_config(cfg)
