"""Fine-tuning (FT) on the retain set, and the shared loop of fine-tuning-style methods (l1-sparse)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (RETAIN_FRACTION_HELP, UnlearnLoop, epoch_batches, retain_for_epoch,
                                         seeded_global_rng, sgd_optimizer)
from unlearnbench.training import autocast, cosine_lr

SCHEDULES = ("constant", "cosine")


@register_method("finetune")
@dataclass
class Finetune(UnlearningMethod):
    """FT: continue training the original model on the retain set only (catastrophic forgetting of D_f).

    The fine-tuning baseline of Warnecke et al. 2023 ("Machine Unlearning of Features and Labels", NDSS)
    and Golatkar et al. 2020 (CVPR), as run by the SalUn / l1-sparse code bases (Fan et al. 2024, ICLR;
    Jia et al. 2023, NeurIPS; github.com/OPTML-Group/Unlearn-Saliency ``Classification/unlearn/FT.py``
    L44-168 and ``unlearn/impl.py`` L68-114): CE on D_r with SGD momentum 0.9 and weight decay 5e-4
    (``arg_parser.py`` L71-72), lr 0.01 for 10 epochs (Unlearn-Sparse ``README.MD`` L70), batch 256
    (``arg_parser.py`` L69), a constant learning rate (``impl.py`` L95-97: MultiStepLR at epochs 91 and 136,
    never reached in 10 epochs; no warm-up, L76), CIFAR crop + flip augmentation (``dataset.py`` L549-553).
    Every epoch is a full shuffled pass over D_r.

    ``retain_fraction`` < 1 is a budget cap for small runs (a fresh seeded subset of D_r every epoch);
    ``lr_schedule: cosine`` decays the rate per step instead — neither is the published recipe. Details and
    the sources of every default: docs/methods.md.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md); the lr
    #: axis steps by a factor ≤ 2 between neighbouring points
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (0.04, 0.06, 0.1), "epochs": (5, 8)}

    epochs: int = hparam(10, ge=1, help="passes over the retain data (SalUn/l1-sparse: 10)")
    lr: float = hparam(0.01, gt=0, help="SGD learning rate (SalUn/l1-sparse FT: 0.01)")
    lr_schedule: str = hparam("constant", choices=SCHEDULES,
                              help="constant (the reference code) or cosine decay to 0 over all steps")
    batch_size: int = hparam(256, ge=1, help="mini-batch size (reference: 256)")
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = hparam(5e-4, ge=0, help="SGD weight decay")
    retain_fraction: float = hparam(1.0, gt=0, le=1, help=RETAIN_FRACTION_HELP)
    augment: bool = hparam(True, help="CIFAR random-crop + flip augmentation")

    def regulariser(self, model: torch.nn.Module, epoch: int) -> torch.Tensor | None:
        """A term added to the CE loss in ``epoch`` (0-based) by subclasses; None: plain FT."""
        return None

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        optimizer = sgd_optimizer(model.parameters(), lr=self.lr, momentum=self.momentum,
                                  weight_decay=self.weight_decay)
        loop = UnlearnLoop(model, task, optimizer, desc=type(self).name)
        per_epoch = max(1, math.ceil(max(1, round(self.retain_fraction * len(task.retain))) / self.batch_size))
        total, step = self.epochs * per_epoch, 0
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.epochs):
                model.train()
                retain = retain_for_epoch(task, self.retain_fraction, epoch)
                for x, y in epoch_batches(retain, self.batch_size, seed=task.seed, epoch=epoch, device=task.device,
                                          augment=self.augment):
                    if self.lr_schedule == "cosine":
                        for group in optimizer.param_groups:
                            group["lr"] = cosine_lr(step, total, self.lr)
                    with autocast(task.device):
                        logits = model(x)
                        ce = F.cross_entropy(logits, y)
                        extra = self.regulariser(model, epoch)
                        loss = ce if extra is None else ce + extra
                    terms = {"retain_ce": ce} if extra is None else {"retain_ce": ce, "regulariser": extra}
                    loop.step(loss, epoch=epoch, images=len(y), **terms)
                    step += 1
                loop.end_epoch(epoch, retain_samples=float(len(retain)))
        return model, loop.log()
