"""NegGrad+: descent on the retain set and ascent on the forget set, in one weighted loss."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (RETAIN_FRACTION_HELP, UnlearnLoop, endless_batches, epoch_batches,
                                         retain_for_epoch, seeded_global_rng, sgd_optimizer)
from unlearnbench.training import autocast


@register_method("neggrad_plus")
@dataclass
class NegGradPlus(UnlearningMethod):
    """NegGrad+: minimise α·CE(D_r batch) − (1−α)·CE(D_f batch).

    Kurmanji, Triantafillou, Hayes & Triantafillou 2023, "Towards Unbounded Machine Unlearning" (NeurIPS;
    arXiv 2302.09880), the strengthened NegGrad baseline, as run in the authors' code (github.com/meghdadk/
    SCRUB): ``train_negrad`` (``thirdparty/repdistiller/helper/loops.py`` L12-52) pairs every retain batch
    of a full pass over D_r with the next batch of a cycled forget loader (``zip(train_loader,
    cycle(delete_loader))``, L23) and minimises ``alpha·r_loss − (1−alpha)·del_loss`` (L41); the optimizer
    is plain SGD with ``weight_decay=0.0`` and no momentum (``negative_grad``, ``resnet50_cifar100.ipynb``
    cell 16); α = 0.9999, 5 epochs, lr 0.01 (cell 23, ``ng_alpha``/``ng_epochs``/``ng_lr``), retain batch
    128 and forget batch 64 (cell 23, ``retain_bs``/``forget_bs``), no augmentation (cell 23,
    ``augment=False``). These are the defaults.

    Forget batches are reshuffled every pass over D_f and keep cycling across epochs (``cycle`` replays the
    first pass's order within an epoch); ``retain_fraction`` < 1 is a budget cap for small runs (a fresh
    subset of D_r every epoch), not the recipe. docs/methods.md lists the sources and deviations.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md): the
    #: published α and up to 100× more weight on the forget term
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (0.01, 0.03), "alpha": (0.9999, 0.999, 0.99)}

    epochs: int = hparam(5, ge=1, help="full passes over the retain data (ng_epochs: 5)")
    lr: float = hparam(0.01, gt=0, help="constant SGD learning rate (ng_lr: 0.01)")
    alpha: float = hparam(0.9999, gt=0, lt=1, help="weight α of the retain CE; the forget CE gets −(1−α) "
                                                    "(ng_alpha)")
    batch_size: int = hparam(128, ge=1, help="retain mini-batch size (retain_bs: 128)")
    forget_batch_size: int = hparam(64, ge=1, help="forget mini-batch size (forget_bs: 64)")
    retain_fraction: float = hparam(1.0, gt=0, le=1, help=RETAIN_FRACTION_HELP)
    momentum: float = hparam(0.0, ge=0, lt=1, help="SGD momentum (reference: none)")
    weight_decay: float = hparam(0.0, ge=0, help="SGD weight decay (reference: 0)")
    augment: bool = hparam(False, help="CIFAR random-crop + flip augmentation (reference: off)")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        optimizer = sgd_optimizer(model.parameters(), lr=self.lr, momentum=self.momentum,
                                  weight_decay=self.weight_decay)
        loop = UnlearnLoop(model, task, optimizer, desc=type(self).name)
        forget = endless_batches(task.forget, self.forget_batch_size, seed=task.seed + 1, device=task.device,
                                 augment=self.augment)
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.epochs):
                model.train()
                retain = retain_for_epoch(task, self.retain_fraction, epoch)
                for (xr, yr), (xf, yf) in zip(epoch_batches(retain, self.batch_size, seed=task.seed, epoch=epoch,
                                                            device=task.device, augment=self.augment), forget):
                    with autocast(task.device):
                        retain_ce = F.cross_entropy(model(xr), yr)
                        forget_ce = F.cross_entropy(model(xf), yf)
                        loss = self.alpha * retain_ce - (1 - self.alpha) * forget_ce
                    loop.step(loss, epoch=epoch, images=len(yr) + len(yf), retain_ce=retain_ce,
                              forget_ce=forget_ce)
                loop.end_epoch(epoch, retain_samples=float(len(retain)))
        return model, loop.log()
