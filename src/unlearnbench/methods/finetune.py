"""Fine-tuning (FT) on the retain set, and the shared recipe of fine-tuning-style methods."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from unlearnbench._lazy import torch  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import random_subset, seeded_global_rng
from unlearnbench.training import TrainConfig, train_model


@register_method("finetune")
@dataclass
class Finetune(UnlearningMethod):
    """FT: continue training the original model on the retain set only (catastrophic forgetting of D_f).

    The fine-tuning baseline of Warnecke et al. 2023 ("Machine Unlearning of Features and Labels", NDSS)
    and Golatkar et al. 2020 (CVPR), with the recipe of the SalUn / l1-sparse code bases (Fan et al. 2024,
    ICLR; Jia et al. 2023, NeurIPS): SGD, momentum 0.9, weight decay 5e-4, lr 0.01, 10 epochs on D_r.
    Runs through the shared loop :func:`unlearnbench.training.train_model` (CE, CIFAR augmentation).

    Deviations (budget of the embedded default, ≈3.5k retain images on 2 CPU cores): 3 epochs over a
    seeded random ``retain_fraction`` (default 0.2) of D_r instead of 10 epochs over all of D_r, batch 64
    instead of 256, and the loop's cosine learning-rate decay instead of the reference's constant rate.
    Set ``retain_fraction: 1``, ``epochs: 10`` and ``batch_size: 256`` for the published recipe.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (0.04, 0.1), "epochs": (5, 8)}

    epochs: int = hparam(3, ge=1, help="passes over the retain subset (reference: 10 over all of D_r)")
    lr: float = hparam(0.01, gt=0, help="peak SGD learning rate (SalUn/l1-sparse FT: 0.01), cosine-decayed")
    batch_size: int = hparam(64, ge=1, help="mini-batch size (reference: 256)")
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = hparam(5e-4, ge=0, help="SGD weight decay")
    retain_fraction: float = hparam(0.2, gt=0, le=1, help="seeded random fraction of D_r fine-tuned on")
    augment: bool = hparam(True, help="CIFAR random-crop + flip augmentation")

    def extra_loss(self, model: torch.nn.Module) -> Callable[[torch.nn.Module, float], torch.Tensor] | None:
        """A regulariser added to the CE loss by subclasses (``train_model``'s ``extra_loss`` hook)."""
        return None

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        retain = random_subset(task.retain, self.retain_fraction, task.seed, "retain_subset")
        cfg = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum,
                          weight_decay=self.weight_decay, augment=self.augment)
        with seeded_global_rng(task.seed, task.device):
            curve = train_model(model, retain, cfg, seed=task.seed, device=task.device, desc=type(self).name,
                                extra_loss=self.extra_loss(model), monitor=task.monitor)
        steps = self.epochs * math.ceil(len(retain) / self.batch_size)
        return model, {"curve": curve, "steps": steps, "images": self.epochs * len(retain),
                       "retain_used": len(retain)}
