"""Bad Teacher: distil from the original model on retain data and from a random network on forget data."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from unlearnbench._lazy import torch, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (UnlearnLoop, concat_sets, epoch_batches, random_subset,
                                         seeded_global_rng)
from unlearnbench.training import autocast


def incompetent_teacher(model: torch.nn.Module) -> torch.nn.Module:
    """A randomly initialised network of the same architecture (every module's ``reset_parameters``,
    under the caller's seeded RNG; BatchNorm running statistics reset too), frozen in eval mode."""
    teacher = copy.deepcopy(model)
    for module in teacher.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def bad_teacher_loss(student_logits: torch.Tensor, good_logits: torch.Tensor, bad_logits: torch.Tensor,
                     is_forget: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(p_teacher ‖ p_student) with p_teacher the bad teacher's softmax on forget samples and the good
    teacher's on retain samples; averaged over batch *and* classes, as ``F.kl_div(reduction="mean")`` in
    the authors' ``UnlearnerLoss``."""
    t = float(temperature)
    target = torch.where(is_forget[:, None], F.softmax(bad_logits.float() / t, dim=1),
                         F.softmax(good_logits.float() / t, dim=1))
    log_student = F.log_softmax(student_logits.float() / t, 1)
    return F.kl_div(log_student, target, reduction="batchmean") / student_logits.shape[1]


@register_method("bad_teacher")
@dataclass
class BadTeacher(UnlearningMethod):
    """Bad Teacher (incompetent-teacher knowledge distillation).

    Chundawat, Tarun, Mandal & Kankanhalli 2023, "Can Bad Teaching Induce Forgetting? Unlearning in Deep
    Networks Using an Incompetent Teacher" (AAAI; arXiv 2205.08096). The student (initialised from the
    original model) is distilled, at temperature T, from the competent teacher (the frozen original) on
    retain samples and from an incompetent teacher (a randomly initialised network of the same
    architecture) on forget samples, with one KL loss over a shuffled mix of D_f and a random 30 % of D_r.
    Defaults of the authors' code (github.com/vikram2000b/bad-teaching-unlearning ``unlearn.py``:
    ``UnlearnerLoss`` L9-19, ``blindspot_unlearner`` L67-87) as run in the SSD repository
    (github.com/if-loops/selective-synaptic-dampening ``src/forget_full_class_strategies.py`` L183-218):
    T = 1, Adam lr 1e-4, one fixed random 30 % of D_r (``random.sample``, L197-199) mixed with all of D_f,
    batch 256, 1 epoch. ``retain_fraction`` is that published subset size (fixed for the run, not redrawn
    per epoch); presets that cap every method's retain data at one shared fraction set it to that fraction.

    Deviation: the random teacher is the model's own architecture re-initialised with each module's
    ``reset_parameters`` (seeded from ``task.seed``), not the architecture's custom initialiser.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (1e-4, 1e-3), "epochs": (1, 2)}

    epochs: int = hparam(1, ge=1, help="passes over the forget + retain mix")
    lr: float = hparam(1e-4, gt=0, help="Adam learning rate")
    batch_size: int = hparam(256, ge=1, help="mini-batch size")
    retain_fraction: float = hparam(0.3, gt=0, le=1, help="seeded fraction of D_r in the mix (reference 0.3)")
    temperature: float = hparam(1.0, gt=0, help="KL temperature (reference 1)")
    augment: bool = hparam(True, help="CIFAR random-crop + flip augmentation")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        good = copy.deepcopy(model).eval()
        for p in good.parameters():
            p.requires_grad_(False)
        with seeded_global_rng(task.seed, task.device):
            bad = incompetent_teacher(model)
        retain = random_subset(task.retain, self.retain_fraction, task.seed, "retain_subset")
        # The label of the mixed set marks membership: 1 = forget sample, 0 = retain sample.
        mixed = concat_sets(task.forget.with_labels(np.ones(len(task.forget), dtype=np.int64)),
                            retain.with_labels(np.zeros(len(retain), dtype=np.int64)))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        loop = UnlearnLoop(model, task, optimizer, desc=type(self).name)
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.epochs):
                model.train()
                for x, member in epoch_batches(mixed, self.batch_size, seed=task.seed, epoch=epoch,
                                               device=task.device, augment=self.augment):
                    with autocast(task.device):
                        with torch.no_grad():
                            good_logits, bad_logits = good(x), bad(x)
                        loss = bad_teacher_loss(model(x), good_logits, bad_logits, member.bool(), self.temperature)
                    loop.step(loss, epoch=epoch, images=len(x))
                loop.end_epoch(epoch)
        return model, loop.log(retain_used=len(retain))
