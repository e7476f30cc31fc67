"""Methods as their authors ran them, with explicit budgets (issue #13).

Each test pins one behaviour of the reference code (or of the budget accounting) that the previous
implementation got wrong, so it fails on the old behaviour: SCRUB's min-steps over all of D_r, NegGrad+ as
in the SCRUB code, FT's constant lr and fresh retain subsets, SSD's no-op status, Boundary Shrink keeping the
true label where FGSM fails (and logging the real flip rate), float32 gradient statistics, the wall time of
the method alone, and the images-seen accounting from the sidecar to the leaderboard.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from unlearnbench.data.arrays import ImageArraySet
from unlearnbench.methods import METHODS, UnlearningMethod, UnlearnTask
from unlearnbench.models import create_model
from unlearnbench.layout import Layout, model_id
from unlearnbench.report import layout

CPU = torch.device("cpu")
#: the algorithms of this issue that train on the retain set
RETAIN_READERS = ("finetune", "l1_sparse", "neggrad_plus", "random_label", "salun", "scrub", "bad_teacher",
                  "last_layer")
REPO = Path(__file__).resolve().parents[1]
N_FORGET, N_RETAIN, CLASSES = 24, 72, 4


pytestmark = pytest.mark.usefixtures("one_thread")


def make_task(seed: int = 3, monitor: bool = False) -> UnlearnTask:
    """Distinct random 8×8 images (class 0 forgotten): every image is identifiable by its pixels."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(CLASSES), (N_FORGET + N_RETAIN) // CLASSES)
    data = ImageArraySet(rng.integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8), labels, CLASSES)
    forget, retain = data.subset(np.flatnonzero(labels == 0)), data.subset(np.flatnonzero(labels != 0))
    return UnlearnTask(forget=forget, retain=retain, num_classes=CLASSES, forget_classes=[0], device=CPU, seed=seed,
                       monitor={"forget": forget} if monitor else {})


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return create_model("cifar_resnet8", CLASSES).eval()


def run(name: str, net, task=None, **hparams):
    return METHODS[name](**hparams).run(copy.deepcopy(net), task or make_task())


# ------------------------------------------------------------------------------------------ budget accounting
def test_images_seen_are_counted_per_origin_through_subsets_relabelling_and_concat(net):
    rl = run("random_label", net, epochs=2, batch_size=16)  # relabelled D_f ∪ all of D_r, each epoch
    assert (rl.log["forget_images_seen"], rl.log["retain_images_seen"]) == (2 * N_FORGET, 2 * N_RETAIN)
    capped = run("random_label", net, epochs=2, batch_size=16, retain_fraction=0.5)
    assert (capped.log["forget_images_seen"], capped.log["retain_images_seen"]) == (2 * N_FORGET, N_RETAIN)
    ga = run("gradient_ascent", net, epochs=3, batch_size=8)
    assert (ga.log["forget_images_seen"], ga.log["retain_images_seen"]) == (3 * N_FORGET, 0)
    salun = run("salun", net, epochs=1, batch_size=16)  # + the saliency pass over D_f
    assert (salun.log["forget_images_seen"], salun.log["retain_images_seen"]) == (2 * N_FORGET, N_RETAIN)
    ssd = run("ssd", net, selection_weighting=1.0, batch_size=16)  # []_Df over D_f, []_D over D_r ∪ D_f
    assert (ssd.log["forget_images_seen"], ssd.log["retain_images_seen"]) == (2 * N_FORGET, N_RETAIN)


