"""Gradient ascent (GA / NegGrad) on the forget set."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import UnlearnLoop, epoch_batches, seeded_global_rng, sgd_optimizer
from unlearnbench.training import autocast


@register_method("gradient_ascent")
@dataclass
class GradientAscent(UnlearningMethod):
    """GA / NegGrad: maximise the cross-entropy of the forget set, i.e. minimise −CE(f_θ(x_f), y_f).

    Thudi et al. 2022, "Unrolling SGD: Understanding Factors Influencing Machine Unlearning" (EuroS&P);
    Golatkar et al. 2020, "Eternal Sunshine of the Spotless Net" (CVPR, the NegGrad baseline). Recipe of the
    SalUn / l1-sparse code (github.com/OPTML-Group/Unlearn-Saliency ``Classification/unlearn/GA.py`` L44-130,
    ``loss = -criterion(output, target)`` L118 on the forget loader, train mode L51): lr 1e-4 for 5 epochs
    (OPTML-Group/Unlearn-Sparse ``README.MD`` L74), batch 256 (``arg_parser.py`` L69), SGD momentum 0.9 and
    weight decay 5e-4 (L71-72), constant lr (``impl.py`` L95-97), crop + flip augmentation. Full passes
    over D_f; the retain set is not used, so nothing bounds the damage to D_r (no retain-accuracy promise).

    In train mode on forget-only batches the BatchNorm running statistics drift to the forget classes' — as
    in the reference code — which by itself changes predictions on every class. Small data: with batch 256
    a forget set of a few hundred images gives one or two steps per epoch; the embedded config sets a
    smaller batch (config.yaml, docs/methods.md).
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md); the lr
    #: axis steps by a factor ≤ 2 between neighbouring points
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (1e-4, 2e-4, 3e-4), "epochs": (3, 5)}

    epochs: int = hparam(5, ge=1, help="passes over the forget set (reference: 5)")
    lr: float = hparam(1e-4, gt=0, help="constant SGD learning rate (reference: 1e-4)")
    batch_size: int = hparam(256, ge=1, help="forget mini-batch size (reference: 256)")
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = hparam(5e-4, ge=0, help="SGD weight decay")
    augment: bool = hparam(True, help="CIFAR random-crop + flip augmentation")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        optimizer = sgd_optimizer(model.parameters(), lr=self.lr, momentum=self.momentum,
                                  weight_decay=self.weight_decay)
        loop = UnlearnLoop(model, task, optimizer, desc=type(self).name)
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.epochs):
                model.train()
                for x, y in epoch_batches(task.forget, self.batch_size, seed=task.seed, epoch=epoch,
                                          device=task.device, augment=self.augment):
                    with autocast(task.device):
                        forget_ce = F.cross_entropy(model(x), y)
                    loop.step(-forget_ce, epoch=epoch, images=len(y), forget_ce=forget_ce)
                loop.end_epoch(epoch)
        return model, loop.log()
