"""Random labelling (RL): train on the forget set with random wrong labels, together with retain data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (RETAIN_FRACTION_HELP, ParameterMask, UnlearnLoop, concat_sets, epoch_batches,
                                         relabelled, retain_for_epoch, seeded_global_rng, sgd_optimizer)
from unlearnbench.training import autocast

LABEL_POOLS = ("other", "any", "retain_classes")


@register_method("random_label")
@dataclass
class RandomLabel(UnlearningMethod):
    """RL: fine-tune on D_f relabelled at random, mixed with D_r, with cross-entropy.

    Golatkar et al. 2020 ("Eternal Sunshine of the Spotless Net", CVPR) and Graves et al. 2021
    ("Amnesiac Machine Learning", AAAI); the RL baseline of Fan et al. 2024 (SalUn, ICLR), whose code
    (github.com/OPTML-Group/Unlearn-Saliency ``Classification/unlearn/RL.py`` L51-59, the CIFAR-100 /
    TinyImageNet branch) draws fresh random labels every epoch, concatenates the relabelled forget set with
    the whole retain set, shuffles, and trains with CE; SGD momentum 0.9, weight decay 5e-4
    (``arg_parser.py`` L71-72), batch 256 (L69), 10 epochs and lr 0.01 (``--unlearn_epochs``/
    ``--unlearn_lr`` defaults L117-121; the paper's RL range is 0.01-0.1), constant lr (``impl.py`` L95-97).
    (Their CIFAR-10 branch, L109-160, instead runs a forget pass then a retain pass each epoch.)

    Random labels (``label_pool``): ``other`` (default) — uniform over all classes except the sample's
    true class, the usual definition of RL/amnesiac unlearning (for class forgetting, other forget classes
    may be drawn); ``any`` — uniform over all classes, exactly as SalUn's code (``randint(0, num_classes)``,
    L53, which hits the true class with probability 1/K); ``retain_classes`` — only classes not being
    forgotten. ``retain_fraction`` < 1 is a budget cap for small runs (a fresh seeded subset of D_r every
    epoch), not the recipe (docs/methods.md).
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md); the lr
    #: axis steps by a factor ≤ 2 between neighbouring points
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (1e-3, 2e-3, 3e-3, 5e-3, 1e-2)}

    epochs: int = hparam(10, ge=1, help="epochs (SalUn code: 10)")
    lr: float = hparam(0.01, gt=0, help="constant SGD learning rate (SalUn code: 0.01)")
    batch_size: int = hparam(256, ge=1, help="mini-batch size of the mixed forget+retain set (reference: 256)")
    retain_fraction: float = hparam(1.0, gt=0, le=1, help=RETAIN_FRACTION_HELP)
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
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.epochs):
                retain = retain_for_epoch(task, self.retain_fraction, epoch)
                mixed = concat_sets(relabelled(task.forget, task, self.label_pool, epoch), retain)
                model.train()
                for x, y in epoch_batches(mixed, self.batch_size, seed=task.seed, epoch=epoch, device=task.device,
                                          augment=self.augment):
                    with autocast(task.device):
                        loss = F.cross_entropy(model(x), y)
                    loop.step(loss, epoch=epoch, images=len(y))
                loop.end_epoch(epoch, retain_samples=float(len(retain)))
        return model, loop.log()
