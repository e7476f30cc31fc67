"""Random labelling (RL): train on the forget set with random wrong labels, together with retain data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (ParameterMask, UnlearnLoop, concat_sets, epoch_batches, random_subset,
                                         relabelled, seeded_global_rng, sgd_optimizer)
from unlearnbench.training import autocast

LABEL_POOLS = ("other", "any", "retain_classes")


@register_method("random_label")
@dataclass
class RandomLabel(UnlearningMethod):
    """RL: fine-tune on D_f relabelled at random, mixed with D_r, with cross-entropy.

    Golatkar et al. 2020 ("Eternal Sunshine of the Spotless Net", CVPR) and Graves et al. 2021
    ("Amnesiac Machine Learning", AAAI); the RL baseline of Fan et al. 2024 (SalUn, ICLR), whose code
    (``unlearn/RL.py``) draws fresh random labels every epoch, concatenates the relabelled forget set with
    the retain set, shuffles, and trains with SGD (momentum 0.9, weight decay 5e-4, constant lr) for 10
    epochs.

    Random labels (``label_pool``): ``other`` (default) — uniform over all classes except the sample's
    true class, the usual definition of RL/amnesiac unlearning (for class forgetting, other forget classes
    may be drawn); ``any`` — uniform over all classes, exactly as SalUn's code (``randint(0, num_classes)``,
    which hits the true class with probability 1/K); ``retain_classes`` — only classes not being forgotten.

    Deviations (budget): each epoch mixes the whole relabelled forget set with ``retain_batches_per_epoch ×
    batch_size`` (1280) fresh random retain samples instead of all of D_r, 2 epochs instead of 10, batch 64
    instead of 256, and lr 3e-4 — SalUn's range for RL (0.01–0.1) collapses the weak ResNet-8 of the
    embedded default (retain accuracy −0.15 at 0.01, −0.05 at 3e-4, forget accuracy ≈ 0 at both).
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (1e-3, 3e-3, 1e-2)}

    epochs: int = hparam(2, ge=1, help="epochs (reference: 10)")
    lr: float = hparam(3e-4, gt=0, help="constant SGD learning rate")
    batch_size: int = hparam(64, ge=1, help="mini-batch size of the mixed forget+retain set")
    retain_batches_per_epoch: int = hparam(20, ge=0, help="retain samples per epoch, in batches (0: forget only)")
    label_pool: str = hparam("other", choices=LABEL_POOLS, help="where random labels are drawn from")
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = hparam(5e-4, ge=0, help="SGD weight decay")
    augment: bool = hparam(True, help="CIFAR random-crop + flip augmentation")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        return self.train_random_labels(model, task, mask=None)

    def train_random_labels(self, model: torch.nn.Module, task: UnlearnTask,
                            mask: ParameterMask | None) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The RL loop; with ``mask`` only the masked weights move (SalUn)."""
        optimizer = sgd_optimizer(model.parameters(), lr=self.lr, momentum=self.momentum,
                                  weight_decay=self.weight_decay)
        loop = UnlearnLoop(model, task, optimizer, desc=type(self).name,
                           after_backward=mask.mask_gradients if mask else None,
                           after_step=mask.restore if mask else None)
        retain_per_epoch = self.retain_batches_per_epoch * self.batch_size
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.epochs):
                parts = [relabelled(task.forget, task, self.label_pool, epoch)]
                if retain_per_epoch and len(task.retain):
                    parts.append(random_subset(task.retain, retain_per_epoch / len(task.retain), task.seed,
                                               f"retain/{epoch}"))
                mixed = concat_sets(*parts)
                model.train()
                for x, y in epoch_batches(mixed, self.batch_size, seed=task.seed, epoch=epoch, device=task.device,
                                          augment=self.augment):
                    with autocast(task.device):
                        loss = F.cross_entropy(model(x), y)
                    loop.step(loss, epoch=epoch, images=len(y))
                loop.end_epoch(epoch, retain_samples=float(len(mixed) - len(task.forget)))
        return model, loop.log()
