"""CF-k: catastrophic forgetting of the last k layers (fine-tune them on D_r, the rest frozen)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unlearnbench.methods.base import hparam, register_method
from unlearnbench.methods.eu_k import LastKLayers


@register_method("cf_k")
@dataclass
class CatastrophicForgettingK(LastKLayers):
    """CF-k: fine-tune only the last k layers on the retain set (no re-initialisation), everything else frozen.

    Goel et al. 2022/2023, "Towards Adversarial Evaluations for Inexact Machine Unlearning" (arXiv 2201.06640;
    the CF-k baseline): the last k layers keep training from the original weights on D_r only and forget
    D_f catastrophically; the first L − k layers — and what they encode about D_f — stay the original's.
    Together with EU-k the representation-side baseline: any forgetting is confined to the last k layers.

    Official code (github.com/shash42/Evaluating-Inexact-Unlearning): ``src/methods.py``
    ``cat_forget_finetune`` → ``resetFinalResnet(..., reinit=False)`` (lines 17–47, 59–68) with the layer
    definition of EU-k (convolutions / linear layers counted from the head in reverse registration order,
    BatchNorms in between trained too; :func:`~unlearnbench.methods.eu_k.last_k_layers`) and the same
    ``train_loop`` (``src/learn.py`` lines 136–237): cross-entropy, SGD momentum 0.9, weight decay 5e-5 on the
    trainable parameters, gradient norm clipped at 10, batch 64, augmented retain data,
    ``CosineAnnealingWarmRestarts(T_0=1, T_mult=2, eta_min=0.005)`` from lr 0.1 stepped per epoch (the
    ``maxlr``/``minlr`` of the retrain run), the whole model in train mode (BatchNorm running statistics of
    frozen layers keep updating; ``freeze_bn_stats: true`` keeps them). Defaults of ``src/unlearn.py``
    (lines 71–78): k swept over 1…3; epochs 62 by default, 30 in the CIFAR-10 and 62 in the CIFAR-100 scripts
    (``epochs_ftF = epochs_ft``), i.e. about half of EU-k's budget on CIFAR-10.

    Defaults are the CIFAR-10 recipe with k = 3, the largest value of the reference's default sweep: 30 full
    passes over D_r. ``retain_fraction`` < 1 is a budget cap for small runs (a fresh seeded subset of D_r
    every epoch; set in the config, e.g. the embedded default's 3 epochs — two whole SGDR cycles 1 + 2,
    ending at the low learning rate — of 30 % of D_r). Details: docs/methods.md.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"k": (3, 6, 9)}

    reinit: ClassVar[bool] = False

    epochs: int = hparam(30, ge=1, help="epochs over D_r (reference CIFAR-10 scripts: 30; whole SGDR cycles end "
                                        "at 1, 3, 7, 15, 31)")
