"""Recovery attacks: closed-form behaviour of each attack on the tiny blob problem of test_methods (4 colour
classes, a ResNet-8 trained to ~100 %, class 0 forgotten), determinism, and parameter validation."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from unlearnbench.attacks import ATTACKS, AttackTarget, attack_config
from unlearnbench.attacks.prototype import attacked_logits
from unlearnbench.metrics.base import EvalContext, FeatureSet
from unlearnbench.metrics.probe import LinearProbe
from unlearnbench.models import create_model
from test_methods import CPU, FORGET_CLASS, NUM_CLASSES, blob_images, build_problem
from unlearnbench.data.arrays import ImageArraySet

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def problem(one_thread):
    p = build_problem()
    x_test, y_test = blob_images(16, seed=5)
    p["test"] = ImageArraySet(x_test, y_test, NUM_CLASSES)
    p["train"] = p["class"].forget.concat(p["class"].retain)
    return p


def feature_set(model, data) -> FeatureSet:
    model.eval()
    with torch.no_grad():
        x, y = next(data.batches(len(data)))
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
        logits = model.get_classifier()(pre)
    return FeatureSet(labels=y.numpy(), logits=logits.numpy(), layers={"pre_logits": pre.numpy()})


def context(model, problem) -> EvalContext:
    train, test = feature_set(model, problem["train"]), feature_set(model, problem["test"])
    return EvalContext(features={"model": {"train": train, "test": test}},
                       forget_train_idx=np.flatnonzero(train.labels == FORGET_CLASS),
                       retain_train_idx=np.flatnonzero(train.labels != FORGET_CLASS),
                       forget_test_idx=np.flatnonzero(test.labels == FORGET_CLASS),
                       retain_test_idx=np.flatnonzero(test.labels != FORGET_CLASS), num_classes=NUM_CLASSES,
                       forget_classes=[FORGET_CLASS], layers=["pre_logits"], seed=0)


def target(problem, ceiling: float = 1.0) -> AttackTarget:
    test = problem["test"]
    return AttackTarget(pool=problem["class"].forget, retain=problem["class"].retain,
                        measure=test.subset(np.flatnonzero(test.labels == FORGET_CLASS)), measure_split="forget_test",
                        forget_classes=[FORGET_CLASS], ceiling=ceiling, device=CPU, seed=0)


def value(rows, split="forget_test", metric="relearn", step=None):
    hits = [r for r in rows if r["split"] == split and r["metric"] == metric and r["step"] == step]
    assert len(hits) == 1, hits
    return hits[0]["value"]


def zero_forget_row(model, bias: float = -3.0):
    """The class's head row removed and nothing else: weights zeroed, bias below the other logits."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        out.get_classifier().weight[FORGET_CLASS] = 0.0
        out.get_classifier().bias[FORGET_CLASS] = bias
    return out


def test_attacked_logits_equal_a_head_whose_row_was_overwritten(problem):
    model = problem["model"]
    fs = feature_set(model, problem["test"])
    p = np.random.default_rng(0).normal(size=fs.layers["pre_logits"].shape[1])
    for metric, (w, b) in {"cosine": (p, 0.0), "l2": (2 * p, -p @ p)}.items():
        head = copy.deepcopy(model.get_classifier()).double()
        with torch.no_grad():
            head.weight[1] = 0.3 * torch.from_numpy(w) + 0.7 * head.weight[1]
            head.bias[1] = 0.3 * b + 0.7 * head.bias[1]
            want = head(torch.from_numpy(fs.layers["pre_logits"]).double()).numpy()
        got = attacked_logits(fs.logits, fs.layers["pre_logits"], {1: p}, alpha=0.3, metric=metric)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_prototype_attack_recovers_a_class_whose_head_row_was_removed(problem):
    original = problem["model"]
    zeroed = zero_forget_row(original, bias=0.0)  # the row zeroed, weights and bias, and nothing else
    attack = ATTACKS.create("prototype_relearn")
    before = feature_set(zeroed, problem["test"])
    idx = np.flatnonzero(before.labels == FORGET_CLASS)
    assert (before.logits[idx].argmax(1) == FORGET_CLASS).mean() == 0.0  # forgotten on logits
    orig_acc = value(attack.run(context(original, problem)))
    recovered = value(attack.run(context(zeroed, problem)))
    assert orig_acc > 0.9  # on the original the attack leaves forget accuracy ≈ the original's (1.0)
    assert recovered >= 0.9 * orig_acc, (recovered, orig_acc)


def test_fresh_model_does_not_relearn_within_the_default_budget(problem):
    """Under the same removed head row, a network that never learnt anything (fresh initialisation) relearns
    the class much later than the trained model, whose features still separate it (on these trivial colour
    blobs even a fresh network gets there eventually: 14 of 16 steps, measured)."""
    torch.manual_seed(0)
    fresh = zero_forget_row(create_model("cifar_resnet8", NUM_CLASSES))
    attack = ATTACKS.create("fewshot_relearn")
    fresh_rows = attack.run(fresh, target(problem, ceiling=1.0))
    zeroed_rows = attack.run(zero_forget_row(problem["model"]), target(problem, ceiling=1.0))
    assert value(fresh_rows, step=0) == value(zeroed_rows, step=0) == 0.0
    assert value(zeroed_rows, metric="relearn_steps") < value(fresh_rows, metric="relearn_steps")
    assert value(zeroed_rows, metric="relearn_auc") > value(fresh_rows, metric="relearn_auc") + 0.2