def test_tracked_batches_are_the_untracked_batches(net):
    """Accounting never changes a run: same images, order, augmentation and labels."""
    from unlearnbench.methods.accounting import RunCounters, track

    task = make_task()
    counters = RunCounters()
    tracked = track(task.retain, "retain", counters).subset(np.arange(40)).with_labels(np.arange(40) % CLASSES)
    plain = task.retain.subset(np.arange(40)).with_labels(np.arange(40) % CLASSES)
    for (xa, ya), (xb, yb) in zip(tracked.batches(16, train=True, seed=5, epoch=2), plain.batches(16, train=True,
                                                                                                   seed=5, epoch=2)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert counters.retain_images == 40 and counters.forget_images == 0
    assert isinstance(tracked, ImageArraySet) and np.array_equal(tracked.labels, plain.labels)


def test_full_passes_are_the_default_of_every_retain_reading_method():
    """The published recipes read all of D_r every epoch; caps live in the config (bad_teacher's 30 % is its
    published subset)."""
    for name in RETAIN_READERS:
        fields = {f.name: f for f in dataclasses.fields(METHODS[name])}
        assert "retain_fraction" in fields, name
        if "retain_fraction" in fields and name != "bad_teacher":
            assert fields["retain_fraction"].default == 1.0, name
        assert "retain_batches_per_epoch" not in fields, f"{name}: an absolute retain cap in the defaults"


def test_embedded_caps_are_named_in_the_config_and_presets_use_full_passes_or_one_shared_fraction():
    def methods(path):
        return yaml.safe_load((REPO / path).read_text())["methods"]

    embedded = methods("config.yaml")
    assert any(spec.get("retain_fraction", 1) < 1 for spec in embedded.values())  # written out, not defaults
    assert "EMBEDDED BUDGET CAPS" in (REPO / "config.yaml").read_text()
    for preset in ("configs/cifar100.yaml", "configs/zoo.yaml"):
        assert all(spec.get("retain_fraction", 1) == 1 for spec in methods(preset).values()), preset
    fractions = {spec["retain_fraction"] for spec in methods("configs/imagenet.yaml").values()
                 if "retain_fraction" in {f.name for f in dataclasses.fields(METHODS[spec["algorithm"]])}}
    assert fractions == {0.1}  # one shared, documented fraction for every method reading D_r


def test_wall_time_is_the_method_alone_and_monitoring_is_timed_separately():
    from unlearnbench.methods.common import UnlearnLoop, sgd_optimizer

    @dataclasses.dataclass
    class SlowMonitor(UnlearningMethod):  # not registered: the registry stays the zoo
        def unlearn(self, model, task):
            loop = UnlearnLoop(model, task, sgd_optimizer(model.parameters(), lr=0.1, momentum=0, weight_decay=0),
                               desc="slow", monitor=lambda: time.sleep(0.3) or {"x_acc": 1.0})
            for epoch in range(2):
                loss = model(torch.ones(2, 3)).pow(2).mean()
                loop.step(loss, epoch=epoch, images=2)
                loop.end_epoch(epoch)
            return model, loop.log()

    out = SlowMonitor().run(torch.nn.Linear(3, 2), make_task())
    assert out.status == "ok" and out.log["monitor_seconds"] >= 0.6
    assert out.log["wall_time_s"] < 0.3


# --------------------------------------------------------------------------------------------------- SCRUB
def test_scrub_min_steps_are_full_passes_over_the_retain_set(net):
    """Reference (large_scale_unlearning.ipynb cell 36): the min-step is train_distill over the whole retain
    loader every epoch; the old default stopped after 8 batches (≈ 1:30 of the reference on CIFAR-100)."""
    out = run("scrub", net, epochs=2, max_epochs=1, batch_size=4, forget_batch_size=8)
    assert out.log["max_steps"] == math.ceil(N_FORGET / 8)
    assert out.log["min_steps"] == 2 * math.ceil(N_RETAIN / 4)  # 36 > 2 × 8
    assert out.log["retain_images_seen"] == 2 * N_RETAIN and out.log["forget_images_seen"] == N_FORGET
    defaults = METHODS["scrub"]()
    assert (defaults.batch_size, defaults.forget_batch_size, defaults.retain_fraction) == (256, 512, 1.0)


def test_scrub_lr_follows_the_reference_milestones(net):
    out = run("scrub", net, epochs=5, max_epochs=1, lr=0.01, batch_size=32, forget_batch_size=32)
    assert [e["lr"] for e in out.log["curve"]] == pytest.approx([0.01, 0.01, 0.01, 0.001, 0.001])


# ------------------------------------------------------------------------------------------------ NegGrad+
def test_neggrad_plus_defaults_are_the_scrub_code_and_pass_over_all_of_the_retain_set(net):
    d = METHODS["neggrad_plus"]()
    assert (d.lr, d.momentum, d.weight_decay, d.alpha, d.epochs) == (0.01, 0.0, 0.0, 0.9999, 5)
    assert (d.batch_size, d.forget_batch_size, d.augment) == (128, 64, False)
    out = run("neggrad_plus", net, epochs=2, batch_size=16, forget_batch_size=8)
    steps = math.ceil(N_RETAIN / 16)  # one step per retain batch, each paired with a cycled forget batch
    assert out.log["steps"] == 2 * steps and out.log["retain_images_seen"] == 2 * N_RETAIN
    assert out.log["forget_images_seen"] == 2 * steps * 8


# ---------------------------------------------------------------------------------------------- FT / l1
class Recorder(torch.nn.Module):
    """A linear classifier that remembers the (un-augmented) images it was trained on."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8 * 8 * 3, CLASSES)
        self.seen: list[bytes] = []

    def forward(self, x):
        if self.training:
            self.seen += [row.numpy().tobytes() for row in x.detach()]
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("name", ["finetune", "l1_sparse"])
def test_finetune_lr_is_constant_by_default_and_cosine_on_request(name, net):
    constant = run(name, net, epochs=3, lr=0.02, batch_size=32)
    assert [e["lr"] for e in constant.log["curve"]] == [0.02, 0.02, 0.02]
    cosine = run(name, net, epochs=3, lr=0.02, batch_size=32, lr_schedule="cosine")
    assert cosine.log["curve"][-1]["lr"] < 0.01


def test_finetune_draws_a_fresh_retain_subset_every_epoch():
    model = Recorder()
    out = METHODS["finetune"](epochs=4, batch_size=8, retain_fraction=0.25, augment=False).run(model, make_task())
    assert out.log["retain_images_seen"] == 4 * round(0.25 * N_RETAIN) == len(model.seen)
    assert len(set(model.seen)) > round(0.25 * N_RETAIN)  # one fixed subset would repeat the same 18 images


def test_l1_penalty_decays_per_epoch_as_the_reference():
    method = METHODS["l1_sparse"](epochs=4, l1_weight=1.0)
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0), model.bias.fill_(1.0)
    assert [float(method.regulariser(model, e).detach()) for e in range(4)] == pytest.approx([3.0, 2.25, 1.5, 0.75])


# ---------------------------------------------------------------------------------------------------- SSD
def test_ssd_selecting_nothing_is_a_no_op_not_a_success(net):
    out = run("ssd", net, selection_weighting=1e12)
    assert out.status == "no_op"
    assert out.log["selected_fraction"] == 0.0 and "SSD selected no parameters" in out.log["no_op_reason"]
    before, after = net.state_dict(), out.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    selecting = run("ssd", net, selection_weighting=1.0)
    assert selecting.status == "ok" and selecting.log["selected_fraction"] > 0 and "no_op_reason" not in selecting.log
    assert METHODS["ssd"]().selection_weighting == 10.0  # the authors' α; the embedded config sets its own


def test_a_model_left_unchanged_is_a_no_op_for_any_method():
    @dataclasses.dataclass
    class Nothing(UnlearningMethod):
        def unlearn(self, model, task):
            return model, {"curve": []}

    out = Nothing().run(torch.nn.Linear(3, 2), make_task())
    assert out.status == "no_op" and out.log["no_op_reason"] == "every weight and buffer is unchanged"


def test_no_op_status_is_summarised_and_never_judged_a_success():
    from unlearnbench.aggregate import summarise_status
    from unlearnbench.report.leaderboard import run_status, with_no_op_reason
    from unlearnbench.report.verdicts import DIVERGED, UNDETERMINED, verdict

    assert summarise_status(["ok", "ok"]) == "ok"
    assert summarise_status(["ok", "no_op", "no_op"]) == "no-op (2/3 runs)"
    assert summarise_status(["no_op", "diverged", "ok"]) == "diverged (1/3 runs), no-op (1/3 runs)"
    runs = pd.DataFrame({"method": ["ssd"] * 2, "status": ["no_op", "no_op"],
                         "no_op_reason": ["SSD selected no parameters: …", "SSD selected no parameters: …"]})
    status = with_no_op_reason(run_status(runs), runs)
    assert status == "no-op (2/2 runs): SSD selected no parameters: …"
    good = {"forget_test_acc": {"mean": 0.0}, "retain_test_acc": {"mean": 0.9}}
    v, why = verdict("ssd", good, status, refs={"retrain": good}, kind="random", downstream=[])
    assert v == UNDETERMINED and why.startswith("no-op") and "SSD selected no parameters" in why
    v, why = verdict("ssd", good, "no-op (1/3 runs)", refs={"retrain": good}, kind="random", downstream=[])
    assert v == UNDETERMINED and "nothing was unlearned" in why
    assert verdict("x", good, "diverged (1/3 runs), no-op (1/3 runs)", refs={"retrain": good}, kind="random",
                   downstream=[])[0] == DIVERGED


# ----------------------------------------------------------------------------------------- fp32 statistics
def test_gradient_statistics_run_in_float32_without_autocast(monkeypatch):
    """SSD importances and SalUn saliency: no autocast, even where the loop's helper would enable it."""
    from unlearnbench.methods import common

    monkeypatch.setattr(common, "autocast", lambda device: torch.autocast("cpu", dtype=torch.bfloat16),
                        raising=False)
    states = []

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8 * 8 * 3, CLASSES)

        def forward(self, x):
            states.append(torch.is_autocast_enabled("cpu"))
            return self.fc(x.flatten(1))

    sums, batches = common.gradient_statistics(Probe(), make_task().forget, batch_size=8, device=CPU,
                                               statistic=lambda g: g.pow(2))
    assert batches == 3 and states == [False] * 3 and all(s.dtype == torch.float32 for s in sums.values())


