"""NegGrad+: descent on the retain set and ascent on the forget set, in one weighted loss."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (UnlearnLoop, endless_batches, epoch_batches, seeded_global_rng,
                                         sgd_optimizer)
from unlearnbench.training import autocast


@register_method("neggrad_plus")
@dataclass
class NegGradPlus(UnlearningMethod):
    """NegGrad+: minimise α·CE(D_r batch) − (1−α)·CE(D_f batch).

    Kurmanji, Triantafillou, Hayes & Triantafillou 2023, "Towards Unbounded Machine Unlearning" (NeurIPS;
    arXiv 2302.09880), the strengthened NegGrad baseline. As ``train_negrad`` of the SCRUB code: each step
    pairs one retain batch with the next batch of an endlessly cycled forget loader
    (``zip(retain_loader, cycle(forget_loader))``), α = 0.999, SGD with momentum 0.9 and weight decay 5e-4.

    Deviation (budget): an epoch is ``retain_batches_per_epoch`` fresh random retain batches instead of a
    full pass over D_r; lr 0.003, 5 epochs, retain batch 64 and forget batch 32 chosen on the embedded
    default (forget accuracy → 0 with retain accuracy within 0.02 of the original there).
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (0.01, 0.03), "alpha": (0.9, 0.99)}

    epochs: int = hparam(5, ge=1, help="epochs (each = retain_batches_per_epoch paired steps)")
    lr: float = hparam(0.003, gt=0, help="constant SGD learning rate")
    alpha: float = hparam(0.999, gt=0, lt=1, help="weight α of the retain CE; the forget CE gets −(1−α)")
    batch_size: int = hparam(64, ge=1, help="retain mini-batch size")
    forget_batch_size: int = hparam(32, ge=1, help="forget mini-batch size")
    retain_batches_per_epoch: int = hparam(6, ge=1, help="retain batches (= steps) per epoch")
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = hparam(5e-4, ge=0, help="SGD weight decay")
    augment: bool = hparam(True, help="CIFAR random-crop + flip augmentation")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        optimizer = sgd_optimizer(model.parameters(), lr=self.lr, momentum=self.momentum,
                                  weight_decay=self.weight_decay)
        loop = UnlearnLoop(model, task, optimizer, desc=type(self).name)
        forget = endless_batches(task.forget, self.forget_batch_size, seed=task.seed + 1, device=task.device,
                                 augment=self.augment)
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.epochs):
                model.train()
                for (xr, yr), (xf, yf) in zip(epoch_batches(task.retain, self.batch_size, seed=task.seed,
                                                            epoch=epoch, device=task.device, augment=self.augment,
                                                            max_batches=self.retain_batches_per_epoch), forget):
                    with autocast(task.device):
                        retain_ce = F.cross_entropy(model(xr), yr)
                        forget_ce = F.cross_entropy(model(xf), yf)
                        loss = self.alpha * retain_ce - (1 - self.alpha) * forget_ce
                    loop.step(loss, epoch=epoch, images=len(yr) + len(yf), retain_ce=retain_ce,
                              forget_ce=forget_ce)
                loop.end_epoch(epoch)
        return model, loop.log()