def test_layer_probe_at_pre_logits_equals_the_probe_metric(problem):
    ctx = context(problem["model"], problem)
    rows = ATTACKS.create("layer_probe", train_per_class=20).run(ctx)
    probe = LinearProbe(train_per_class=20).evaluate(ctx)
    assert {(r["split"], r["layer"], r["value"], r["se"]) for r in rows} == \
        {(r["split"], r["layer"], r["value"], r["se"]) for r in probe}
    assert all(r["metric"] == "relearn" and r["variant"] == "layer_probe" for r in rows)


def test_fewshot_relearn_curve_rows_and_summaries(problem):
    attack = ATTACKS.create("fewshot_relearn", steps=10, eval_every=2)
    rows = attack.run(zero_forget_row(problem["model"]), target(problem, ceiling=1.0))
    points = (0, 2, 4, 6, 8, 10)
    assert [r["step"] for r in rows if r["metric"] == "relearn"] == list(points)
    curve = [value(rows, step=k) for k in points]
    assert curve[0] == 0.0 and curve[-1] > 0.5, curve  # the removed row comes back within 10 steps
    assert value(rows, metric="relearn_auc") == pytest.approx(np.mean(curve))
    first = next((k for k, c in zip(points, curve) if c >= 0.95), 12)
    assert value(rows, metric="relearn_steps") == first


def test_relearn_steps_is_zero_for_the_ceiling_and_censored_when_never_reached(problem):
    model = problem["model"]
    rows = ATTACKS.create("fewshot_relearn", steps=2, eval_every=1).run(model, target(problem, ceiling=1.0))
    assert value(rows, metric="relearn_steps") == 0.0  # the original is already at its own accuracy
    gone = zero_forget_row(model, bias=-10.0)
    rows = ATTACKS.create("retain_relearn", steps=2, eval_every=1).run(gone, target(problem, ceiling=1.0))
    assert value(rows, metric="relearn_steps") == 3.0  # steps + eval_every: not reached within the budget


def test_retain_relearn_never_sees_a_forget_image(problem):
    attack = ATTACKS.create("retain_relearn", steps=3, eval_every=1, batch_size=16)
    batches = attack.batches(target(problem), seed=0)
    for _ in range(6):
        _, y = next(batches)
        assert FORGET_CLASS not in y.tolist()


def test_model_attacks_are_seeded_and_bit_reproducible(problem):
    zeroed = zero_forget_row(problem["model"])
    runs = [ATTACKS.create("fewshot_relearn", steps=3, eval_every=1).run(zeroed, target(problem)) for _ in range(2)]
    assert [(r["value"], r["se"]) for r in runs[0]] == [(r["value"], r["se"]) for r in runs[1]]
    # the attacked model is a copy: every tensor of the input model is unchanged
    untouched = zero_forget_row(problem["model"]).state_dict()
    assert all(torch.equal(v, untouched[k]) for k, v in zeroed.state_dict().items())


def test_a_step_zero_scored_once_for_the_job_gives_every_attack_the_rows_it_computes_alone(problem):
    """The attack job scores the loaded model once (``AttackTarget.start``) for all its attacks: the rows are
    those each attack gives when it scores its own step 0."""
    from unlearnbench.attacks.relearn import correctness

    zeroed = zero_forget_row(problem["model"])
    shared, planted = target(problem), target(problem)
    shared.start = correctness(zeroed, shared.measure, CPU)
    planted.start = np.ones(len(planted.measure))  # not what the model scores (0: its forget row is removed)
    assert shared.start.shape == (len(shared.measure),) and shared.start.mean() == 0.0
    for name in ("fewshot_relearn", "retain_relearn"):
        attack = ATTACKS.create(name, steps=2, eval_every=1)
        alone, once = attack.run(zeroed, target(problem)), attack.run(zeroed, shared)
        assert [(r["step"], r["value"], r["se"]) for r in alone] == [(r["step"], r["value"], r["se"]) for r in once]
        assert value(attack.run(zeroed, planted), step=0) == 1.0  # the attack reads the shared step 0, not its own


@pytest.mark.parametrize("name,params,key", [
    ("prototype_relearn", {"per_class": 0}, "per_class"),
    ("prototype_relearn", {"alpha": 1.5}, "alpha"),
    ("prototype_relearn", {"metric": "dot"}, "metric"),
    ("fewshot_relearn", {"steps": 0}, "steps"),
    ("fewshot_relearn", {"eval_every": 20, "steps": 10}, "eval_every"),
    ("retain_relearn", {"lr": -1.0}, "lr"),
    ("layer_probe", {"C": 0}, "C"),
])
def test_attack_parameters_are_validated_naming_the_key(name, params, key):
    with pytest.raises(ValueError, match=key):
        ATTACKS.create(name, **params)


def test_config_rejects_unknown_attack_and_bad_parameter():
    from unlearnbench.config import ConfigError, load_yaml, validate_config

    cfg = load_yaml("config.yaml")
    with pytest.raises(ConfigError, match=r"attacks\.params\.nope: unknown attack; registered"):
        validate_config({**cfg, "attacks": {"params": {"nope": {}}}})
    with pytest.raises(ConfigError, match=r"attacks\.params\.fewshot_relearn: steps"):
        validate_config({**cfg, "attacks": {"params": {"fewshot_relearn": {"steps": 0}}}})
    assert attack_config({"enabled": False}) == {}
    assert set(attack_config({"enabled": True}, kind="model")) == {"fewshot_relearn", "retain_relearn"}