# ------------------------------------------------------------------------------------------ Boundary Shrink
class Constant(torch.nn.Module):
    """Predicts class 0 whatever the input: no FGSM step can flip it."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([3.0, 1.0, 0.0, 0.0]))

    def forward(self, x):
        return self.bias.expand(len(x), -1) + 0.0 * x.mean(dim=(1, 2, 3))[:, None]


def test_boundary_shrink_keeps_the_true_label_where_the_attack_fails_and_logs_the_real_flip_rate():
    from unlearnbench.methods.boundary import fgsm_attack

    task = make_task()
    x, y = next(task.forget.batches(8))
    labels, flipped = fgsm_attack(Constant().eval(), x, y, bound=0.1, mean=task.forget.mean, std=task.forget.std,
                                  exclude_true=False)
    assert torch.equal(labels, y) and not flipped.any()  # the reference's plain argmax keeps the true label
    excluded, flipped_ex = fgsm_attack(Constant().eval(), x, y, bound=0.1, mean=task.forget.mean,
                                       std=task.forget.std, exclude_true=True)
    assert (excluded != y).all() and not flipped_ex.any()  # relabelled, yet the attack did not succeed
    assert METHODS["boundary_shrink"]().exclude_true_label is False
    out = METHODS["boundary_shrink"](epochs=2, batch_size=8, lr=0.1).run(Constant(), task)
    assert out.log["attack_success"] == 0.0 and all(e["attack_success"] == 0.0 for e in out.log["curve"])
    forced = METHODS["boundary_shrink"](epochs=1, batch_size=8, exclude_true_label=True).run(Constant(), task)
    assert forced.log["attack_success"] == 0.0 and forced.log["curve"][0]["relabelled"] == 1.0


# ----------------------------------------------------------------------------------------- Boundary Expand
def test_boundary_expand_shadow_row_initialisations():
    from unlearnbench.methods.boundary import shadow_row
    from unlearnbench.methods.common import make_generator

    w, b = shadow_row(512, 10, "xavier", make_generator(0, "shadow_init"))  # authors' init_params
    assert w.shape == (1, 512) and b.tolist() == [0.0]
    assert float(w.std()) == pytest.approx(math.sqrt(2 / (512 + 11)), rel=0.15)
    w, b = shadow_row(512, 10, "linear", make_generator(0, "shadow_init"))  # nn.Linear's default, SalUn's port
    limit = 1 / math.sqrt(512)
    assert float(w.abs().max()) <= limit and float(w.std()) == pytest.approx(limit / math.sqrt(3), rel=0.15)
    assert 0 < abs(float(b)) <= limit
    assert METHODS["boundary_expand"]().shadow_init == "xavier"


# ------------------------------------------------------------------------------------- rows and leaderboard
def test_result_rows_and_report_carry_the_budget(tmp_path):
    from unlearnbench.report.leaderboard import INFO, display_table, quantities
    from unlearnbench.report.sources import load_runs
    from unlearnbench.results import COLUMNS, NULLABLE, read_results, write_results

    for col in ("forget_images_seen", "retain_images_seen", "selected_fraction"):
        assert col in COLUMNS and col in NULLABLE
    import pyarrow as pa

    base = {c: "x" if t == pa.string() else 0 if t == pa.int64() else 0.5 for c, t in COLUMNS.items()}
    rows = [base | {"method": "ssd", "forget_images_seen": 48, "retain_images_seen": 144, "selected_fraction": 0.0},
            base | {"method": "retrain", "forget_images_seen": None, "retain_images_seen": None,
                    "selected_fraction": None}]
    write_results(rows, tmp_path / "r.parquet")
    back = read_results(tmp_path / "r.parquet").set_index("method")
    assert back.loc["ssd", "retain_images_seen"] == 144 and back.loc["ssd", "selected_fraction"] == 0.0
    assert pd.isna(back.loc["retrain", "forget_images_seen"])

    sidecar = tmp_path / "ssd.json"
    sidecar.write_text(json.dumps({"status": "no_op", "wall_time_s": 1.0, "forget_images_seen": 96,
                                   "retain_images_seen": 36000, "no_op_reason": "SSD selected no parameters"}))
    runs, _ = load_runs({("s", 0, "ssd"): sidecar})
    assert runs.loc[0, "retain_images_seen"] == 36000 and runs.loc[0, "no_op_reason"].startswith("SSD")
    assert {"forget_images_seen", "retain_images_seen"} <= set(INFO)
    table = pd.DataFrame({"rank": [1, 2], "method": ["ssd", "retrain"], "algorithm": ["ssd", "retrain"],
                          "verdict": ["—", "reference"], "n_seeds": [1, 1], "status": ["no-op (1/1 runs)", "ok"],
                          "wall_time_s": [1.0, 9.0], "forget_images_seen": [96.0, math.nan],
                          "retain_images_seen": [36000.0, math.nan], "verdict_reason": ["no-op", "reference"],
                          "recovery": ["—", "reference"], "recovery_reason": ["status no-op", "control"]})
    for q, _ in quantities([]):
        table[q], table[f"{q}_ci95"] = math.nan, math.nan
    shown = display_table(table, [])["images seen (forget / retain)"].tolist()
    assert shown == ["96 / 36.0k", "—"]


def test_the_workflow_records_budgets_in_sidecars_and_result_rows(quick_out):
    """End to end (configs/quick.yaml): every unlearning sidecar and its result rows carry the budget; the
    references' rows carry nulls."""
    from unlearnbench.checkpoints import read_meta
    from unlearnbench.results import read_results

    ckpts = Layout(quick_out).glob(Layout(quick_out).checkpoint(model_id("*", "*", "*")))
    assert ckpts
    for ckpt in ckpts:
        meta = read_meta(ckpt)
        assert meta["forget_images_seen"] > 0 and meta["retain_images_seen"] >= 0, ckpt
        assert meta["monitor_seconds"] >= 0 and meta["wall_time_s"] > 0 and meta["n_retain"] > 0
    rows = read_results(layout.results_table(quick_out))
    unlearned = rows[~rows["method"].isin(["original", "original_prime", "retrain"])]
    assert unlearned["forget_images_seen"].notna().all() and (unlearned["forget_images_seen"] > 0).all()
    assert rows[rows["method"] == "retrain"]["forget_images_seen"].isna().all()
